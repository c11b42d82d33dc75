import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { memoryLimitOf, runMembers } from '../process/cgroup.ts';

/**
 * A user's memory quota lowered below what their running daemons hold. cgroup v1 refuses
 * such a limit (`EBUSY`) when it cannot reclaim down to it (memory in use, no swap), and
 * kept the old one: an outside review's daemon grew to 172 MB under a quota lowered to 64M,
 * for as long as it ran. cgroup2 answers the same write by killing inside the cgroup (its
 * OOM killer); this does what it would: the run of the user's daemon holding the most is
 * killed (SIGKILL), the limit written again once its processes are gone, and so on until
 * it is written. The daemons killed come back by their `restart=`, inside the new quota,
 * as after an OOM kill.
 */

/** A running daemon of the user, as far as the lowering needs it. */
export interface MemoryRun {
  readonly id: string;
  /** Its run's cgroup2 cgroup (every process of the run is in it or below). */
  readonly leaf: string;
  /** Kills the run (SIGKILL, through the keeper). */
  readonly kill: () => Promise<unknown>;
  /**
   * Its processes were moved into the user's memory cgroup when the quota came (what it
   * held then stays charged where it was): killed only after the runs started inside it.
   */
  readonly movedIn: boolean;
  /**
   * Killed before (by an earlier lowering, this manager's or the last one's) and not
   * ended: what it holds is stuck, and it is not killed again (an outside review, 20a:
   * every SIGHUP killed the same stuck runs again, 5 s each).
   */
  readonly killedBefore: boolean;
  /** Still a run to kill: its daemon not stopped (nor restarted) since (a `dmctl stop`). */
  readonly live: () => boolean;
  /** Its processes are still there 5 s after its kill (uninterruptible sleep). */
  readonly stuck: () => void;
}

/** One daemon killed to make room, with what its processes held. */
export interface MemoryKill {
  readonly id: string;
  readonly bytes: number;
}

/** How long the processes of a killed run are waited for (their memory goes with them). */
const GONE_WAIT_MS = 5000;
const PAGE_BYTES = 4096;
/** How long a refusal is let settle before a kill is made for it (a process ending gives memory back). */
const SETTLE_MS = 250;
/** How often a limit refused while the cgroup held less than it is written again. */
const UNDER_RETRIES = 10;

/**
 * Writes `limit` into the user's `memory.limit_in_bytes`, killing the runs of `runs` that
 * hold the most while the kernel refuses it (`told` is called before each kill, to say it).
 * Undefined once written (or when the cgroup is not there: a new one starts empty), else why not.
 */
