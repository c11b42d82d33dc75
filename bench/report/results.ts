import type { BaselineRun } from '../scenarios/baseline.ts';
import type { FleetRun } from '../scenarios/fleet.ts';
import type { LogRun } from '../scenarios/log-throughput.ts';

/** Everything one bench run produced, saved as JSON and rendered into RESULTS.md. */
export interface Results {
  readonly mode: 'quick' | 'full';
  readonly date: string;
  readonly durationS: number;
  readonly machine: Record<string, string>;
  readonly versions: Record<string, string>;
  readonly notes: Record<string, readonly string[]>;
  readonly settings: {
    readonly counts: readonly number[];
    readonly runs: number;
    readonly settleMs: number;
    readonly idleMs: number;
    readonly statusRepeats: number;
    readonly respawns: number;
    readonly logLines: number;
  };
  /** The first peer is the system under test; the others are compared with it. */
  readonly peers: readonly string[];
  /** fleets[peer][count]: one entry per run. */
  readonly fleets: Record<string, Record<string, FleetRun[]>>;
  readonly logs: Record<string, LogRun[]>;
  readonly baseline: BaselineRun[];
  readonly nodeFloorMs: number[];
  /** Runs that failed, with why: they are left out of the medians. */
  readonly failures: string[];
}
