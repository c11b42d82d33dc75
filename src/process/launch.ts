import { type ChildProcess, spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import type { ResourceLimits } from '../config/limits.ts';
import { findBuilt } from './native.ts';

/** Everything needed to start one daemon process, decided before the fork. */
export interface LaunchPlan {
  readonly start: string;
  readonly dir: string;
  readonly uid: number;
  readonly gid: number;
  /** The run-as user's supplementary groups (as initgroups(3) would set them). */
  readonly groups: readonly number[];
  readonly env: Readonly<Record<string, string>>;
  /** Where stdout and stderr go: one pipe to the manager (for the log), or /dev/null. */
  readonly output: 'pipe' | 'ignore';
  /** The daemon's cgroup directory, if cgroups are used (see cgroup.ts). */
  readonly cgroup: string | undefined;
  /** Applied as both soft and hard limits, so the daemon cannot raise them back. */
  readonly limits: ResourceLimits;
  /** The daemon's file-mode creation mask (not the manager's 077). */
  readonly umask: number;
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

// What the launcher sees while it is root: nothing a user wrote. The daemon's own
// environment travels on descriptor 3 and is used only for the final exec, after the
// switch to its user.
const ROOT_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/**
 * The command that becomes the daemon: native/dm_launch.c, which joins the daemon's
 * cgroup, switches to the run-as user with its supplementary groups (Node's own uid/gid
 * options would drop them: libuv calls setgroups with an empty list), clears every
 * capability set and sets no_new_privs, applies the limits as that user (so they can
 * only lower what the manager has), enters `dir` as that user and runs the start line
 * with /bin/sh -c. One exec where a shell, setpriv, prlimit and a shell again took
 * four: respawns are that much faster. It is named by absolute path and started with
 * ROOT_ENV: libuv looks a bare name up in the child's PATH, and the dynamic linker of a
 * root process obeys LD_PRELOAD, so a user's `export` lines never reach a root program.
 * A daemon that runs as root (root's own, or granted by root) keeps root's powers.
 */
export function commandFor(plan: LaunchPlan, managerIsRoot: boolean, launcher: string): string[] {
  const switchUser = managerIsRoot && plan.uid !== 0;
  const limits = Object.entries(plan.limits)
    .filter(([, value]) => value !== undefined)
    .map(([resource, value]) => `${resource}=${value}`)
    .join(',');
  return [
    launcher,
    plan.cgroup === undefined ? '' : `${plan.cgroup}/cgroup.procs`,
    switchUser ? String(plan.uid) : '-',
    switchUser ? String(plan.gid) : '-',
    switchUser ? plan.groups.join(',') : '',
    limits,
    plan.umask.toString(8).padStart(3, '0'),
    plan.dir,
    plan.start,
  ];
}

/** The environment as the lines the launcher reads on descriptor 3; an empty line ends it. */
export function environmentLines(env: Readonly<Record<string, string>>): string {
  const lines = Object.entries(env)
    .filter(([name, value]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !/[\n\0]/.test(value))
    .map(([name, value]) => `${name}=${value}\n`)
    .join('');
  return `${lines}\n`;
}

/** The launcher's path, found once. */
let launcher: string | undefined;

/**
 * Starts a daemon in a new session and process group (so that stop can signal the
 * group, and the daemon never gets the manager's terminal), stdin from /dev/null.
 * `onExit` is called exactly once if the process started. When it could not start,
 * `onSpawnError` later gets the reason (Node reports EMFILE, ENOENT... a tick later).
 */
export function launch(
  plan: LaunchPlan,
  onExit: (exit: Exit) => void,
  onSpawnError: (message: string) => void = () => {},
): Launched {
  launcher ??= findBuilt('dm-launch');
  const [file, ...args] = commandFor(plan, process.geteuid?.() === 0, launcher);
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
    child.once('error', (error) => onSpawnError(error.message));
    return { ok: false, error: `could not start ${file} (the reason follows)` };
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