export async function lowerMemoryLimit(
  file: string,
  limit: number,
  runs: readonly MemoryRun[],
  told: (kill: MemoryKill, heldBytes: number) => void,
  /**
   * Why the lowering is no longer wanted, if it is not: the manager stops or hands over,
   * or the quota changed since. Asked before each kill and while a killed run is waited
   * for: a SIGTERM waited 5 s per daemon that SIGKILL could not end, and the kills went
   * on after it, and after the quota was raised back (an outside review, 19b).
   */
  calledOff: () => string | undefined = () => undefined,
  /**
   * The cgroups of runs stopped before whose processes SIGKILL has not ended (`unkilled`):
   * what they hold is stuck too. Left out, a user's healthy daemons were all killed for a
   * limit that the stopped runs' stuck processes alone held more than (an outside review, 20a).
   */
  stuckLeaves: readonly string[] = [],
  /**
   * Whether a stop of the user's is under way (its run's cgroup has a process, or its
   * daemon is not yet seen stopped): while one is, no daemon is killed. Its end gives its
   * memory back, and the lowering is tried again then; what a dying process holds cannot
   * be measured (its pages are still charged once its own count is 0, and its cgroup may
   * show it gone before they are given back), and healthy daemons were killed for memory
   * a stop SIGKILLed a moment before still held (full runs of the tests).
   */
  stopsUnderWay: () => boolean = () => false,
): Promise<string | undefined> {
  const left = runs.filter((run) => !run.killedBefore);
  // What the killed runs whose processes SIGKILL did not end (uninterruptible sleep, on
  // a hung file system) hold: charged for as long as they stay, whatever else is killed.
  let stuck = 0;
  for (const leaf of [
    ...stuckLeaves,
    ...runs.filter((run) => run.killedBefore).map((run) => run.leaf),
  ])
    stuck += residentBytes(leaf);
  let underAfterRefusal = 0;
  let settled = false;
  for (;;) {
    // Not lowered at all while a stop of theirs is under way, even where it would be
    // taken: what the stopping run holds goes when it ends, and a daemon of theirs that
    // grows meanwhile (a restart's new run) was killed by the kernel's OOM killer for it,
    // again and again (an outside review, 45a, F3). Tried again when the stop ends.
    if (stopsUnderWay() && limit < memoryLimitOf(file))
      return `not lowered to ${mebibytes(limit)} yet: a stop of theirs is under way (what its run holds goes when it ends); no daemon killed, and the limit is tried again when it ends`;
    const refused = writeLimit(file, limit);
    if (refused !== 'EBUSY') return refused;
    const off = calledOff();
    if (off !== undefined) return `not lowered to ${mebibytes(limit)}: ${off}`;
    // No kill that cannot help: what no process holds (shared memory, tmpfs files) stays
    // charged whatever is killed (an outside review saw every daemon of a user killed for
    // 150 MB they had written into /dev/shm, and the limit still refused).
    const stat = memoryStat(file);
    const excess = stat.usage - limit;
    // Refused while memory was being given back (a process ending between the write and
    // this look): under the limit now, so written again, never a kill for it (a full run
    // of the tests: a healthy daemon killed when the user held 48 MiB of 64).
    if (excess <= 0) {
      if (++underAfterRefusal > UNDER_RETRIES)
        return `cannot write ${file} (EBUSY): the kernel refused it ${UNDER_RETRIES} times while their memory cgroup held less (${mebibytes(stat.usage)}); none of their daemons was killed; the limit stays as it was`;
      await delay(20);
      continue;
    }
    if (stat.rss < excess)
      return `cannot write ${file} (EBUSY): their memory cgroup holds ${mebibytes(stat.usage)}, of which only ${mebibytes(stat.rss)} is their processes' own (${mebibytes(stat.shmem)} shared memory or tmpfs files): killing their daemons cannot bring it under ${mebibytes(limit)}, and none was killed; the limit stays as it was`;
    if (stat.rss - stuck < excess)
      return `cannot write ${file} (EBUSY): their memory cgroup holds ${mebibytes(stat.usage)}, ${mebibytes(stuck)} of it by processes being stopped or that SIGKILL has not ended (uninterruptible sleep, as on a hung file system): killing more of their daemons cannot bring it under ${mebibytes(limit)}; the limit stays as it was`;
    if (stopsUnderWay())
      return `cannot write ${file} (EBUSY): their memory cgroup holds ${mebibytes(stat.usage)}, ${mebibytes(stuck)} of it by processes being stopped or that SIGKILL has not ended: no daemon killed while a stop of theirs is under way; the limit is tried again when it ends`;
    // Nor a kill for memory the stuck processes' end gives back: what else is held fits
    // (outside review 22b: healthy daemons killed for it, then the limit written anyway
    // once the stuck ones went; or, waiting for the last of them, never written).
    if (stuck > 0 && stat.usage - stuck <= limit)
      return `cannot write ${file} (EBUSY): their memory cgroup holds ${mebibytes(stat.usage)}, ${mebibytes(stuck)} of it by processes being stopped or that SIGKILL has not ended (uninterruptible sleep, as on a hung file system), and the rest fits: no daemon killed; the limit stays as it was until they are gone`;
    const largest = left
      .filter((run) => run.live())
      .map((run) => ({ run, bytes: residentBytes(run.leaf) }))
      .filter(({ bytes }) => bytes > 0)
      // The runs started inside the cgroup first: their memory is charged there.
      .sort((a, b) => Number(a.run.movedIn) - Number(b.run.movedIn) || b.bytes - a.bytes)[0];
    if (largest === undefined)
      return `cannot write ${file} (EBUSY): the kernel cannot reclaim down to it, and none of the user's running daemons left to kill holds memory`;
    // Looked at again a moment later before any kill: a process of theirs ending at this
    // instant (its own exit, a `dmctl kill`) still holds pages it gives back as it goes,
    // and a healthy daemon was killed for them (an outside review, 45a, F4: 4 of 18).
    if (!settled) {
      settled = true;
      await delay(SETTLE_MS);
      continue;
    }
    settled = false;
    left.splice(left.indexOf(largest.run), 1);
    told({ id: largest.run.id, bytes: largest.bytes }, stat.usage);
    await largest.run.kill();
    const until = Date.now() + GONE_WAIT_MS;
    while (runMembers(largest.run.leaf).length > 0 && Date.now() < until) {
      if (calledOff() !== undefined) break;
      await delay(20);
    }
    if (runMembers(largest.run.leaf).length > 0) {
      stuck += residentBytes(largest.run.leaf);
      largest.run.stuck();
    }
  }
}

/** A size as the log says it: `64 MiB`. */
export function mebibytes(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}

/** undefined once written or where there is no such cgroup; else the error's code. */
function writeLimit(file: string, limit: number): string | undefined {
  try {
    writeFileSync(file, String(limit));
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return code === 'ENOENT'
      ? undefined
      : code === 'EBUSY'
        ? 'EBUSY'
        : `cannot write ${file} (${code})`;
  }
}

/** What the run's processes hold in memory now (their resident pages). */
function residentBytes(leaf: string): number {
  let bytes = 0;
  for (const pid of runMembers(leaf)) {
    try {
      bytes += Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1] ?? 0) * PAGE_BYTES;
    } catch {
      // Gone meanwhile.
    }
  }
  return bytes;
}

/** What the user's memory cgroup holds: in all, of its processes (anon), of shared memory. */
function memoryStat(limitFile: string): { usage: number; rss: number; shmem: number } {
  const read = (name: string): string => {
    try {
      return readFileSync(limitFile.replace(/memory\.limit_in_bytes$/, name), 'latin1');
    } catch {
      return '';
    }
  };
  const stat = read('memory.stat');
  const field = (name: string): number =>
    Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(stat)?.[1] ?? 0);
  return {
    usage: Number(read('memory.usage_in_bytes').trim()),
    rss: field('total_rss'),
    shmem: field('total_shmem'),
  };
}
