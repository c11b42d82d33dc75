import { constants } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { describeReadyCheck } from '../config/ready.ts';
import type { Logger } from '../logging/logger.ts';
import type { LaunchPlan } from '../process/launch.ts';
import { printableCut } from '../protocol/printable.ts';
import type { EventKind, HistoryEvent } from '../state/history.ts';
import { type BackoffPolicy, cooldownAfterExit } from './backoff.ts';
import { formatElapsed } from './elapsed.ts';
import { afterExit } from './restart-rule.ts';
import type { AfterStop, DaemonRecord, Ended, Exit } from './state.ts';

/** A launch made ready by the host: the plan, or why the daemon cannot start. */
export type Prepared =
  | { readonly ok: true; readonly plan: LaunchPlan }
  /**
   * `retry`: a passing fault (a full disk) worth a respawn later; else a refusal. `soon`:
   * no fault, what the start needs is on its way (its sockets being bound): tried again
   * shortly, not counted as a failed start.
   */
  | {
      readonly ok: false;
      readonly error: string;
      readonly retry: boolean;
      readonly soon?: true;
    };

/** Where the daemons' processes live (the keeper, see src/keeper/). */
export interface Processes {
  /** Starts a run of the daemon; its number, or why it could not be asked for. */
  spawn(record: DaemonRecord, plan: LaunchPlan): number | { readonly error: string };
  /** Signals every process of a run; how many were reached. */
  signal(
    run: number,
    signal: number,
  ): Promise<{ readonly reached: number; readonly errno: number; readonly lost?: true }>;
  /** The run is over for the manager: the keeper may forget it. */
  release(run: number): void;
  /** The keeper's pid, named when it does not answer. */
  readonly keeperPid: number;
  /** A process of the run still there, if its cgroup says of one (none without a cgroup). */
  memberOf?(run: number): number | undefined;
}

/** What the supervisor needs from the rest of the manager. */
export interface SupervisorHost {
  prepare(record: DaemonRecord): Prepared;
  stopTimeoutMs(record: DaemonRecord): number;
  readonly processes: Processes;
  /** The daemon's back-off under the current settings and its `restart_delay=`. */
  backoff(record: DaemonRecord): BackoffPolicy;
  readonly log: Logger;
  /** Called after every change of a daemon's state (to persist it, for instance). */
  changed(record: DaemonRecord): void;
  /** Saves the state now, not with the next batch (see noteTermAnswered). */
  saveSoon?(): void;
  /**
   * Resolves once the state and the history as they are now are on disk, or their save
   * failed (see termOnceSaved).
   */
  stopSaved?(): Promise<unknown>;
  /** Called when an orphaned daemon has stopped and been forgotten. */
  forgotten(record: DaemonRecord): void;
  /** Starts checking the run's `ready=`; the answer is noteReady or noteNotReady. */
  watchReady(record: DaemonRecord, run: number): void;
  /** Something happened to the daemon worth its history (`dmctl why`), at `at` (ms, now if not said). */
  note(record: DaemonRecord, kind: EventKind, text: string, at?: number): void;
  /** Processes of a run that SIGKILL had not ended (`unkilled`), or of a stop's run, are gone. */
  stuckGone?(record: DaemonRecord): void;
  /**
   * Why the daemon, its run ended, is not respawned but left stopped and wanted up, if it
   * is: it waits for something to start it (its config file to be accepted).
   */
  respawnHeld?(record: DaemonRecord): string | undefined;
  /** The account whose run a stop of another account's run stops, said for the log. */
  formerOf?(record: DaemonRecord): string;
}

/** What is known of a stop a manager before this one began (see Supervisor `resumeStopping`). */
export interface ResumedStop {
  /** The run stopped is the one of the account that had the owner's name before. */
  readonly former?: boolean;
  /**
   * Its SIGKILL sent by the manager before: `deadline` is the end of the wait after it.
   * Sent again quietly (the keeper may not have carried it out); not said again, and its
   * 5 s wait not begun again (an outside review, 20b: `stop --wait` 11 s, not 6).
   * `unsaid`: sent, but the saved history does not say it (see killSaidIn): said now.
   */
  readonly killed?: false | 'said' | 'unsaid';
  /**
   * How its main process ended, said by the manager before: the daemon's last exit once
   * the rest is gone, or the SIGKILL's (an outside review, 26a, F2: `last-exit` stayed `-`
   * and the end of the stop was never said).
   */
  readonly mainExit?: Exit | undefined;
  /** When the keeper answered its SIGTERM, as saved: none is sent again. */
  readonly termedAt?: number | undefined;
  /**
   * Its main process's end, which no manager saw (it came while none ran): said before the
   * stop is judged over. Judged first, a run that had ended whole finished its stop with
   * nothing said, and `why` went from the stop to the next start (an outside review, 71a,
   * F2: 4 of 4 runs a killed manager's shutdown was stopping).
   */
  readonly ended?: { readonly exit: Exit; readonly at: number } | undefined;
}

export type Outcome =
  | { readonly ok: true; readonly message: string; readonly run?: number }
  /** `underway`: not done yet, and going on (a start whose program has not begun). */
  | { readonly ok: false; readonly error: string; readonly underway?: true };

// A start that failed is not retried sooner than this, whatever the cooldown settings.
const MIN_RETRY_MS = 1_000;
/** How soon a start waiting for what is on its way is tried again, and for how long at most. */
const SOON_MS = 50;
const SOON_LIMIT_MS = 5_000;
/**
 * After the keeper's answer to its SIGKILL, a run that still has processes (stuck in the
 * kernel) is given up on after this. The same time without that answer is said in the log:
 * the keeper itself is stopped or starved, and the run is waited for as long as it is.
 */
export const KILL_GRACE_MS = 5_000;
/** How long a stop's SIGTERM waits for the save that says the daemon is stopping. */
const STOP_SAVED_MS = 2_000;

/** Why a shutdown's stop is, as its history says. */
const SHUTDOWN_SAID = ': the manager is shutting down';

/** What a stop's SIGKILL is said as in the daemon's history. */
const KILL_SAID = 'still running after the stop timeout: SIGKILL';

/**
 * Whether a history says the SIGKILL of the stop of `pid` (the one begun last). The history
 * saved with the state may be behind it, never ahead: a SIGKILL the saved state holds may
 * be missing from the saved history, and is said by the next manager then.
 */
export function killSaidIn(events: readonly HistoryEvent[], pid: number): boolean {
  for (let i = events.length - 1; i >= 0; i--) {
    const { kind, text } = events[i] as HistoryEvent;
    if (kind !== 'stop') continue;
    if (text.startsWith(KILL_SAID)) return true;
    if (text.startsWith(`stopping pid ${pid} (SIGTERM)`)) return false;
  }
  return false;
}
/**
 * How long a run's program may take to begin (its exec) before that is said, in the log
 * and `why`, and a start waiting for it is answered with what is known: an exec held by a
 * file system that does not answer (a program or `dir=` on a hung mount) kept the start
 * until dmctl gave up at 30 s blaming a manager that was up (an outside review, 2 of 2).
 */
export const EXEC_SLOW_MS = 10_000;

/** Why a run is not running yet `afterMs` (EXEC_SLOW_MS) after its process (`pid`) was made. */
export function describeSlowExec(pid: number, afterMs = EXEC_SLOW_MS): string {
  return `its program has not begun ${Math.floor(afterMs / 1000)} s after its process (pid ${pid}) was made (a file system that is slow or does not answer, where the program or its dir= is?)`;
}

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = constants.signals;
const SIGNAL_NAMES = new Map(
  Object.entries(constants.signals)
    .reverse()
    .map(([name, number]) => [number, name as NodeJS.Signals]),
);

