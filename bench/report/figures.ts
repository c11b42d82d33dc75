import type { Results } from './results.ts';
import { maximum, median, slope } from './stats.ts';

/** The medians of one system at one N: what the tables and goals are made of. */
export interface FleetFigures {
  readonly runs: number;
  readonly rssKb: number;
  readonly pssKb: number;
  readonly privateDirtyKb: number;
  readonly idleStatMs: number;
  readonly idleSchedMs: number;
  readonly idleSwitches: number;
  readonly idleLateSwitches: number;
  readonly startMs: number;
  readonly statusMs: number;
  readonly respawnMs: number;
  readonly respawnMaxMs: number;
  readonly leftovers: number;
}

/** Medians over the runs; status and respawn take the median of every sample of every run. */
export function fleetFigures(results: Results, peer: string, count: number): FleetFigures {
  const runs = results.fleets[peer]?.[String(count)] ?? [];
  return {
    runs: runs.length,
    rssKb: median(runs.map((run) => run.memory.rssKb)),
    pssKb: median(runs.map((run) => run.memory.pssKb)),
    privateDirtyKb: median(runs.map((run) => run.memory.privateDirtyKb)),
    idleStatMs: median(runs.map((run) => run.idle.statMs)),
    idleSchedMs: median(runs.map((run) => run.idle.schedMs)),
    idleSwitches: median(runs.map((run) => run.idle.switches)),
    // Older saved results have no idleLate.
    idleLateSwitches: median(runs.map((run) => run.idleLate?.switches ?? Number.NaN)),
    startMs: median(runs.map((run) => run.startMs)),
    statusMs: median(runs.flatMap((run) => run.statusMs)),
    respawnMs: median(runs.flatMap((run) => run.respawnMs)),
    respawnMaxMs: maximum(runs.flatMap((run) => run.respawnMs)),
    leftovers: runs.reduce((sum, run) => sum + run.leftovers, 0),
  };
}

/** Cost of one more daemon (KiB), fitted over the medians at every N. */
export function perDaemonKb(
  results: Results,
  peer: string,
  key: 'rssKb' | 'pssKb' | 'privateDirtyKb',
): number {
  return slope(
    results.settings.counts.map((count) => [count, fleetFigures(results, peer, count)[key]]),
  );
}

/** The medians of the log runs of one system. */
export function logFigures(results: Results, peer: string) {
  const runs = results.logs[peer] ?? [];
  return {
    runs: runs.length,
    mbPerS: median(runs.map((run) => run.mbPerS)),
    linesLost: maximum(runs.map((run) => run.linesLost)),
    // Older saved results have no linesLate.
    linesLate: maximum(runs.map((run) => run.linesLate ?? 0)),
    rssBeforeKb: median(runs.map((run) => run.rssBeforeKb)),
    peakRssKb: median(runs.map((run) => run.peakRssKb)),
    leftovers: runs.reduce((sum, run) => sum + run.leftovers, 0),
  };
}

/** The bare Node baseline's medians. */
export function baselineFigures(results: Results) {
  const runs = results.baseline;
  return {
    rssKb: median(runs.map((run) => run.memory.rssKb)),
    pssKb: median(runs.map((run) => run.memory.pssKb)),
    privateDirtyKb: median(runs.map((run) => run.memory.privateDirtyKb)),
    idleSchedMs: median(runs.map((run) => run.idle.schedMs)),
    idleSwitches: median(runs.map((run) => run.idle.switches)),
  };
}
