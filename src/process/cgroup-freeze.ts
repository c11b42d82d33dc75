import { type Dirent, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Freezing a daemon's cgroup2 cgroup (`cgroup.freeze`, Linux 5.2; a core file, so the
 * controller-less `unified` hierarchy of a hybrid host has it too) so that the list of
 * its processes holds still: a process forking and exiting in a loop outruns any list
 * read while it runs, but a frozen one cannot fork, and a child born in a freezing
 * cgroup is born frozen. The freeze is done once `cgroup.events` says `frozen 1`: the
 * kernel stops each process on its way back to user space, so one stuck in the kernel
 * (a dead NFS server) keeps it from being done; the wait is bounded for that.
 * https://docs.kernel.org/admin-guide/cgroup-v2.html#core-interface-files
 */

/** The cgroups frozen here and not yet thawed, for `thawAll` at an exit. */
const frozen = new Set<string>();

/**
 * Freezes the cgroup (its descendants too) and resolves once it is frozen: undefined,
 * or why not (it is thawed again then).
 */
export async function freezeCgroup(cgroup: string, timeoutMs: number): Promise<string | undefined> {
  const file = join(cgroup, 'cgroup.freeze');
  try {
    writeFileSync(file, '1');
  } catch (error) {
    return `cannot freeze ${cgroup} (${(error as NodeJS.ErrnoException).code})`;
  }
  frozen.add(cgroup);
  if (await waitFrozen(cgroup, timeoutMs)) return undefined;
  thawCgroup(cgroup);
  return `${cgroup} was not frozen after ${timeoutMs} ms (a process stuck in the kernel)`;
}

/** Thaws a cgroup frozen by `freezeCgroup`; returns why not, if it could not. */
export function thawCgroup(cgroup: string): string | undefined {
  try {
    writeFileSync(join(cgroup, 'cgroup.freeze'), '0');
    frozen.delete(cgroup);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') frozen.delete(cgroup);
    return `cannot thaw ${cgroup} (${code})`;
  }
}

/** The actions under way or waiting on each cgroup (see `whileFrozen`). */
const queues = new Map<string, Promise<unknown>>();

/**
 * Runs `action` while the cgroup is frozen (told whether it is: one that cannot be frozen
 * in `timeoutMs` is acted on as it is), then thaws it. The actions on one cgroup run one
 * after the other, in the order asked: none thaws the cgroup under another.
 */
export function whileFrozen<T>(
  cgroup: string,
  timeoutMs: number,
  action: (frozen: boolean) => Promise<T>,
): Promise<T> {
  const turn = (queues.get(cgroup) ?? Promise.resolve()).then(async () => {
    const refused = await freezeCgroup(cgroup, timeoutMs);
    try {
      return await action(refused === undefined);
    } finally {
      if (refused === undefined) thawCgroup(cgroup);
    }
  });
  const done = turn.then(
    () => undefined,
    () => undefined,
  );
  queues.set(cgroup, done);
  void done.then(() => {
    if (queues.get(cgroup) === done) queues.delete(cgroup);
  });
  return turn;
}

/**
 * Thaws a cgroup that another manager froze and could not thaw (killed meanwhile): read
 * first, so that an unfrozen one (nearly every one) costs no write.
 */
export function thawIfFrozen(cgroup: string): boolean {
  try {
    // cgroup.freeze, not cgroup.events: a freeze asked for and not done yet counts too.
    const file = join(cgroup, 'cgroup.freeze');
    if (readFileSync(file, 'latin1').trim() !== '1') return false;
    writeFileSync(file, '0');
    return true;
  } catch {
    return false; // Gone, or not a cgroup2 directory: nothing is frozen there.
  }
}

/**
 * Thaws every cgroup below `base` (users, daemons, runs) a manager killed meanwhile left
 * frozen; how many. Thawed by the run a manager claims alone, the cgroup of survivors
 * adopted just before the kill (named by the run they were found in, not by the run that
 * adopted them) stayed frozen, deaf to the next manager's SIGTERM until its SIGKILL (an
 * outside review, 68a).
 */
export function thawLeftFrozen(base: string, depth = 3): number {
  let thawed = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(base, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const path = join(base, entry.name);
    if (thawIfFrozen(path)) thawed++;
    if (depth > 1) thawed += thawLeftFrozen(path, depth - 1);
  }
  return thawed;
}

/** Thaws every cgroup still frozen here (the manager leaves while a move is under way). */
export function thawAll(): void {
  for (const cgroup of frozen) thawCgroup(cgroup);
}

/**
 * Resolves true once `cgroup.events` says `frozen 1`, false after `timeoutMs`. The kernel
 * notifies a change of the file as a modification (inotify), so nothing polls; it is read
 * once the watch is set, for a freeze done before.
 */
function waitFrozen(cgroup: string, timeoutMs: number): Promise<boolean> {
  const events = join(cgroup, 'cgroup.events');
  const isFrozen = (): boolean => {
    try {
      return /^frozen 1$/m.test(readFileSync(events, 'latin1'));
    } catch {
      return false;
    }
  };
  return new Promise((resolve) => {
    let watcher: ReturnType<typeof watch> | undefined;
    const done = (result: boolean): void => {
      clearTimeout(timer);
      watcher?.close();
      resolve(result);
    };
    const timer = setTimeout(() => done(isFrozen()), timeoutMs);
    try {
      watcher = watch(events, { persistent: false }, () => {
        if (isFrozen()) done(true);
      });
      watcher.on('error', () => undefined);
    } catch {
      // No watch (inotify exhausted): the time-out's look decides.
    }
    if (isFrozen()) done(true);
  });
}
