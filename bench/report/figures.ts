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
  /** Changes in /etc during the idle windows, summed over the runs (NaN if not counted). */
  readonly idleEtcEvents: number;
  readonly startMs: number;
  readonly statusMs: number;
  /** The fewest daemons a status call listed as running (N when every reply was whole). */
  readonly statusListedMin: number;
  readonly respawnMs: number;
  readonly respawnMaxMs: number;
  /** Where the daemons ran, if in cgroups the supervisor made ('' if not, undefined if unknown). */
  readonly daemonCgroup: string | undefined;
  readonly leftovers: number;
  readonly cgroupsLeft: number;
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
    idleEtcEvents: runs.reduce((sum, run) => sum + (run.idleEtcEvents ?? Number.NaN), 0),
    startMs: median(runs.map((run) => run.startMs)),
    statusMs: median(runs.flatMap((run) => run.statusMs)),
    // Older saved results have no statusListed (their first call was checked instead).
    statusListedMin: Math.min(...runs.flatMap((run) => run.statusListed ?? [count])),
    respawnMs: median(runs.flatMap((run) => run.respawnMs)),
    respawnMaxMs: maximum(runs.flatMap((run) => run.respawnMs)),
    daemonCgroup: runs.find((run) => run.daemonCgroup !== undefined)?.daemonCgroup,
    leftovers: runs.reduce((sum, run) => sum + run.leftovers, 0),
    cgroupsLeft: runs.reduce((sum, run) => sum + (run.cgroupsLeft?.length ?? 0), 0),
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
    // Older saved results have no cpuMs.
    cpuMsPerMb: median(
      runs.map((run) => (run.cpuMs ?? Number.NaN) / ((results.settings.logLines * 100) / 1e6)),
    ),
    leftovers: runs.reduce((sum, run) => sum + run.leftovers, 0),
  };
}

/** Why a system has no figure at one N, or undefined when it has one. */
export function skipReason(results: Results, peer: string, count: number): string | undefined {
  return results.skipped?.find((skip) => skip.peer === peer && skip.count === count)?.reason;
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