/**
 * The most of a readiness or health check's failure kept: it quotes the check, which may
 * be as long as a config file (256 KiB), and goes into every status row, log line and
 * `why` entry about the daemon (an outside review made root's `dmctl status` 106 MB).
 */
const REASON_CHARS = 300;

function cutReason(reason: string): string {
  return printableCut(reason, REASON_CHARS);
}

/** The name of a signal number (SIGKILL for 9). */
export function signalName(number: number): NodeJS.Signals {
  return SIGNAL_NAMES.get(number) ?? 'SIGKILL';
}

/** How an exit reads in the log and in status: `exited with status 1`, `killed by SIGTERM`. */
export function describeExit(exit: Exit): string {
  if (exit.error !== undefined) return exit.error;
  if (exit.oom && exit.signal === null && exit.code !== null)
    return `exited with status ${exit.code}: out of memory (the OOM killer killed a process of its user's, within their memory quota)`;
  if (exit.oom)
    return `killed by ${exit.signal ?? 'SIGKILL'}: out of memory (its user's memory quota)`;
  if (exit.signal) return `killed by ${exit.signal}`;
  // A survivor of a previous keeper: not a child of this one, so its status is unknown.
  return exit.code === null ? 'ended' : `exited with status ${exit.code}`;
}

/**
 * Keeps each daemon's actual state moving towards its wanted state: starts, respawns
 * with back-off, stops with SIGTERM then SIGKILL, every process of the run. Every event
 * (a command, a report of the keeper, a timer) is handled to completion on the event loop.
 */
export class Supervisor {
  readonly daemons = new Map<string, DaemonRecord>();
  private readonly idleWaiters: (() => void)[] = [];
  /**
   * While someone waits for every daemon to stop: those not stopped when last looked.
   * Looking at every daemon after each stop made stopping N daemons N² / 2 looks (a
   * second of a shutdown at N = 10,000).
   */
  private unstopped: Set<DaemonRecord> | undefined;
  /** Runs whose child could not become the daemon: their exit says less than why. */
  private readonly failedRuns = new Set<number>();
  private readonly host: SupervisorHost;
  /** Starts waiting for what they need (see `waitBriefly`), since when. */
  private readonly waitingSince = new WeakMap<DaemonRecord, number>();
  /**
   * How the last run ended, while starts after it are refused (their reason takes its place
   * as `lastExit`): it is the last exit again once a start succeeds.
   */
  private readonly exitBeforeRefusals = new WeakMap<DaemonRecord, Exit | undefined>();
  /** Timers that came due while paused, by daemon: acted on at `resume`. */
  private held: Map<DaemonRecord, () => void> | undefined;
  /** Who waits for a change of a daemon's state (see untilTermAnswered), by daemon. */
  private readonly stateWatchers = new Map<DaemonRecord, Set<() => void>>();
  /** The run whose slow exec was said (see `sayExecSlow`), by daemon: its begin is said too. */
  private readonly saidSlow = new WeakMap<DaemonRecord, number>();
  /** The run whose READY=1 came while its exec was still pending (noteReady, noteBegun). */
  private readonly readyEarly = new WeakMap<DaemonRecord, number>();

  constructor(host: SupervisorHost) {
    this.host = host;
  }

  /** Wants the daemon up; starts it now, even from a cooldown. */
  start(record: DaemonRecord): Outcome {
    const { state } = record;
    // Nothing starts once every daemon is being stopped for the manager's end: a user whose
    // lock came free during a shutdown (a retry of it) had theirs started, and the manager
    // never exited (an outside review, 39a, F2).
    if (this.wantedBeforeShutdown !== undefined)
      return { ok: false, error: `${record.id} is not started: the manager is shutting down` };
    record.wanted = 'up';
    if (state.kind === 'running')
      return {
        ok: true,
        message: state.execPending
          ? `${record.id} is already starting (its program has not begun yet)`
          : `${record.id} is already running`,
      };
    record.respawns = 0;
    record.unhealthy = 0;
    record.cooldownMs = 0;
    record.startedAt = Date.now();
    if (state.kind === 'stopping') {
      this.setState(record, { ...state, afterwards: 'start' });
      return { ok: true, message: `${record.id} will start once its old processes are gone` };
    }
    this.clearTimer(record);
    return this.spawn(record);
  }

  /** Wants the daemon down; signals its processes. */
  stop(record: DaemonRecord, former = false): Outcome {
    // Asked for during a shutdown: wanted down for good, whatever it was before.
    this.wantedBeforeShutdown?.set(record.id, 'down');
    return this.stopNow(record, former);
  }

  private stopNow(record: DaemonRecord, former = false): Outcome {
    const { state } = record;
    record.wanted = 'down';
    switch (state.kind) {
      case 'stopped':
        return { ok: true, message: `${record.id} is already stopped` };
      case 'coolingdown':
        this.clearTimer(record);
        this.settleStopped(record);
        return { ok: true, message: `${record.id} stopped (it was cooling down)` };
      case 'stopping':
        this.setState(record, { ...state, afterwards: 'stay-stopped' });
        return { ok: true, message: `${record.id} is stopping` };
      case 'running':
        this.beginStopping(record, state.run, state.pid, true, false, 'stay-stopped', former);
        return { ok: true, message: `${record.id} is stopping` };
    }
  }

  /** Stops the daemon if it runs, then starts it afresh. */
  restart(record: DaemonRecord): Outcome {
    const { state } = record;
    if (state.kind !== 'running' && state.kind !== 'stopping') return this.start(record);
    record.wanted = 'up';
    record.respawns = 0;
    record.unhealthy = 0;
    record.cooldownMs = 0;
    record.startedAt = Date.now();
    if (state.kind === 'running')
      this.beginStopping(record, state.run, state.pid, true, false, 'start');
    else this.setState(record, { ...state, afterwards: 'start' });
    return { ok: true, message: `${record.id} is restarting` };
  }

  /** Sends a signal to every process of the daemon's current run. */
  async signal(record: DaemonRecord, signal: NodeJS.Signals): Promise<Outcome> {
    const { state } = record;
    if (state.kind !== 'running' && state.kind !== 'stopping')
      return { ok: false, error: `${record.id} is not running (${state.kind})` };
    if (state.kind === 'stopping' && state.former)
      return {
        ok: false,
        error: `${record.id} is not running (it starts once the processes of the account that had this name before are gone)`,
      };
    const sent = await this.host.processes.signal(state.run, SIGNAL_NUMBERS[signal] ?? 0);
    // The keeper gone before it answered: it may have sent it (an outside review, 81a, F1:
    // "its processes are gone" of a daemon that got the signal, 4 of 4; a user sends it again).
    if (sent.lost === true)
      return {
        ok: false,
        error: `${record.id}: whether ${signal} reached it is not known: the keeper of daemons died before it answered (see dmctl ${record.id} why before sending it again)`,
      };
    if (sent.reached === 0) return { ok: false, error: `${record.id}: its processes are gone` };
    // Its audit line says it, within its caller's budget: this one, at info, was a line
    // per request past it (an outside review, 37a, F4).
    // Survivors found in a cgroup have no known main process: "(pid 0)" read as nothing
    // reached (an outside review, 47d, F1).
    const reached =
      state.pid > 0
        ? `pid ${state.pid}`
        : `${sent.reached} process${sent.reached === 1 ? '' : 'es'} of its run; its main process is not known`;
    this.host.log.debug(`${record.id}: sent ${signal} to its processes (${reached})`);
    return { ok: true, message: `sent ${signal} to ${record.id} (${reached})` };
  }

