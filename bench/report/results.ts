import type { AttackerResult } from '../scenarios/attack-host.ts';
import type { BaselineRun } from '../scenarios/baseline.ts';
import type { StormCeiling, StormRun } from '../scenarios/crash-storm.ts';
import type { FleetRun } from '../scenarios/fleet.ts';
import type { LogRun } from '../scenarios/log-throughput.ts';
import type { ManagerKillRun } from '../scenarios/manager-kill.ts';

export type Mode = 'quick' | 'full';

/** When, where and what was measured: the head of every saved file. */
export interface RunHeader {
  readonly mode: Mode;
  readonly date: string;
  readonly durationS: number;
  readonly machine: Record<string, string>;
  readonly versions: Record<string, string>;
  /** Runs that failed, with why: they are left out of the figures. */
  readonly failures: string[];
}

/** A system not run at one N, and why. */
export interface Skip {
  readonly peer: string;
  readonly count: number;
  readonly reason: string;
}

/** The peers side by side (figures 1-6): saved as results/MODE.json. */
export interface Results extends RunHeader {
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
  /** A Node process that connects to a unix socket and reads one line (absent in older files). */
  readonly nodeClientFloorMs?: number[];
  readonly skipped?: readonly Skip[];
  /** Temporary directories of the bench still there after it ended (absent in older files). */
  readonly hostLeftovers?: readonly string[];
}

/** The crash storms: saved as results/crash-storm-MODE.json. */
export interface StormResults extends RunHeader {
  readonly settings: {
    readonly daemons: number;
    readonly rates: readonly number[];
    readonly seconds: number;
    readonly logLines: number;
    readonly variants: readonly string[];
    /** Whether the bare shell loops ran before each rate (absent in older files: they did). */
    readonly ceilings?: boolean;
  };
  readonly runs: StormRun[];
  /** The same storm under bare shell loops, by rate (absent in older files). */
  readonly ceilings?: StormCeiling[];
}

/** The attacker workload: saved as results/attacker-MODE.json. */
export interface AttackResults extends RunHeader {
  readonly run?: AttackerResult;
}

/** Kill -9 of the manager, for each build measured: saved as results/manager-kill-MODE.json. */
export interface ManagerKillResults extends RunHeader {
  readonly settings: { readonly daemons: number; readonly kills: number };
  readonly runs: ManagerKillRun[];
}

/** One case of bench/health.ts: N daemons with one kind of check, over a window. */
export interface HealthCase {
  readonly name: string;
  readonly daemons: number;
  readonly seconds: number;
  /** Time left to settle once every daemon ran, before the window. */
  readonly settleSeconds?: number;
  /** The manager's and its keeper's time on CPU, per second of the window. */
  readonly cpuMsPerSecond: number;
  /** Their context switches (each a wake-up), per second, and in all. */
  readonly wakeupsPerSecond: number;
  readonly wakeups: number;
  /** Changes of /etc/passwd or /etc/group the manager saw in the window (other sessions' tests). */
  readonly accountChanges?: number;
  /** The 1, 5 and 15 minute load averages at the start and at the end of the window. */
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
}

/** What health checks and watchdogs cost (bench/health.ts): results/health-quick.json. */
export interface HealthResults {
  readonly date: string;
  readonly machine: Record<string, string>;
  readonly settleSeconds: number;
  readonly cases: readonly HealthCase[];
}
