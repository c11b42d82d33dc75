import { fstatSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { managerOrKeeperHolding } from '../process/lock-holder.ts';
import type { Native } from '../process/native.ts';

/**
 * One manager per `socket-dir`, as per `state-dir`: a manager of another config given the
 * same socket-dir replaced the running one's control sockets, and once it stopped nobody's
 * dmctl reached the first (outside reviews 43b, F3; 44a, F3); a `state-dir` changed and
 * changed back while no manager ran left the other keeper's sockets in the first one's
 * place (43b, F4). The lock is a flock on `sockets.lock` there, held by the manager and by
 * its keeper (which keeps the control sockets across an upgrade or a crash of the
 * manager), so a keeper left with no manager keeps its socket-dir as it keeps its daemons.
 */

/** The name under which the keeper holds the lock. */
export const SOCKETS_LOCK = 'sockets-lock';

/**
 * The lock taken (its descriptor), held by this state directory's keeper, or refused (why;
 * `passing`: its holder is on its way out, and the lock free within moments).
 */
export type SocketsLock =
  | { readonly fd: number }
  | 'kept'
  | { readonly refusal: string; readonly passing?: true };

/** The lock's file in a socket-dir. */
export function socketsLockPath(socketDir: string): string {
  return join(socketDir, 'sockets.lock');
}

/**
 * Whether `fd` holds the lock of this socket-dir: one the keeper kept may be the lock of
 * the socket-dir before (changed while no manager ran): held, it kept that directory from
 * another config, and this one's free for another manager to take its sockets (an
 * outside review, 45a, F1, F2).
 */
export function locksSocketDir(fd: number, socketDir: string): boolean {
  try {
    const held = fstatSync(fd);
    const file = lstatSync(socketsLockPath(socketDir));
    return held.dev === file.dev && held.ino === file.ino;
  } catch {
    return false;
  }
}

export function takeSocketsLock(native: Native, socketDir: string, stateDir: string): SocketsLock {
  const path = socketsLockPath(socketDir);
  let holderPid = 0;
  try {
    return { fd: native.lockFile(path) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EAGAIN')
      return { refusal: `cannot lock ${path}: ${(error as Error).message}` };
    holderPid = (error as { holder?: number }).holder ?? 0;
  }
  // A manager of this state directory cannot run: this one holds its lock.
  const held = socketsLockHolder(socketDir, stateDir, false);
  if (held === 'own') return 'kept';
  // A keeper killed as this manager starts: refused for it, the manager named it the keeper
  // "of state directory ." (its command line gone) and did not start (an outside review,
  // 72a, F5: 2 of 25 starts 145-153 ms after a kill -9). Or a holder no look could name
  // (it let go between the lock and the look): refused "in use" with no holder, its
  // daemons left to nobody (73a, F4, 1 of 41, with cgroups = no). Both are tried again.
  const passing = holderPid > 0 ? leaving(holderPid) : held === undefined;
  return {
    refusal:
      held ??
      `socket-dir ${socketDir} is in use: ${path} is locked${holderPid > 0 ? ` (by pid ${holderPid})` : ''}; ${ADVICE}`,
    ...(passing ? { passing: true as const } : {}),
  };
}

/** Whether a process is gone or on its way out (its command line is empty as it exits). */
function leaving(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`).length === 0;
  } catch {
    return true;
  }
}

const ADVICE = 'give each config its own socket-dir';

/**
 * Who holds the lock of `socketDir`, as /proc/locks says (no lock taken): `own`, the
 * keeper of `stateDir` (or its manager, if `ownManager`), or one of `ownPids` (the
 * running manager and its keeper, whatever their state directory is now); why a manager of `stateDir` is
 * refused it, if another one holds it; nothing if no manager or keeper does.
 * `daemon-manager --check` said "configuration OK" of a config whose manager would be
 * refused (an outside review, 45a, F5).
 */
export function socketsLockHolder(
  socketDir: string,
  stateDir: string,
  ownManager: boolean,
  ownPids: readonly number[] = [],
): 'own' | string | undefined {
  const holder = managerOrKeeperHolding(socketsLockPath(socketDir), [process.getuid?.() ?? 0]);
  if (holder === undefined) return undefined;
  if (ownPids.includes(holder.pid)) return 'own';
  if (holder.kind === 'keeper' && holder.socket === '')
    return `socket-dir ${socketDir} is held by a keeper of daemons that is exiting (pid ${holder.pid}); ${ADVICE}`;
  if (holder.kind === 'keeper')
    return holder.socket === join(stateDir, 'keeper.sock')
      ? 'own'
      : `socket-dir ${socketDir} is held by the keeper of state directory ${dirname(holder.socket)} (pid ${holder.pid}), which keeps the daemons and control sockets of a manager that is gone: start a manager with that state-dir to take them over, or ${ADVICE}`;
  return ownManager && holder.stateDir === stateDir
    ? 'own'
    : `socket-dir ${socketDir} is in use by the manager ${holder.stateDir === undefined ? '' : `of state directory ${holder.stateDir} `}(pid ${holder.pid}): its control sockets are there; ${ADVICE}`;
}

/** The file a lock's descriptor holds, for the log (its link read, never followed). */
export function socketsLockHeld(fd: number): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `descriptor ${fd}`;
  }
}