  /**
   * Its run ended, or is cut short, without a manager seeing how (it ended while no manager
   * ran, or survives a keeper that died and is stopped for that): whether it runs again.
   * An end not seen is not a clean one: `always` and `on-failure` run it again; a
   * `restart=no` task is left down and not run a second time (run again, a task that is
   * not idempotent, a migration or a batch, did its work twice: an outside review, 69a,
   * F3: 4 of 5 tasks that ended while no manager ran, 4 of 4 still running). `pid`: its
   * main process, for the line said (0: not known, survivors found in its cgroup); `ended`:
   * it ended unseen (said failed), else it is cut short by the stop that follows its
   * keeper's death.
   */
  runsAgainAfterUnseenEnd(record: DaemonRecord, pid: number, ended: boolean): boolean {
    if (afterExit(record.spec.restart, record.spec.successExit, undefined) === 'respawn')
      return true;
    record.wanted = 'down';
    const who = pid > 0 ? `pid ${pid}` : 'what survived of its run';
    const text = ended
      ? `${who} ended while no manager watched it; how is not known, so restart=${record.spec.restart} leaves it down (failed), not run again (dmctl start runs it)`
      : `${who} outlived its keeper and is stopped, cut short: restart=${record.spec.restart} leaves it down, not run again (dmctl start runs it)`;
    this.host.log.warn(`${record.id}: ${text}`);
    this.host.note(record, 'down', text);
    return false;
  }

  /** Adds a daemon without starting it. */
  register(record: DaemonRecord): void {
    this.daemons.set(record.id, record);
  }

  /** Forgets a daemon whose config is gone, now if stopped, else once it stops. */
  forget(record: DaemonRecord): void {
    record.orphaned = true;
    if (record.state.kind === 'coolingdown') this.stop(record);
    if (record.state.kind === 'stopped') this.dropOrphan(record);
  }

  /**
   * The owner's account is gone, or another one now (`record.formerUid` says which it
   * was): the daemon is stopped and forgotten, and its run, until it is gone, is marked as
   * the old account's (see DaemonState `former`): no pid shown, no signal sent on request.
   * `notTheirs`: the record is the account's of that name now (made again with the name
   * and uid), its run not: its stop is said in the manager's log only.
   */
  disown(record: DaemonRecord, notTheirs = false): void {
    this.stop(record, notTheirs);
    const { state } = record;
    if (state.kind === 'stopping') this.setState(record, { ...state, former: true });
    this.forget(record);
  }

  /**
   * What each daemon was wanted as before the manager's shutdown stopped them all, until
   * the shutdown is over: a manager killed in the middle of it (systemd's stop timeout ran
   * out before a long stop_timeout did) saved every daemon as wanted down, as if its user
   * had stopped it, and the next manager left them all down (an outside review, 5 of 5).
   */
  private wantedBeforeShutdown: Map<string, 'up' | 'down'> | undefined;

  /** Whether the daemon is saved as wanted up (see wantedBeforeShutdown). */
  savedWanted(record: DaemonRecord): 'up' | 'down' {
    return this.wantedBeforeShutdown?.get(record.id) ?? record.wanted;
  }

