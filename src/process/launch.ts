import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { ResourceLimits } from '../config/limits.ts';

/** Everything needed to start one daemon process, decided before the fork. */
export interface LaunchPlan {
  readonly start: string;
  readonly dir: string;
  readonly uid: number;
  readonly gid: number;
  readonly env: Readonly<Record<string, string>>;
  /** Where stdout and stderr go: one pipe to the manager (for the log), or /dev/null. */
  readonly output: 'pipe' | 'ignore';
  /** The daemon's cgroup directory, if cgroups are used (see cgroup.ts). */
  readonly cgroup: string | undefined;
  /** Applied as both soft and hard limits, so the daemon cannot raise them back. */
  readonly limits: ResourceLimits;
}

/** How a daemon's main process ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  readonly error?: string;
}

export type Launched =
  | { readonly ok: true; readonly pid: number; readonly child: ChildProcess }
  | { readonly ok: false; readonly error: string };

// Runs as root with a fixed, minimal environment: joins standard error to standard output
// (so what setpriv or prlimit say reaches the log), then becomes the rest of its arguments.
// With a cgroup (its cgroup.procs as $1), the shell first moves itself there: so every
// process of the daemon is born inside it, with no window for a fork to escape.
const JOIN_OUTPUT = 'exec 2>&1; [ -z "$1" ] || echo $$ > "$1" || exit 125; shift; exec "$@"';

// Runs as the daemon's user: takes the daemon's environment from descriptor 3 (one
// NAME=value per line; config values never hold a newline), closes it, enters the
// directory, then runs the start line exactly as the original did: fed to /bin/sh -c.
const ENTER_AND_RUN =
  'while IFS= read -r entry; do export "$entry"; done <&3; exec 3<&-; cd -- "$1" || exit 126; exec /bin/sh -c "$2"';

// What the programs the manager runs as root see: nothing a user wrote. The daemon's own
// environment travels on descriptor 3 and is set only after the switch to its user.
const ROOT_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/**
 * The command that becomes the daemon. Every program in it is named by absolute path and
 * started with ROOT_ENV: libuv looks a bare program name up in the *child's* PATH, and
 * the dynamic linker of a root process obeys LD_PRELOAD, so handing a user's `export`
 * lines to a program run as root would let that user choose code to run as root.
 *
 * As root, setpriv from util-linux switches to the run-as user with that user's
 * supplementary groups (Node's uid/gid options would drop them: libuv calls setgroups
 * with an empty list), sets no_new_privs (setuid and file capabilities give nothing) and
 * clears every capability set, bounding set included. A daemon that runs as root keeps
 * root's powers: the admin granted exactly that. prlimit then sets the limits as the
 * daemon's user, so a limit above what the manager itself has is refused by the kernel.
 */
export function commandFor(plan: LaunchPlan, managerIsRoot: boolean): string[] {
  const shell = ['/bin/sh', '-c', ENTER_AND_RUN, 'daemon-manager', plan.dir, plan.start];
  const dropPrivileges =
    managerIsRoot && plan.uid !== 0
      ? [
          systemProgram('setpriv'),
          `--reuid=${plan.uid}`,
          `--regid=${plan.gid}`,
          '--init-groups',
          '--no-new-privs',
          '--inh-caps=-all',
          '--ambient-caps=-all',
          '--bounding-set=-all',
          '--',
        ]
      : [];
  const limits = Object.entries(plan.limits)
    .filter(([, value]) => value !== undefined)
    .map(([resource, value]) => `--${resource}=${value}`);
  const applyLimits = limits.length > 0 ? [systemProgram('prlimit'), ...limits, '--'] : [];
  return [
    '/bin/sh',
    '-c',
    JOIN_OUTPUT,
    'daemon-manager',
    plan.cgroup === undefined ? '' : `${plan.cgroup}/cgroup.procs`,
    ...dropPrivileges,
    ...applyLimits,
    ...shell,
  ];
}

/** The environment as the lines ENTER_AND_RUN reads. */
export function environmentLines(env: Readonly<Record<string, string>>): string {
  return Object.entries(env)
    .filter(([name, value]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !/[\n\0]/.test(value))
    .map(([name, value]) => `${name}=${value}\n`)
    .join('');
}

// setpriv and prlimit are in util-linux, at /usr/bin on current distributions.
function systemProgram(name: string): string {
  const found = ['/usr/bin', '/bin', '/usr/sbin', '/sbin']
    .map((dir) => `${dir}/${name}`)
    .find((path) => existsSync(path));
  return found ?? `/usr/bin/${name}`;
}

/**
 * Starts a daemon in a new session and process group (so that stop can signal the
 * group, and the daemon never gets the manager's terminal), stdin from /dev/null.
 * `onExit` is called exactly once, whether the process ran or could not start.
 */
export function launch(plan: LaunchPlan, onExit: (exit: Exit) => void): Launched {
  const [file, ...args] = commandFor(plan, process.geteuid?.() === 0);
  let child: ChildProcess;
  try {
    child = spawn(file ?? '/bin/sh', args, {
      cwd: '/',
      env: ROOT_ENV,
      detached: true,
      stdio: ['ignore', plan.output, 'ignore', 'pipe'],
    });
  } catch (error) {
    // spawn throws for some errnos (EMFILE, EAGAIN...) instead of emitting 'error'.
    return { ok: false, error: `cannot start process: ${(error as Error).message}` };
  }
  if (child.pid === undefined) {
    // The exec failed (ENOENT, EACCES...): Node reports it as an 'error' event next tick.
    child.once('error', () => {});
    return { ok: false, error: `cannot execute ${file}` };
  }
  let reported = false;
  const report = (exit: Exit): void => {
    if (reported) return;
    reported = true;
    onExit(exit);
  };
  sendEnvironment(child.stdio[3] as Writable | null, plan.env);
  child.once('exit', (code, signal) => report({ code, signal }));
  child.once('error', (error) => report({ code: null, signal: null, error: error.message }));
  return { ok: true, pid: child.pid, child };
}

// The environment is small (at most 128 KiB of exports), so it is written at once; a
// daemon that dies before reading it makes the write fail with EPIPE, which is harmless.
function sendEnvironment(pipe: Writable | null, env: Readonly<Record<string, string>>): void {
  if (pipe === null) return;
  pipe.on('error', () => {});
  pipe.end(environmentLines(env));
}
