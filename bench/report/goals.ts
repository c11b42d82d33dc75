import { baselineFigures, fleetFigures, logFigures, perDaemonKb } from './figures.ts';
import type { Results } from './results.ts';
import { median } from './stats.ts';

/** One goal of the performance issue judged against one run's figures. */
export interface Verdict {
  readonly goal: string;
  readonly measured: string;
  /** undefined when this run did not measure what the goal needs. */
  readonly met: boolean | undefined;
}

const DM = 'daemon-manager';
const ORIGINAL = 'original';
const RUNIT = 'runit';

/**
 * "Today's" manager CPU per MB of logs, which goal 4 halves: measured by the quick run of
 * 2026-12-02 at commit e9cba94 (before the process layer's rewrite), median of 3 runs.
 */
export const LOG_CPU_BEFORE = { msPerMb: 5.14, commit: 'e9cba94' } as const;

/** Memory goals, in KiB. */
const PRIVATE_DIRTY_AT_1000_KB = 8 * 1024;
const PER_DAEMON_KB = 4;
const RSS_OVER_NODE_KB = 6 * 1024;
/** "Flat": the cost per daemon at 10,000 at most this much above the cost at smaller N. */
const FLAT = 1.25;

export function judgeGoals(results: Results): Verdict[] {
  const verdicts: Verdict[] = [];
  const add = (goal: string, measured: string, met: boolean | undefined): void => {
    verdicts.push({ goal, measured, met });
  };
  const counts = results.settings.counts;
  const has = (peer: string, count: number): boolean =>
    results.peers.includes(peer) && fleetFigures(results, peer, count).runs > 0;
  const at = (peer: string, count: number) => fleetFigures(results, peer, count);
  const x = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
  const mib = (kb: number): string => `${(kb / 1024).toFixed(1)} MiB`;
  const ms = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(1)} ms` : '–');

  /** A ratio goal at several N: met if measured at every N and within `limit` at each. */
  const ratioGoal = (
    goal: string,
    peer: string,
    wanted: readonly number[],
    pick: (count: number) => [number, number],
    limit: (count: number) => number,
    extra = '',
  ): void => {
    const measured = wanted.filter((count) => has(DM, count) && has(peer, count));
    const parts = measured.map((count) => {
      const [mine, theirs] = pick(count);
      return `N=${count}: ${ms(mine)} vs ${ms(theirs)} (${x(mine, theirs)})`;
    });
    const missing = wanted.filter((count) => !measured.includes(count));
    if (missing.length > 0) parts.push(`N=${missing.join(', ')} not measured`);
    const within = measured.every((count) => {
      const [mine, theirs] = pick(count);
      return mine / theirs <= limit(count);
    });
    add(
      goal,
      parts.join('; ') + extra,
      !within ? false : missing.length > 0 ? undefined : measured.length > 0,
    );
  };

  const cgroup = counts.map((count) => at(DM, count).daemonCgroup).find((c) => c !== undefined);
  const cgroupNote =
    cgroup === undefined ? '' : cgroup === '' ? '; cgroups: OFF' : `; daemons in ${cgroup}`;
  for (const peer of [ORIGINAL, RUNIT])
    ratioGoal(
      `1. respawn no slower than ${peer} (ratio ≤ 1.0 at N = 100 and 1,000), cgroups on`,
      peer,
      [100, 1000],
      (count) => [at(DM, count).respawnMs, at(peer, count).respawnMs],
      () => 1,
      cgroupNote,
    );

  const floor = median(results.nodeFloorMs);
  const clientFloor = median(results.nodeClientFloorMs ?? []);
  ratioGoal(
    "2. `dmctl status` within 3× of runit's `sv status` at N = 100 and 2× at N = 1,000",
    RUNIT,
    [100, 1000],
    (count) => [at(DM, count).statusMs, at(RUNIT, count).statusMs],
    (count) => (count === 100 ? 3 : 2),
    `; Node floors here: \`node -e 0\` ${ms(floor)}, a Node client reading one line from a unix socket ${ms(clientFloor)}`,
  );

  if (has(DM, 1000)) {
    const pd = at(DM, 1000).privateDirtyKb;
    add('3. private dirty ≤ 8 MiB at N = 1,000', mib(pd), pd <= PRIVATE_DIRTY_AT_1000_KB);
  } else add('3. private dirty ≤ 8 MiB at N = 1,000', 'N=1000 not measured', undefined);
  const perDaemon = perDaemonKb(results, DM, 'privateDirtyKb');
  add(
    '3. each extra daemon ≤ 4 KiB (private dirty, slope over N)',
    `${perDaemon.toFixed(1)} KiB (N = ${counts.join(', ')})`,
    perDaemon <= PER_DAEMON_KB,
  );
  const base = baselineFigures(results);
  const rssCounts = [100, 1000].filter((count) => has(DM, count));
  const over = rssCounts.map((count) => at(DM, count).rssKb - base.rssKb);
  add(
    '3. RSS ≤ 6 MiB above a bare Node 24 with a unix socket server',
    `${rssCounts.map((count, i) => `N=${count}: +${mib(over[i] ?? Number.NaN)}`).join(', ')} (bare Node ${mib(base.rssKb)})`,
    rssCounts.length === 0 ? undefined : over.every((kb) => kb <= RSS_OVER_NODE_KB),
  );

  const logs = logFigures(results, DM);
  const theirs = logFigures(results, ORIGINAL);
  add(
    "4. logs: at least the original's throughput",
    theirs.runs === 0
      ? 'the original not measured'
      : `${logs.mbPerS.toFixed(0)} vs ${theirs.mbPerS.toFixed(0)} MB/s (${x(logs.mbPerS, theirs.mbPerS)})`,
    theirs.runs === 0 ? undefined : logs.mbPerS >= theirs.mbPerS,
  );
  add('4. logs: 0 lines lost', `${logs.linesLost} lost (worst run)`, logs.linesLost === 0);
  add(
    `4. logs: manager CPU per MB at most half of today's (${LOG_CPU_BEFORE.msPerMb} ms/MB at ${LOG_CPU_BEFORE.commit})`,
    Number.isFinite(logs.cpuMsPerMb)
      ? `${logs.cpuMsPerMb.toFixed(2)} ms/MB (${x(logs.cpuMsPerMb, LOG_CPU_BEFORE.msPerMb)})`
      : 'not measured (older results)',
    Number.isFinite(logs.cpuMsPerMb) ? logs.cpuMsPerMb <= LOG_CPU_BEFORE.msPerMb / 2 : undefined,
  );

  if (has(DM, 1000) && has(ORIGINAL, 1000)) {
    const mine = at(DM, 1000).startMs;
    const start = at(ORIGINAL, 1000).startMs;
    add(
      '5. cold start of 1,000 daemons no slower than the original',
      `${mine.toFixed(0)} vs ${start.toFixed(0)} ms (${x(mine, start)})`,
      mine <= start,
    );
  } else
    add(
      '5. cold start of 1,000 daemons no slower than the original',
      'N=1000 not measured',
      undefined,
    );

  const switches = counts.map((count) => at(DM, count).idleSwitches);
  const etc = (count: number): string => {
    const events = at(DM, count).idleEtcEvents;
    return Number.isFinite(events) && events > 0 ? `, with ${events} changes in /etc` : '';
  };
  add(
    '6. 0 idle wake-ups at every N',
    `context switches in ${results.settings.idleMs / 1000} s: ${counts.map((count, i) => `${switches[i]} (N=${count}${etc(count)})`).join(', ')}`,
    switches.every((count) => count === 0),
  );
  judgeFlatness(results, add);
  return verdicts;
}