  /** Stops every daemon; resolves once none has a process left. */
  stopAll(): Promise<void> {
    const before = new Map<string, 'up' | 'down'>();
    for (const record of this.daemons.values()) before.set(record.id, record.wanted);
    this.wantedBeforeShutdown = before;
    for (const record of this.daemons.values()) this.stopNow(record);
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.notifyIfIdle();
    });
  }

  /**
   * Takes over a run the keeper kept while no manager was there (an upgrade, a crash of
   * the manager): running if its main process lives, else its end is handled now, with
   * the time it really ended (so back-off counts what happened meanwhile). `begunAt`:
   * when its program began, as saved (else taken as its spawn).
   */
  adopt(
    record: DaemonRecord,
    run: { seq: number; pid: number; spawnedAt: number; exec?: 'pending' | 'ok' | 'failed' },
    ended: { exit: Exit; at: number; empty: boolean } | undefined,
    starting = false,
    begunAt?: number,
  ): void {
    // Still in its exec: starting until the keeper says it is done (noteBegun).
    const pending = ended === undefined && run.exec === 'pending';
    record.begunAt = pending ? undefined : (begunAt ?? run.spawnedAt);
    // One still starting is checked again, for what is left of its ready_timeout.
    const waiting = starting && ended === undefined && record.spec.ready !== undefined;
    this.setState(record, {
      kind: 'running',
      run: run.seq,
      pid: run.pid,
      since: record.begunAt ?? run.spawnedAt,
      ...(pending
        ? { starting: true as const, execPending: true as const }
        : waiting
          ? { starting: true as const }
          : {}),
    });
    if (waiting && !pending) this.host.watchReady(record, run.seq);
    // Its slow exec is said as a run of this manager's would be (an outside review took a
    // run over 2 s into a stuck exec: nothing was said of it, nor later that it began);
    // one past the time is said now, with how long.
    if (pending) {
      const leftMs = Math.max(0, EXEC_SLOW_MS - (Date.now() - run.spawnedAt));
      this.setTimer(record, leftMs, () => this.sayExecSlow(record, run.seq));
    }
    if (ended !== undefined) this.noteExit(record, run.seq, ended.exit, ended.empty, ended.at);
  }

  /**
   * Puts back a stop that was under way when the manager went away (its SIGTERM was sent;
   * its deadline, and what was to follow, are kept), or stops survivors of another keeper,
   * or (`former`) the run of the account that had the owner's name before.
   */
  resumeStopping(
    record: DaemonRecord,
    run: { seq: number; pid: number; alive: boolean; empty: boolean },
    deadline: number,
    afterwards: AfterStop,
    begun: ResumedStop = {},
  ): void {
    const { former = false, killed = false, mainExit, termedAt, ended } = begun;
    // Its SIGTERM answered before (saved), or past its deadline, or killed: the SIGTERM was
    // the manager's before, not asked again. Sent at each takeover, a daemon that takes a
    // second SIGTERM for "quit now" lost its clean shutdown (an outside review, 35a).
    const termed = termedAt ?? (deadline > Date.now() && killed === false ? undefined : Date.now());
    // Its SIGTERM sent now (the manager before was killed before the keeper carried it
    // out): its timeout counts from now, not from the deadline that manager set (an outside
    // review, 76a, F2: 190-945 ms of a 1 s stop timeout).
    if (termed === undefined)
      deadline = Math.max(deadline, Date.now() + this.host.stopTimeoutMs(record));
    this.setState(record, {
      kind: 'stopping',
      run: run.seq,
      pid: run.pid,
      mainAlive: run.alive || ended !== undefined,
      empty: run.empty && ended === undefined,
      deadline,
      killed: killed ? 'answered' : false,
      afterwards,
      ...(former ? { former: true as const } : {}),
      ...(mainExit === undefined ? {} : { mainExit }),
      // Its SIGKILL reached the rest of the run, most likely: its end is said as killed.
      ...(killed ? { sigkilled: true as const } : {}),
      ...(termed === undefined ? {} : { termedAt: termed }),
    });
    this.setTimer(record, Math.max(1, deadline - Date.now()), () =>
      this.checkStopping(record, true),
    );
    // Said at about when the manager before had its answer (its deadline was then set
    // KILL_GRACE_MS on), and never after the end it caused.
    if (killed === 'unsaid' && !former)
      this.host.note(
        record,
        'stop',
        KILL_SAID,
        Math.min(Date.now(), deadline - KILL_GRACE_MS, ended?.at ?? Number.POSITIVE_INFINITY),
      );
    if (killed) void this.host.processes.signal(run.seq, SIGNAL_NUMBERS.SIGKILL ?? 9);
    else if (termed === undefined) this.sendTerm(record, run.seq);
    if (ended !== undefined) this.noteExit(record, run.seq, ended.exit, run.empty, ended.at);
    else this.checkStopping(record);
  }

  /**
   * Resolves once the keeper has answered the SIGTERM of the daemon's stop under way (or
   * it is not stopping, or `timeoutMs` passed): a stop is answered once that is saved, so
   * that a manager killed right after the answer sends no second SIGTERM (an outside
   * review, 37a, F2: 4 of 6 within a second of the answer).
   */
  untilTermAnswered(record: DaemonRecord, timeoutMs: number): Promise<void> {
    const answered = (): boolean => {
      const { state } = record;
      return state.kind !== 'stopping' || state.termedAt !== undefined || state.killed !== false;
    };
    if (answered()) return Promise.resolve();
    return new Promise((resolve) => {
      const watchers = this.stateWatchers.get(record) ?? new Set<() => void>();
      const done = (): void => {
        clearTimeout(timer);
        watchers.delete(check);
        if (watchers.size === 0) this.stateWatchers.delete(record);
        resolve();
      };
      const check = (): void => {
        if (answered()) done();
      };
      const timer = setTimeout(done, timeoutMs);
      watchers.add(check);
      this.stateWatchers.set(record, watchers);
    });
  }

  /** Puts back a cooldown that was under way when the manager went away. */
  resumeCooldown(record: DaemonRecord, until: number): void {
    // No cooldown lasts longer than its back-off step: a clock set back since the save
    // put the saved deadline an hour away (an outside review: a daemon left down for the
    // hour, its cooldown-max 60 s).
    const left = Math.min(
      Math.max(1, until - Date.now()),
      Math.max(record.cooldownMs, MIN_RETRY_MS),
    );
    this.setState(record, { kind: 'coolingdown', until: Date.now() + left });
    this.setTimer(record, left, () => this.spawn(record));
  }

  /**
   * The keeper started the run: its main process has this pid. A survivor handed to the
   * keeper by its cgroup alone is reported with pid 0: nothing was started. `at`: the
   * keeper's time of the fork, as its exit is stamped with the keeper's time of the reaping
   * (an outside review, 40a, F4: a one-shot read late showed its exit 18 ms before its start).
   */
  noteSpawned(record: DaemonRecord, run: number, pid: number, at?: number): void {
    const { state } = record;
    if (
      pid > 0 &&
      (state.kind === 'running' || state.kind === 'stopping') &&
      state.run === run &&
      state.pid === 0
    ) {
      this.setState(record, { ...state, pid });
      this.host.log.info(`${record.id}: started, pid ${pid}`);
      const respawn = record.respawns > 0 ? ` (respawn ${record.respawns})` : '';
      this.host.note(record, 'start', `started, pid ${pid}${respawn}`, at);
      if (state.kind === 'running' && state.execPending)
        this.setTimer(record, EXEC_SLOW_MS, () => this.sayExecSlow(record, run));
    }
  }

  /**
   * The run's program has begun (the keeper's child did its exec): running from now, or,
   * with `ready=`, starting until its check passes, counted from now. Until then it was
   * only a process of the keeper's, blocked in the exec of a program on a file system that
   * answered slowly (28 s in an outside review) or never: it was said `running`, uptime
   * counting, and `restart --wait` reported a run that never began as running.
   */
  noteBegun(record: DaemonRecord, run: number, at = Date.now()): void {
    const { state } = record;
    if (state.kind !== 'running' || state.run !== run || !state.execPending) return;
    this.clearTimer(record);
    const { execPending: _, starting: __, ...begun } = state;
    record.begunAt = at;
    const waiting = record.spec.ready !== undefined;
    this.setState(record, { ...begun, since: at, ...(waiting ? { starting: true as const } : {}) });
    if (this.saidSlow.get(record) === run) {
      this.saidSlow.delete(record);
      const text = `its program began ${formatElapsed(at - state.since)} after its spawn (pid ${state.pid})`;
      this.host.log.info(`${record.id}: ${text}`);
      this.host.note(record, 'start', text, at);
    }
    if (!waiting) return;
    if (this.readyEarly.get(record) === run) {
      this.readyEarly.delete(record);
      this.noteReady(record, run);
    } else this.host.watchReady(record, run);
  }

  /** The run's program has not begun EXEC_SLOW_MS after its process was made: said once. */
  private sayExecSlow(record: DaemonRecord, run: number): void {
    const { state } = record;
    if (state.kind !== 'running' || state.run !== run || !state.execPending) return;
    this.saidSlow.set(record, run);
    const afterMs = Math.max(EXEC_SLOW_MS, Date.now() - state.since);
    const text = `${describeSlowExec(state.pid, afterMs)}: starting until it does`;
    this.host.log.warn(`${record.id}: ${text}`);
    this.host.note(record, 'start', text);
  }

  /** The run's `ready=` check passed: it is running now. */
  noteReady(record: DaemonRecord, run: number): void {
    const { state } = record;
    if (state.kind !== 'running' || state.run !== run || !state.starting) return;
    // Its READY=1 came before the keeper's word that its program began (two sockets, read
    // in either order: under load, daemons that said it at once lost it and were killed at
    // their ready_timeout). Only the run's own processes reach here (notify-hub.ts), so its
    // program did begin: kept until the keeper says so.
    if (state.execPending) {
      this.readyEarly.set(record, run);
      return;
    }
    const { starting: _, ...ready } = state;
    this.setState(record, ready);
    const check = record.spec.ready === undefined ? '' : describeReadyCheck(record.spec.ready);
    this.host.log.info(`${record.id}: ready (${check})`);
    this.host.note(
      record,
      'start',
      `ready (${check}) after ${formatElapsed(Date.now() - state.since)}`,
    );
  }

  /**
   * The run was not ready within its ready_timeout: a failed start. It is stopped, and
   * then respawned (or not) as a process that failed, with back-off.
   */
  noteNotReady(record: DaemonRecord, run: number, why: string): void {
    const { state } = record;
    if (state.kind !== 'running' || state.run !== run || !state.starting) return;
    const reason = cutReason(why);
    this.failedRuns.add(run);
    record.lastExit = { code: null, signal: null, error: reason };
    this.host.log.warn(`${record.id}: ${reason}; stopping it`);
    this.host.note(record, 'refused', `${reason}: a failed start`);
    this.beginStopping(record, run, state.pid, true, false, 'respawn');
  }

  /**
   * A ready run failed its health check `health_retries` times in a row, or missed its
   * watchdog: stopped, then respawned (or not, by its `restart=`) as a failure. Its back-off
   * counts how long it ran, as for a crash: a daemon that hung after days comes back at once.
   */
  noteUnhealthy(record: DaemonRecord, run: number, why: string): void {
    const { state } = record;
    if (state.kind !== 'running' || state.run !== run) return;
    const reason = cutReason(why);
    this.failedRuns.add(run);
    record.unhealthy++;
    record.lastExit = { code: null, signal: null, error: `unhealthy: ${reason}`, unhealthy: true };
    this.host.log.warn(`${record.id}: unhealthy: ${reason}; stopping it`);
    this.host.note(
      record,
      'health',
      `unhealthy: ${reason}: stopping it (${record.unhealthy} so far)`,
    );
    this.beginStopping(record, run, state.pid, true, false, 'respawn');
  }

  /** The run's child could not become the daemon (the reason is in its log too). */
  noteExecFailed(record: DaemonRecord, run: number, error: string): void {
    const { state } = record;
    if ((state.kind === 'running' || state.kind === 'stopping') && state.run === run) {
      // Its exit follows: nothing to say of a slow exec meanwhile.
      if (state.kind === 'running') this.clearTimer(record);
      this.failedRuns.add(run);
      record.lastExit = { code: null, signal: null, error };
      this.host.log.warn(`${record.id}: cannot start: ${error}`);
      this.host.note(record, 'refused', `cannot start: ${error}`);
    }
  }

  /** Handles the end of a run's main process. */
  noteExit(record: DaemonRecord, run: number, exit: Exit, empty: boolean, at = Date.now()): void {
    const { state } = record;
    const current = (state.kind === 'running' || state.kind === 'stopping') && state.run === run;
    if (!current) {
      if (empty) {
        this.unkilledGone(record, run);
        this.host.processes.release(run);
      }
      return;
    }
    if (state.kind === 'stopping' && state.former) {
      // Another account's run: said in the manager's log only (see DaemonState). With no
      // main process (survivors found in its cgroup), the end of its stand-in is not the
      // run's while processes remain (an outside review, 46a, F3: "pid 0 ... ended" of a
      // run that ran on for 55 s).
      const gone = empty || state.empty;
      const who = state.pid > 0 ? `pid ${state.pid}` : 'what survived of its run';
      if (state.pid > 0 || gone)
        this.host.log.info(
          `${record.id}: ${who} of ${this.host.formerOf?.(record) ?? `the account that had this name${record.formerUid === undefined ? ' before' : ` (uid ${record.formerUid}, deleted or renamed since)`}`} ${describeExit(exit)}`,
        );
      // The record the old account's own (deleted or renamed since, see DaemonRecord
      // `formerUid`): so is its history, which a rename carries on to the daemon under the
      // new name (an outside review, 52a, F6: a start after a start there).
      if ((state.pid > 0 || gone) && record.formerUid !== undefined)
        this.host.note(record, 'exit', `${who} ${describeExit(exit)}, while stopping`, at);
      this.setState(record, { ...state, mainAlive: false, empty: state.empty || empty });
      this.checkStopping(record);
      return;
    }
    if (state.kind === 'stopping' && !state.mainAlive && state.mainExit !== undefined) {
      // Its main process's end was said already (a stop whose run a new keeper took on
      // after the last one died): the report of the run taken on is not a second end (an
      // outside review, 70a, F4: `killed by SIGTERM after 2s`, then `ended after 5s`, of
      // one process).
      this.setState(record, { ...state, empty: state.empty || empty });
      this.checkStopping(record);
      return;
    }
    // The exec's own reason says more than the status it exited with (127).
    const failed = this.failedRuns.delete(run);
    const how = describeExit(exit);
    // A run that ended in its exec (killed there) never ran: no time to say.
    const after =
      record.begunAt === undefined ? '' : ` after ${formatElapsed(at - record.begunAt)}`;
    if (state.kind === 'stopping' && state.pid === 0 && !(empty || state.empty)) {
      // What survived of a run with no main process (taken over from a manager that is
      // gone): the end of its stand-in says nothing while processes remain in its cgroup
      // (an outside review read "what survived in its cgroup ended" of processes stuck
      // there, killed again 3 s later). Its emptiness is said when it comes.
      this.setState(record, { ...state, mainAlive: false });
      this.checkStopping(record);
      return;
    }
    if (state.kind === 'stopping') {
      const who = state.pid === 0 ? 'what survived of its run' : `pid ${state.pid}`;
      // Others of its run still there are the daemon still stopping, not yet its exit.
      const rest = empty || state.empty || failed ? '' : '; the rest of its run still runs';
      if (!failed && rest === '') record.lastExit = exit;
      this.host.log.info(`${record.id}: ${who} ${how}${rest}`);
      this.host.note(record, 'exit', `${who} ${how}${after}, while stopping${rest}`, at);
      this.setState(record, {
        ...state,
        mainAlive: false,
        empty: state.empty || empty,
        ...(rest === '' ? {} : { mainExit: exit }),
      });
      this.checkStopping(record);
      // Its run over: what it held is free (see noteEmpty; an outside review, 24a: a stop
      // ended by its SIGKILL with its main process last tried nothing again).
      if (rest === '') this.host.stuckGone?.(record);
      // Its rest still stopping: the end said is saved with the state that says it (the
      // next manager says it no more), not a second later: the history saved with the
      // stop's SIGTERM waits that long, and a kill -9 meanwhile lost it from `why`.
      else void this.host.stopSaved?.();
      return;
    }
    if (!failed) record.lastExit = exit;
    if (state.kind !== 'running') return;
    // A task's clean end (left down as `exited` by its `restart=`) is what it is for: not
    // a warning (an outside review, 66a, F4: every one of 200 tasks' ends among them).
    const done = afterExit(record.spec.restart, record.spec.successExit, exit) === 'exited';
    this.host.log[done && !failed ? 'info' : 'warn'](`${record.id}: pid ${state.pid} ${how}`);
    // Stamped when the keeper reaped it: after a stall of the manager, the time it read
    // the report was the stall's end, while "after" above counted to the real exit.
    this.host.note(record, 'exit', `pid ${state.pid} ${how}${after}`, at);
    // What the main process left behind (php-cgi workers holding the old socket) must go
    // before a new main process starts.
    if (!empty) this.beginStopping(record, run, state.pid, false, false, 'respawn');
    else {
      // A run the memory quota's SIGKILL did not end at once (see Manager.lowerMemory).
      this.unkilledGone(record, run);
      this.host.processes.release(run);
      this.afterExit(record, at);
    }
  }

  /** Nothing of the run is left. */
  noteEmpty(record: DaemonRecord, run: number): void {
    const { state } = record;
    this.unkilledGone(record, run);
    if (state.kind === 'stopping' && state.run === run) {
      this.setState(record, { ...state, empty: true });
      this.checkStopping(record);
      // Ended, before it was given up on: memory it held that kept a limit from being
      // written is free (outside reviews, 21b: a survivor a takeover stopped; 23b: a
      // stop's run counted as held, not killable, from its SIGTERM on).
      this.host.stuckGone?.(record);
    } else if (state.kind !== 'running' || state.run !== run) this.host.processes.release(run);
  }

  /**
   * The run given up on after SIGKILL (`unkilled`) is empty at last: said, and shown no
   * more. Its end comes as its last process's exit with the run empty, or as an `empty`
   * of its own (an outside review saw the mark stay for good when it came as the former).
   */
  private unkilledGone(record: DaemonRecord, run: number): void {
    const gone = record.unkilled.find((left) => left.run === run);
    if (gone === undefined) return;
    const { pid } = gone;
    record.unkilled = record.unkilled.filter((left) => left !== gone);
    const text = `the processes of ${pid === 0 ? 'a run' : `pid ${pid}'s run`} left after SIGKILL are gone`;
    this.host.log.info(`${record.id}: ${text}`);
    this.host.note(record, 'exit', text);
    this.host.changed(record);
    this.host.stuckGone?.(record);
    if (record.orphaned && record.state.kind === 'stopped') this.dropOrphan(record);
  }

  private spawn(record: DaemonRecord): Outcome {
    if (this.wantedBeforeShutdown !== undefined) {
      record.wanted = 'down';
      this.settleStopped(record);
      return { ok: false, error: `${record.id} is not started: the manager is shutting down` };
    }
    const prepared = this.prepareSafely(record);
    if (!prepared.ok && prepared.soon && this.waitBriefly(record))
      return { ok: true, message: `${record.id} is starting (${prepared.error})` };
    this.waitingSince.delete(record);
    if (!prepared.ok) {
      this.noteRefusal(record, prepared.error);
      this.host.log.warn(`${record.id}: cannot start: ${prepared.error}`);
      this.host.note(record, 'refused', `cannot start: ${prepared.error}`);
      if (prepared.retry) this.retryLater(record);
      else {
        record.wanted = 'down';
        this.settleStopped(record);
      }
      return { ok: false, error: `cannot start ${record.id}: ${prepared.error}` };
    }
    const run = this.host.processes.spawn(record, prepared.plan);
    if (typeof run !== 'number') {
      this.noteRefusal(record, run.error);
      this.host.log.error(`${record.id}: ${run.error}`);
      this.host.note(record, 'refused', `cannot start: ${run.error}`);
      this.retryLater(record);
      return { ok: false, error: `cannot start ${record.id}: ${run.error}` };
    }
    if (this.exitBeforeRefusals.has(record)) {
      record.lastExit = this.exitBeforeRefusals.get(record);
      this.exitBeforeRefusals.delete(record);
    }
    record.begunAt = undefined;
    record.runSource = record.source;
    this.setState(record, {
      kind: 'running',
      run,
      pid: 0,
      since: Date.now(),
      starting: true,
      execPending: true,
    });
    return { ok: true, message: `${record.id} started`, run };
  }

  /**
   * A restart refused before the run is stopped (its log is refused): said as a refused
   * start is, in the log, `why` and the last exit (until the run ends), the run left as
   * it is.
   */
  refuseStart(record: DaemonRecord, error: string): Outcome {
    record.lastExit = { code: null, signal: null, error };
    this.host.log.warn(`${record.id}: cannot start: ${error}`);
    this.host.note(record, 'refused', `cannot start: ${error}`);
    this.host.changed(record);
    return { ok: false, error: `cannot start ${record.id}: ${error}` };
  }

  /** A start refused: why, in place of the last exit until a start succeeds. */
  private noteRefusal(record: DaemonRecord, error: string): void {
    if (!this.exitBeforeRefusals.has(record)) this.exitBeforeRefusals.set(record, record.lastExit);
    record.lastExit = { code: null, signal: null, error };
  }

  /**
   * A start whose needs are on their way is tried again shortly, as if it had not been
   * asked yet: no back-off step, no respawn counted (an outside review: a daemon replaced
   * after its manager and keeper died waited for its sockets as for a failed start, and
   * each crash of the manager doubled its cooldown, up to 16 s). False once it waited
   * SOON_LIMIT_MS: then it is a failure like any other.
   */
  private waitBriefly(record: DaemonRecord): boolean {
    const now = Date.now();
    // Waiting still (not stopped and started again since): counted from its first try.
    const waiting = record.state.kind === 'coolingdown' ? this.waitingSince.get(record) : undefined;
    const since = waiting ?? now;
    if (now - since > SOON_LIMIT_MS) return false;
    this.waitingSince.set(record, since);
    this.setState(record, { kind: 'coolingdown', until: now + SOON_MS });
    this.setTimer(record, SOON_MS, () => this.spawn(record));
    return true;
  }

  /** Whether the daemon's start waits briefly (see `waitBriefly`): asked, not carried out yet. */
  startWaits(record: DaemonRecord): boolean {
    return record.state.kind === 'coolingdown' && this.waitingSince.has(record);
  }

  /**
   * What a start waiting briefly (see `waitBriefly`) waits for has come (its log looked
   * at): it is tried at once, not at the end of the wait.
   */
  tryWaitingNow(record: DaemonRecord): void {
    const waiting = record.state.kind === 'coolingdown' && this.waitingSince.has(record);
    if (waiting && record.timer !== undefined) this.setTimer(record, 0, () => this.spawn(record));
  }

  /** A spawn the keeper could not do (fork failed): retried after a cooldown. */
  noteSpawnFailed(record: DaemonRecord, run: number, error: string): void {
    const { state } = record;
    if (state.kind !== 'running' || state.run !== run) return;
    record.lastExit = { code: null, signal: null, error };
    this.host.log.error(`${record.id}: ${error}`);
    this.host.note(record, 'refused', `cannot start: ${error}`);
    this.retryLater(record);
  }

  /**
   * The host's preparation touches files, users and cgroups; a fault there it did not
   * foresee must still leave the daemon in a state that moves on (cooling down, then
   * retried), not half-started and forgotten.
   */
  private prepareSafely(record: DaemonRecord): Prepared {
    try {
      return this.host.prepare(record);
    } catch (error) {
      this.host.log.error(
        `${record.id}: preparing the start failed: ${(error as Error).stack ?? error}`,
      );
      return { ok: false, error: `internal error: ${(error as Error).message}`, retry: true };
    }
  }

  private afterExit(record: DaemonRecord, at = Date.now()): void {
    if (record.wanted === 'down') {
      this.settleStopped(record);
      return;
    }
    const { restart, successExit } = record.spec;
    const next = afterExit(restart, successExit, record.lastExit);
    const held = next === 'respawn' ? this.host.respawnHeld?.(record) : undefined;
    if (held !== undefined) {
      this.host.log.warn(`${record.id}: not respawned: ${held}`);
      this.host.note(record, 'refused', `not respawned: ${held}`);
      this.setState(record, { kind: 'stopped' });
      if (record.orphaned) this.dropOrphan(record);
      this.notifyIfIdle(record);
      return;
    }
    if (next !== 'respawn') {
      // Its work is done (or given up on): it stays down until someone starts it.
      record.wanted = 'down';
      this.host.log.info(`${record.id}: ${next} (restart=${restart}); left down`);
      this.host.note(
        record,
        'down',
        `${next === 'exited' ? 'a clean exit' : 'a failure'}: restart=${restart} leaves it down (${next})`,
      );
      this.settleStopped(record, next);
      return;
    }
    // A run that never became a working daemon (not ready in time, its exec failed or never
    // ended) did not run well, however long that took: its back-off grows.
    const failedStart = record.lastExit?.error !== undefined && !record.lastExit.unhealthy;
    const ranMs = failedStart || record.begunAt === undefined ? 0 : at - record.begunAt;
    record.cooldownMs = cooldownAfterExit(this.host.backoff(record), record.cooldownMs, ranMs);
    this.scheduleRespawn(record, record.cooldownMs - (Date.now() - at));
  }

  /**
   * A start that failed before the daemon ran (its log cannot be opened, fork failed) is
   * tried again after a cooldown, as a quick exit would be. Retrying at once would call
   * spawn from spawn until the stack overflows, since the cause is usually still there.
   */
  private retryLater(record: DaemonRecord): void {
    record.cooldownMs = cooldownAfterExit(this.host.backoff(record), record.cooldownMs, 0);
    this.scheduleRespawn(record, Math.max(record.cooldownMs, MIN_RETRY_MS));
  }

  private scheduleRespawn(record: DaemonRecord, delayMs: number): void {
    record.respawns++;
    if (delayMs <= 0) {
      this.host.note(record, 'cooldown', 'respawning at once');
      this.spawn(record);
      return;
    }
    const until = Date.now() + delayMs;
    this.setState(record, { kind: 'coolingdown', until });
    const seconds =
      delayMs < 10_000 ? (delayMs / 1000).toFixed(1) : String(Math.round(delayMs / 1000));
    this.host.log.info(`${record.id}: cooling down for ${seconds}s`);
    this.host.note(
      record,
      'cooldown',
      `cooling down for ${formatElapsed(delayMs)} (back-off step ${formatElapsed(record.cooldownMs)})`,
    );
    this.setTimer(record, delayMs, () => this.spawn(record));
  }

  private beginStopping(
    record: DaemonRecord,
    run: number,
    pid: number,
    mainAlive: boolean,
    empty: boolean,
    afterwards: AfterStop,
    former = false,
  ): void {
    const deadline = Date.now() + this.host.stopTimeoutMs(record);
    this.setState(record, {
      kind: 'stopping',
      run,
      pid,
      mainAlive,
      empty,
      deadline,
      killed: false,
      afterwards,
      ...(former ? { former: true as const } : {}),
    });
    // The deadline is armed before anything else can go wrong: a stop always ends.
    this.setTimer(record, deadline - Date.now(), () => this.checkStopping(record, true));
    const then = { 'stay-stopped': '', start: ', to start it again', respawn: ', to respawn it' };
    const why = this.wantedBeforeShutdown === undefined ? '' : SHUTDOWN_SAID;
    // Another account's run: said in the manager's log only (see DaemonState `former`).
    if (former)
      this.host.log.info(
        `${record.id}: stopping pid ${pid} of the account that had this name before (SIGTERM)${then[afterwards]}`,
      );
    else
      this.host.note(
        record,
        'stop',
        mainAlive
          ? `stopping pid ${pid} (SIGTERM)${then[afterwards]}${why}`
          : `stopping what pid ${pid} left behind (SIGTERM)${why}`,
      );
    this.termOnceSaved(record, run);
  }

  /**
   * The stop's SIGTERM, once the state that says the daemon is stopping (wanted down, or to
   * start again, its SIGTERM not sent) is on disk with the history that says who stopped
   * it, or their save failed; STOP_SAVED_MS at most. Sent first, a kill -9 of the manager
   * before the next save had the next manager take the run for running and wanted up: a
   * daemon that ended at its SIGTERM taken for crashed and respawned, one that ignored it
   * never killed, and `why` silent (an outside review, 77b, F1: 9 of 16 kills 0-3 ms after
   * the SIGTERM). The stop's timeout counts from its SIGTERM.
   */
  private termOnceSaved(record: DaemonRecord, run: number): void {
    const send = (): void => {
      this.sendTerm(record, run);
      // A stopped (SIGSTOP) process only sees SIGTERM once it is continued.
      this.sendQuietly(run, 'SIGCONT');
    };
    const saved = this.host.stopSaved?.();
    if (saved === undefined) {
      send();
      return;
    }
    const decided = Date.now();
    void Promise.race([saved, delay(STOP_SAVED_MS, undefined, { ref: false })]).then(() => {
      const now = record.state;
      // Ended meanwhile, or past its deadline (a stop_timeout shorter than the wait).
      if (now.kind !== 'stopping' || now.run !== run || now.killed !== false) return;
      const waited = Date.now() - decided;
      if (waited > 0) {
        const deadline = now.deadline + waited;
        this.setState(record, { ...now, deadline });
        this.setTimer(record, deadline - Date.now(), () => this.checkStopping(record, true));
      }
      send();
    });
  }

  /** The stop's SIGTERM; its answer is noted (`termedAt`) to say a silent keeper right. */
  private sendTerm(record: DaemonRecord, run: number): void {
    void this.host.processes.signal(run, SIGNAL_NUMBERS.SIGTERM ?? 15).then((answer) => {
      // No answer (the keeper gone): not carried out, as far as anyone knows.
      if (answer.lost !== true) this.noteTermAnswered(record, run);
    });
  }

  private sendQuietly(run: number, signal: NodeJS.Signals): void {
    void this.host.processes.signal(run, SIGNAL_NUMBERS[signal] ?? 0);
  }

  /**
   * Ends the stop once nothing of the run is left; `due`: its deadline's timer, the only
   * one that acts on the deadline (SIGKILL, then giving up). An event read after the
   * deadline passed (a stalled manager reads the keeper's reports late, one at a time)
   * is no verdict: the run's exit came with its processes still there, their end in the
   * next report, and a run SIGKILLed in time was said to be still there after it.
   */
  private checkStopping(record: DaemonRecord, due = false): void {
    const { state } = record;
    if (state.kind !== 'stopping') return;
    if (!state.mainAlive && state.empty) {
      this.finishStopping(record);
      return;
    }
    if (!due) return;
    const now = Date.now();
    if (now < state.deadline) {
      // Early: a timer may fire a millisecond before the wall clock says so.
      this.setTimer(record, state.deadline - now, () => this.checkStopping(record, true));
      return;
    }
    if (state.killed === 'asked') {
      this.sayKeeperSilent(record, state);
      return;
    }
    if (state.killed === 'answered') {
      const who = state.pid === 0 ? 'what survived of its run' : `processes of pid ${state.pid}`;
      this.host.log.error(
        `${record.id}: ${who} still there ${KILL_GRACE_MS / 1000} s after SIGKILL (a process in uninterruptible sleep, waiting on a hung disk or network file system, dies only once it wakes; on an overloaded machine dying can take that long); no longer waiting for them (the keeper keeps the run until they are gone, and kills what is left when it quits)`,
      );
      // Said where dmctl looks too: `why` said "stopped" and `stop --wait` succeeded while
      // the process was still there (an outside review, 18c 6).
      // A run taken over with no main process (its keeper was killed too) is named by a
      // process its cgroup holds: `unkilled: [0]` named nothing (an outside review, 20b).
      const pid = state.pid === 0 ? (this.host.processes.memberOf?.(state.run) ?? 0) : state.pid;
      // Once: a run the memory lowering's SIGKILL left stuck is marked already (an outside
      // review, 23b: `unkilled: [P, P]`).
      if (!record.unkilled.some((left) => left.run === state.run))
        record.unkilled.push({ run: state.run, pid });
      this.host.note(
        record,
        'stop',
        `${who} still there ${KILL_GRACE_MS / 1000} s after SIGKILL (uninterruptible sleep, as on a hung file system?): stopped without them; they end when they wake`,
      );
      // Not released: the keeper must know them for as long as they are there.
      this.finishStopping(record, false);
      return;
    }
    void this.host.processes
      .signal(state.run, SIGNAL_NUMBERS.SIGKILL ?? 9)
      .then(({ reached }) => this.noteKillAnswered(record, state, reached, now));
    this.setState(record, { ...state, killed: 'asked', deadline: now + KILL_GRACE_MS });
    this.setTimer(record, KILL_GRACE_MS, () => this.checkStopping(record, true));
  }

  /**
   * The keeper carried out the SIGKILL of the stop timeout: the give-up's KILL_GRACE_MS
   * count from now. Said once the keeper answers, and only if the SIGKILL reached a
   * process: its answer comes after the reports it sent before, and libuv runs the
   * deadline's timer before it polls, so after a stall of the manager a run that ended in
   * time (its exit still unread) was said to be killed. Counted from the request, a keeper
   * stalled (SIGSTOP, a starved CPU) past them had the run given up on, the daemon said
   * stopped while it ran on, and its SIGKILL logged after that (an outside review, 5 of 5).
   */
  private noteKillAnswered(
    record: DaemonRecord,
    stop: Extract<DaemonRecord['state'], { kind: 'stopping' }>,
    reached: number,
    asked: number,
  ): void {
    const now = record.state;
    if (now.kind === 'stopping' && now.run === stop.run) {
      this.setState(record, {
        ...now,
        killed: 'answered',
        deadline: Date.now() + KILL_GRACE_MS,
        ...(reached > 0 ? { sigkilled: true as const } : {}),
      });
      this.setTimer(record, KILL_GRACE_MS, () => this.checkStopping(record, true));
    }
    if (reached === 0) return;
    const waited = Date.now() - asked;
    const late =
      waited < KILL_GRACE_MS
        ? ''
        : ` (the keeper carried it out only after ${formatElapsed(waited)})`;
    this.host.log.warn(`${record.id}: still running after the stop timeout; sent SIGKILL${late}`);
    // At the time it was asked for when the keeper answered at once: said at the answer,
    // it came after the end it caused, which the keeper stamps when it reaps (an outside
    // review, 73a, F3: 4 of 13). One carried out late is said when it was.
    if (!stop.former)
      this.host.note(record, 'stop', `${KILL_SAID}${late}`, late ? undefined : asked);
  }

  /**
   * The keeper carried out the stop's SIGTERM: its silence later is said as the SIGKILL's
   * alone, and a manager taking the stop over sends no second one (saved).
   */
  private noteTermAnswered(record: DaemonRecord, run: number): void {
    const now = record.state;
    if (now.kind !== 'stopping' || now.run !== run || now.termedAt !== undefined) return;
    this.setState(record, { ...now, termedAt: Date.now() });
    // Saved now: with the next batch (up to a second), a kill -9 of the manager meanwhile
    // had the next one send the SIGTERM again (an outside review, 74b, F2: 31 of 32 kills
    // 5 ms to 1 s into a shutdown). Saved as sent before it went out, a kill -9 in between
    // (a run's cgroup is frozen for it, some milliseconds) left the run with no SIGTERM
    // at all (75b, F4): a second one, in the milliseconds of this save, is the lesser harm.
    this.host.saveSoon?.();
  }

  /** The keeper has not answered the stop's SIGKILL for KILL_GRACE_MS: said, then waited for. */
  private sayKeeperSilent(
    record: DaemonRecord,
    state: Extract<DaemonRecord['state'], { kind: 'stopping' }>,
  ): void {
    const pid = this.host.processes.keeperPid;
    // A keeper stopped before the stop began carried out neither signal: say both.
    const what =
      state.termedAt !== undefined
        ? `for ${KILL_GRACE_MS / 1000} s the SIGKILL of the stop timeout`
        : `the stop's SIGTERM, nor for ${KILL_GRACE_MS / 1000} s its SIGKILL`;
    const text = `the keeper of daemons (dm-keeper, pid ${pid}) has not answered ${what}: is it stopped (kill -CONT ${pid}) or starved of CPU? Still stopping, until it carries it out`;
    this.host.log.error(`${record.id}: ${text}`);
    if (!state.former) this.host.note(record, 'stop', text);
  }

  /** The stop is over; the run is released unless something of it may be left (`release`). */
  private finishStopping(record: DaemonRecord, release = true): void {
    const { state } = record;
    if (state.kind !== 'stopping') return;
    this.clearTimer(record);
    if (release) this.host.processes.release(state.run);
    if (state.mainExit !== undefined) this.noteRestEnded(record, state, release);
    if (state.afterwards === 'respawn') {
      this.afterExit(record);
      return;
    }
    if (state.afterwards === 'start' && record.wanted === 'up') {
      // Started by no one's explicit start (its autostart, once an old run it waited for
      // is gone): its total counts from now (an outside review, 45b, F7: 0s for good).
      // After the old account's run, from now too, a start typed meanwhile or not: that
      // wait was no run of the daemon's (47b, F5; 48a, F4: 45 s for a run of 4 s).
      if (state.former) record.startedAt = Date.now();
      else record.startedAt ??= Date.now();
      this.spawn(record);
      return;
    }
    this.settleStopped(record);
  }

  /**
   * The daemon's exit, once the rest of a run whose main process ended first is gone: by
   * the SIGKILL of the stop timeout if it reached them, else as the main process ended.
   */
  private noteRestEnded(
    record: DaemonRecord,
    state: Extract<DaemonRecord['state'], { kind: 'stopping' }>,
    gone: boolean,
  ): void {
    if (!gone || state.sigkilled !== true) {
      record.lastExit = state.mainExit;
      return;
    }
    record.lastExit = { code: null, signal: 'SIGKILL' };
    const after =
      record.begunAt === undefined ? '' : ` after ${formatElapsed(Date.now() - record.begunAt)}`;
    // Of a survivor taken over, its main process not known (pid 0): what survived of it.
    const rest =
      state.pid === 0 ? 'what survived of its run' : `the rest of pid ${state.pid}'s run`;
    this.host.log.info(`${record.id}: ${rest} killed by SIGKILL`);
    this.host.note(record, 'exit', `${rest} killed by SIGKILL${after}, while stopping`);
  }

  private settleStopped(record: DaemonRecord, ended?: Ended): void {
    const { state } = record;
    // The old account's run stopped: nothing of this daemon's was.
    const former = state.kind === 'stopping' && state.former === true;
    if (ended === undefined && state.kind !== 'stopped' && !former)
      this.host.note(record, 'stop', 'stopped');
    this.setState(record, ended === undefined ? { kind: 'stopped' } : { kind: 'stopped', ended });
    if (record.orphaned) this.dropOrphan(record);
    this.notifyIfIdle(record);
  }

  /**
   * An orphaned daemon, stopped, is forgotten; not while processes of its runs that SIGKILL
   * has not ended remain (`unkilled`): they vanished from `status` while they still held
   * the user's memory (an outside review, 20a). Then, once they are gone (see unkilledGone).
   * The old account's daemon of a name goes at once: nothing of it is shown to the new one.
   */
  private dropOrphan(record: DaemonRecord): void {
    if (record.unkilled.length > 0 && record.formerUid === undefined) return;
    this.drop(record);
  }

  private drop(record: DaemonRecord): void {
    // Once: a stop that ends while `forget` waits (dmctl's stop of a deleted file) drops
    // it before `forget` looks (an outside review saw `forgotten` logged twice).
    if (this.daemons.get(record.id) !== record) return;
    this.clearTimer(record);
    this.daemons.delete(record.id);
    this.host.forgotten(record);
  }

  private setState(record: DaemonRecord, state: DaemonRecord['state']): void {
    record.state = state;
    this.host.changed(record);
    for (const check of [...(this.stateWatchers.get(record) ?? [])]) check();
  }

  /**
   * Acts on no timer (a respawn after its cooldown, a stop's deadline) until `resume`: in
   * an upgrade the daemons are the new manager's once this one has let go, and a respawn
   * here would fail for want of the keeper and count against the daemon.
   */
  pause(): void {
    this.held ??= new Map();
  }

  /** Acts on what came due meanwhile, then on each timer as it comes. */
  resume(): void {
    const held = this.held;
    this.held = undefined;
    for (const action of held?.values() ?? []) action();
  }

  /**
   * Acts once `ms` have passed, judged after the event loop's next poll: libuv runs
   * expired timers before it polls, so after a stall of the manager (SIGSTOP, a starved
   * CPU, a long synchronous call) a stop's deadline came before the keeper's report that
   * the run had ended in time, still unread: a run SIGKILLed in time was said to be still
   * there 5 s after it (see failOnSilence). An event read by that poll that settles the
   * daemon clears the timer, and the action is dropped.
   */
  private setTimer(record: DaemonRecord, ms: number, action: () => void): void {
    this.clearTimer(record);
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (record.timer !== timer) return;
        record.timer = undefined;
        if (this.held === undefined) action();
        else this.held.set(record, action);
      });
    }, ms);
    record.timer = timer;
  }

  private clearTimer(record: DaemonRecord): void {
    if (record.timer !== undefined) clearTimeout(record.timer);
    record.timer = undefined;
    this.held?.delete(record);
  }

  /** Tells those waiting once every daemon is stopped; `stopped`: the one that just did. */
  private notifyIfIdle(stopped?: DaemonRecord): void {
    if (this.idleWaiters.length === 0) return;
    if (stopped !== undefined) this.unstopped?.delete(stopped);
    if (this.unstopped !== undefined && this.unstopped.size > 0) return;
    // Every daemon is looked at again when those known are done: one started meanwhile
    // is found here.
    this.unstopped = new Set();
    for (const record of this.daemons.values())
      if (record.state.kind !== 'stopped') this.unstopped.add(record);
    if (this.unstopped.size > 0) return;
    this.unstopped = undefined;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
