import type { DaemonSpec } from '../config/daemon.ts';

/** How a daemon's main process ended, or why it could not start. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not become the daemon at all (a dir= it cannot enter...). */
  readonly error?: string;
  /** Killed by the kernel's OOM killer, at its user's memory quota. */
  readonly oom?: true;
  /** Stopped because its health check or its watchdog failed (`error` says which). */
  readonly unhealthy?: true;
}

/** What a daemon said of itself through sd_notify during one run. */
export interface Notified {
  readonly run: number;
  /** Its last `STATUS=`, printable and bounded. */
  status?: string;
  /** After `RELOADING=1` (until `READY=1`) or `STOPPING=1`. */
  phase?: 'reloading' | 'stopping' | undefined;
}

/** The `health=` checks of one run: failures in a row, and whether one was made yet. */
export interface HealthRun {
  readonly run: number;
  failures: number;
  checked: boolean;
}

/** How a daemon that its `restart=` left down ended: cleanly, or not. */
export type Ended = 'exited' | 'failed';

/** What happens once a stopping daemon's processes are all gone. */
export type AfterStop = 'stay-stopped' | 'start' | 'respawn';

/**
 * What a daemon is doing now. `run` names one spawn of the daemon in the keeper (see
 * src/keeper/): events of an older run never move a newer one.
 */
export type DaemonState =
  /** `ended`: it stopped by itself and its `restart=` left it down (see restart-rule.ts). */
  | { readonly kind: 'stopped'; readonly ended?: Ended }
  | {
      readonly kind: 'running';
      readonly run: number;
      readonly pid: number;
      /** When its program began; until then (`execPending`), when its spawn was asked for. */
      readonly since: number;
      /**
       * Not running yet: its program has not begun (`execPending`), or its `ready=` check
       * has not passed. Shown as `starting`; no health check or watchdog meanwhile.
       */
      readonly starting?: true;
      /**
       * Its process is asked for or made, but its program has not begun: the keeper's child
       * is still in its exec (a program on a file system that answers slowly or never).
       * Set with `starting`; the `ready=` check is made once it begins.
       */
      readonly execPending?: true;
    }
  | {
      readonly kind: 'stopping';
      readonly run: number;
      readonly pid: number;
      /** The main process has not exited yet (its exit event is still to come). */
      readonly mainAlive: boolean;
      /** Nothing of the run is left (known from the keeper, after the main process). */
      readonly empty: boolean;
      readonly deadline: number;
      /**
       * The SIGKILL of the stop timeout: not yet, asked of the keeper, or carried out (its
       * answer came). `deadline` is the stop timeout's, then the keeper's answer's (see
       * Supervisor `checkStopping`), then the give-up's, counted from that answer.
       */
      readonly killed: false | 'asked' | 'answered';
      /**
       * When the keeper answered the stop's SIGTERM (carried it out, or found no process):
       * saved, so that a manager taking the stop over does not send a second one.
       */
      readonly termedAt?: number;
      /** The keeper's SIGKILL of the stop timeout reached a process of the run. */
      readonly sigkilled?: true;
      /**
       * How the main process ended while others of its run went on (the shell of a start
       * line ended by SIGTERM, the daemon it ran ignoring it): the daemon's exit is known
       * only once the rest is gone, by SIGKILL or not.
       */
      readonly mainExit?: Exit;
      readonly afterwards: AfterStop;
      /**
       * The run stopped is the one of the account that had the owner's name before (made
       * again under it, or deleted, while the manager ran or not), not this daemon's: its
       * end is not this daemon's exit, and it is no process of the owner's to show or signal.
       */
      readonly former?: true;
    }
  | { readonly kind: 'coolingdown'; readonly until: number };

export type StateName = DaemonState['kind'];

/** One daemon as the supervisor knows it: its spec, what is wanted, and what is. */
export interface DaemonRecord {
  /** `owner/name`. */
  readonly id: string;
  readonly owner: string;
  spec: DaemonSpec;
  wanted: 'up' | 'down';
  state: DaemonState;
  /** Automatic respawns since the last explicit start. */
  respawns: number;
  cooldownMs: number;
  /** Last explicit start (the `total` column). */
  startedAt: number | undefined;
  /**
   * When the program of the current (or last) run began, its exec done: the `uptime`
   * column, and what back-off counts as run. Undefined while a run's exec is under way.
   */
  begunAt: number | undefined;
  lastExit: Exit | undefined;
  /** Its config file is gone: forget it once it is stopped. */
  orphaned: boolean;
  /**
   * The uid of the account that had the owner's name when the daemon was loaded, set once
   * that account is gone (deleted, or made again under its name) while the manager runs:
   * the daemon is that account's until its run is gone (see Supervisor `disown`), nothing
   * of it is shown to the account of that name now, and nobody acts on it.
   */
  formerUid: number | undefined;
  timer: NodeJS.Timeout | undefined;
  /** What the current run said through sd_notify, if anything. */
  notified: Notified | undefined;
  /** Its health checks in the current run, once they began. */
  health: HealthRun | undefined;
  /** Runs stopped because a health check or the watchdog failed, since the last explicit start. */
  unhealthy: number;
  /** A digest of the config text `spec` was read from (daemon/scan.ts `sourceOf`). */
  source: string | undefined;
  /**
   * The same for the config the current run was started with. It differs from `source`
   * only for a run taken over whose file changed while no manager watched it: the next
   * rescan restarts it, as for any change.
   */
  runSource: string | undefined;
  /**
   * Runs stopped without their processes: still there after SIGKILL (uninterruptible
   * sleep, as on a hung file system), no longer waited for; or such runs a manager found
   * at its takeover. Each kept, and shown, until the keeper says it is empty.
   */
  unkilled: { readonly run: number; readonly pid: number }[];
}

/** Creates the record of a daemon just loaded from its config. */
export function newRecord(owner: string, spec: DaemonSpec, source?: string): DaemonRecord {
  return {
    id: `${owner}/${spec.name}`,
    owner,
    spec,
    wanted: 'down',
    state: { kind: 'stopped' },
    respawns: 0,
    cooldownMs: 0,
    startedAt: undefined,
    begunAt: undefined,
    lastExit: undefined,
    orphaned: false,
    formerUid: undefined,
    timer: undefined,
    notified: undefined,
    health: undefined,
    unhealthy: 0,
    source,
    runSource: undefined,
    unkilled: [],
  };
}

/**
 * Its run was started with another config than the one loaded now: a run taken over (an
 * upgrade, a start after a crash) whose file changed meanwhile, or one whose changed file
 * `dmctl start` read while it ran.
 */
export function runsOldConfig(record: DaemonRecord): boolean {
  const { state, runSource, source } = record;
  return (
    state.kind === 'running' &&
    runSource !== undefined &&
    source !== undefined &&
    runSource !== source
  );
}