/**
 * Goal 6's "cost per daemon should be flat" at N = 10,000, read as: a respawn at 10,000 no
 * slower than FLAT × the one at 100, and status's cost per added daemon between 1,000 and
 * 10,000 no more than FLAT × its cost between 100 and 1,000 (linear, not worse).
 */
function judgeFlatness(
  results: Results,
  add: (goal: string, measured: string, met: boolean | undefined) => void,
): void {
  const at = (count: number) => fleetFigures(results, DM, count);
  if (![100, 1000, 10_000].every((count) => at(count).runs > 0)) {
    add(
      '6. status and respawn at N = 10,000, cost per daemon flat',
      'N = 100, 1,000 and 10,000 not all measured in this run',
      undefined,
    );
    return;
  }
  const respawn = [at(100).respawnMs, at(10_000).respawnMs] as const;
  add(
    '6. respawn at N = 10,000 flat (≤ 1.25× the one at N = 100)',
    `${respawn[1].toFixed(1)} vs ${respawn[0].toFixed(1)} ms (${(respawn[1] / respawn[0]).toFixed(2)}×)`,
    respawn[1] <= FLAT * respawn[0],
  );
  const low = (at(1000).statusMs - at(100).statusMs) / 900;
  const high = (at(10_000).statusMs - at(1000).statusMs) / 9000;
  add(
    '6. status cost per daemon flat (1,000 → 10,000 ≤ 1.25× 100 → 1,000)',
    `${(high * 1000).toFixed(1)} vs ${(low * 1000).toFixed(1)} µs per daemon (${at(10_000).statusMs.toFixed(0)} ms at N = 10,000)`,
    high <= FLAT * low,
  );
}
