/** One daemon of the workload: a script the supervisor runs with the daemon's name. */
export interface DaemonDef {
  readonly name: string;
  /** An executable `#!/bin/sh` script, called with the name as its only argument. */
  readonly script: string;
  /** Capture its output in a log file (else it is discarded, each system its own way). */
  readonly capture: boolean;
}

/** A supervisor that the bench can set up, start, query and stop in a directory of its own. */
export interface Peer {
  /** As shown in the tables. */
  readonly name: string;
  /** Installs what is missing; throws with what to do if it cannot. */
  install(): void;
  /** The version of every program measured, for RESULTS.md. */
  versions(): Record<string, string>;
  /** How it is set up where that differs from its defaults, and its respawn policy. */
  readonly notes: readonly string[];
  /**
   * How long a daemon must have run for a kill -9 to be respawned without back-off: the
   * bench waits that long after a daemon's start before it kills it.
   */
  readonly respawnAfterUptimeMs: number;
  /** Why this system is not run with `count` daemons, or undefined when it is. */
  skipReason(count: number): string | undefined;
  /**
   * Writes the configuration for these daemons under `dir`; the function it returns
   * starts the supervisor (cold: nothing of it runs before) and returns once it is spawned.
   */
  configure(dir: string, daemons: readonly DaemonDef[]): () => Running;
  /**
   * Undoes what `configure` made outside `dir` (users); called once the run is over,
   * whatever happened, after the supervisor's stop.
   */
  cleanUp?(dir: string): void;
}

/** A running supervisor. */
export interface Running {
  /** The processes that are the supervisor (not the daemons), looked up now. */
  supervisorPids(): number[];
  /** The command that lists every daemon with its state. */
  readonly statusArgv: readonly string[];
  /** The environment the status command needs, if not the bench's own. */
  readonly statusEnv?: NodeJS.ProcessEnv;
  /** How many daemons the status command's output shows as running. */
  countRunning(stdout: string): number;
  /** Where a captured daemon's output ends up. */
  logFileOf(name: string): string;
  /** Stops the supervisor and its daemons; resolves to what is left alive (should be none). */
  stop(): Promise<number[]>;
}
