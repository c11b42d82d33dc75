import { fstatSync, lstatSync, readlinkSync } from 'node:fs';
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

/** The lock taken (its descriptor), held by this state directory's keeper, or refused (why). */
export type SocketsLock = { readonly fd: number } | 'kept' | { readonly refusal: string };

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
  const holder = managerOrKeeperHolding(path, [process.getuid?.() ?? 0]);
  const own = join(stateDir, 'keeper.sock');
  if (holder?.kind === 'keeper' && holder.socket === own) return 'kept';
  const advice = 'give each config its own socket-dir';
  if (holder?.kind === 'keeper')
    return {
      refusal: `socket-dir ${socketDir} is held by the keeper of state directory ${dirname(holder.socket)} (pid ${holder.pid}), which keeps the daemons and control sockets of a manager that is gone: start a manager with that state-dir to take them over, or ${advice}`,
    };
  if (holder?.kind === 'manager')
    return {
      refusal: `socket-dir ${socketDir} is in use by the manager ${holder.stateDir === undefined ? '' : `of state directory ${holder.stateDir} `}(pid ${holder.pid}): its control sockets are there; ${advice}`,
    };
  return {
    refusal: `socket-dir ${socketDir} is in use: ${path} is locked${holderPid > 0 ? ` (by pid ${holderPid})` : ''}; ${advice}`,
  };
}

/** The file a lock's descriptor holds, for the log (its link read, never followed). */
export function socketsLockHeld(fd: number): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `descriptor ${fd}`;
  }
}
