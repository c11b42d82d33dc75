import { type ChildProcess, spawn } from 'node:child_process';

/** Everything needed to start one daemon process, decided before the fork. */
export interface LaunchPlan {
  readonly start: string;
  readonly dir: string;
  readonly uid: number;
  readonly gid: number;
  readonly env: Readonly<Record<string, string>>;
  /** Where stdout and stderr go: one pipe to the manager (for the log), or /dev/null. */
  readonly output: 'pipe' | 'ignore';
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

// Enters the directory as the daemon's user (never as root), then runs the start line
// exactly as the original did: one line fed to /bin/sh -c. Standard error joins standard
// output first, so the log keeps the order in which the daemon wrote its lines.
const ENTER_AND_RUN = 'exec 2>&1; cd -- "$1" || exit 126; exec /bin/sh -c "$2"';

/**
 * The command that becomes the daemon. As root, setpriv from util-linux switches to the
 * run-as user with that user's supplementary groups: Node's own uid/gid options would
 * drop them (libuv calls setgroups with an empty list), and the daemon could not read
 * group-shared files such as a www-data socket directory. Capabilities are cleared from
 * the inheritable and bounding sets so no setuid-root program can hand them back.
 */
export function commandFor(plan: LaunchPlan, managerIsRoot: boolean): string[] {
  const shell = ['/bin/sh', '-c', ENTER_AND_RUN, 'daemon-manager', plan.dir, plan.start];
  if (!managerIsRoot || plan.uid === 0) return shell;
  return [
    'setpriv',
    `--reuid=${plan.uid}`,
    `--regid=${plan.gid}`,
    '--init-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--',
    ...shell,
  ];
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
      env: plan.env,
      detached: true,
      stdio: ['ignore', plan.output, 'ignore'],
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
  child.once('exit', (code, signal) => report({ code, signal }));
  child.once('error', (error) => report({ code: null, signal: null, error: error.message }));
  return { ok: true, pid: child.pid, child };
}
