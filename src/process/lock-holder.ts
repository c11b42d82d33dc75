import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The pid a held lock names (the process that took it), if it still is a manager that
 * could hold that lock: its command line runs `daemon-manager.mjs`, and its real uid is
 * one of `uids` (root's, or the user's own for a personal manager's). Otherwise
 * undefined: the taker may be gone (an upgrade, a kill -9 while its keeper holds on) and
 * the pid reused, by another user's process that calls itself daemon-manager (an outside
 * review forked 11,000 times to get the pid, and alice's refusal named it).
 */
export function managerHolding(
  pid: number | undefined,
  uids: readonly number[],
): number | undefined {
  if (!pid) return undefined;
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    return command.includes('daemon-manager.mjs') && uids.includes(realUid(pid)) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Keepers of `socketPath` other than `own`, of this uid: one that lost its socket file
 * (the state directory deleted under its manager) still holds its daemons and their
 * users' locks, and no manager can reach it. A keeper's children not yet become their
 * daemons (forked, before their exec) have its command line: they are not keepers (an
 * outside review, 30a, F1: a daemon's process named as a keeper to kill -9, after an
 * upgrade with a keeper stopped a moment).
 */
export function strayKeepers(socketPath: string, own: number, uid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === own) continue;
    try {
      const words = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      if (!words[0]?.endsWith('dm-keeper') || words[1] !== socketPath) continue;
      if (realUid(pid) === uid) parents.set(pid, parentOf(pid));
    } catch {
      // Gone meanwhile.
    }
  }
  return [...parents]
    .filter(([, parent]) => parent !== own && !parents.has(parent))
    .map(([pid]) => pid);
}

/**
 * The keeper of uid `uids` serving another socket than `own` (another state directory)
 * that holds `file` open, as pid and socket: a user's lock no live manager holds is held
 * by the keeper of a manager of another config, or of one whose `state-dir` was changed
 * while it was down (an outside review, 36a: every user "run by another manager", the
 * old keeper not named). A keeper is a process running `exe` (the built dm-keeper, its
 * real path), not one that only calls itself so. Its descriptors are read as links
 * (`/proc/PID/fd`), never followed: `file` is on a user's file system, which may not answer.
 */
export function keeperHolding(
  file: string,
  own: string,
  uids: readonly number[],
  exe: string,
): { pid: number; socket: string } | undefined {
  let socket = '';
  const pid = holderOf(file, uids, (pid) => {
    socket = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[1] ?? own;
    return socket !== own && readlinkSync(`/proc/${pid}/exe`) === exe;
  });
  return pid === undefined ? undefined : { pid, socket };
}

/**
 * The live manager of `stateDir` (real uid one of `uids`): the process running
 * `daemon-manager.mjs` that holds its `manager.lock` open. The pid that took that lock
 * (in /proc/locks) is gone after an upgrade or a restart after a kill -9, while its
 * successor holds it (an outside review, 43b, F5: a live manager said gone). Its
 * descriptors are read as links, never followed.
 */
export function managerOf(stateDir: string, uids: readonly number[]): number | undefined {
  return holderOf(join(stateDir, 'manager.lock'), uids, (pid) =>
    readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('daemon-manager.mjs'),
  );
}

/** Who holds a lock file open: a manager (with its state directory) or a keeper (its socket). */
export type LockHolder =
  | { readonly kind: 'manager'; readonly pid: number; readonly stateDir: string | undefined }
  | { readonly kind: 'keeper'; readonly pid: number; readonly socket: string };

/**
 * The manager or keeper of uid one of `uids` that holds `file` open, by its command line
 * (a file only those uids can open: root's, mode 0600); a manager's state directory is
 * the one whose `manager.lock` it holds. Descriptors are read as links, never followed.
 */
export function managerOrKeeperHolding(
  file: string,
  uids: readonly number[],
): LockHolder | undefined {
  const words = (pid: number): string[] =>
    readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
  const isManager = (pid: number): boolean =>
    words(pid).some((word) => word.endsWith('daemon-manager.mjs'));
  const keeper = holderOf(file, uids, (pid) => (words(pid)[0] ?? '').endsWith('dm-keeper'));
  // A manager first: it holds the lock with its keeper.
  const pid = holderOf(file, uids, isManager);
  try {
    if (pid === undefined)
      return keeper === undefined
        ? undefined
        : { kind: 'keeper', pid: keeper, socket: words(keeper)[1] ?? '' };
    const lock = readdirSync(`/proc/${pid}/fd`)
      .map((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return '';
        }
      })
      .find((target) => target.endsWith('/manager.lock'));
    return { kind: 'manager', pid, stateDir: lock === undefined ? undefined : dirname(lock) };
  } catch {
    // Gone meanwhile.
    return undefined;
  }
}

/**
 * The first process of real uid one of `uids` that `is` (it may throw: the process gone)
 * and that holds `file` open, by its descriptors read as links, never followed.
 */
function holderOf(
  file: string,
  uids: readonly number[],
  is: (pid: number) => boolean,
): number | undefined {
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      if (!is(pid) || !uids.includes(realUid(pid))) continue;
      for (const fd of readdirSync(`/proc/${pid}/fd`))
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === file) return pid;
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

/** A process's parent pid (NaN if unknown); throws if it is gone. */
function parentOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  return Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
}

/** A process's real uid (NaN if unknown); throws if it is gone. */
function realUid(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
}
