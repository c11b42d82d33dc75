import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../logging/logger.ts';
import { type Exit, type LaunchPlan, launch } from '../process/launch.ts';
import { type ProcessScope, scopeHasLiveMembers, signalScope } from '../process/process-group.ts';
import { type BackoffPolicy, cooldownAfterExit } from './backoff.ts';
import type { AfterStop, DaemonRecord } from './state.ts';

/** A launch made ready by the host: the plan, and what to release once it is spawned. */
export type Prepared =
  | {
      readonly ok: true;
      readonly plan: LaunchPlan;
      /** Called with the new process, to connect its output to the log. */
      readonly started: (child: ChildProcess) => void;
    }
  /** `retry`: a passing fault (a full disk) worth a respawn later; else a refusal. */
  | { readonly ok: false; readonly error: string; readonly retry: boolean };

/** What the supervisor needs from the rest of the manager. */
export interface SupervisorHost {
  prepare(record: DaemonRecord): Prepared;
  stopTimeoutMs(record: DaemonRecord): number;
  /** The daemon's cgroup directory, where cgroups are available. */
  cgroupOf(record: DaemonRecord): string | undefined;
  readonly backoff: BackoffPolicy;
  readonly log: Logger;
  /** Called after every change of a daemon's state (to persist it, for instance). */
  changed(record: DaemonRecord): void;
  /** Called when an orphaned daemon has stopped and been forgotten. */
  forgotten(record: DaemonRecord): void;
}

export type Outcome =
  | { readonly ok: true; readonly message: string }
  | { readonly ok: false; readonly error: string };

// While a stopping group has no main process to wait for, it is looked at this often.
const GROUP_POLL_MS = 50;
// A start that failed is not retried sooner than this, whatever the cooldown settings.
const MIN_RETRY_MS = 1_000;
// After SIGKILL, a group that still has members (stuck in the kernel) is given up on after this.
const KILL_GRACE_MS = 5_000;

/**
 * Keeps each daemon's actual state moving towards its wanted state: starts, respawns
 * with back-off, stops whole process groups with SIGTERM then SIGKILL. Every event (a
 * command, an exit, a timer) is handled to completion on the event loop.
 */
export class Supervisor {
  readonly daemons = new Map<string, DaemonRecord>();
  private readonly idleWaiters: (() => void)[] = [];
  /** The pids of the daemons' main processes, kept with each state change. */
  private readonly mainPids = new Set<number>();

  private readonly host: SupervisorHost;

  constructor(host: SupervisorHost) {
    this.host = host;
  }

  /** Wants the daemon up; starts it now, even from a cooldown. */
  start(record: DaemonRecord): Outcome {
    const { state } = record;
    record.wanted = 'up';
    if (state.kind === 'running') return { ok: true, message: `${record.id} is already running` };
    record.respawns = 0;
    record.cooldownMs = 0;
    record.startedAt = Date.now();
    if (state.kind === 'stopping') {
      this.setState(record, { ...state, afterwards: 'start' });
      return { ok: true, message: `${record.id} will start once its old processes are gone` };
    }
    this.clearTimer(record);
    return this.spawn(record);
  }

  /** Wants the daemon down; signals its process group. */
  stop(record: DaemonRecord): Outcome {
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
        this.beginStopping(record, state.pid, true, 'stay-stopped');
        return { ok: true, message: `${record.id} is stopping` };
    }
  }

  /** Stops the daemon if it runs, then starts it afresh. */
  restart(record: DaemonRecord): Outcome {
    const { state } = record;
    if (state.kind !== 'running' && state.kind !== 'stopping') return this.start(record);
    record.wanted = 'up';
    record.respawns = 0;
    record.cooldownMs = 0;
    record.startedAt = Date.now();
    if (state.kind === 'running') this.beginStopping(record, state.pid, true, 'start');
    else this.setState(record, { ...state, afterwards: 'start' });
    return { ok: true, message: `${record.id} is restarting` };
  }

  /** Sends a signal to the daemon's whole process group. */
  signal(record: DaemonRecord, signal: NodeJS.Signals): Outcome {
    const { state } = record;
    const pgid = state.kind === 'running' ? state.pid : state.kind === 'stopping' ? state.pgid : 0;
    if (pgid === 0) return { ok: false, error: `${record.id} is not running (${state.kind})` };
    if (!signalScope(this.scope(record, pgid), signal))
      return { ok: false, error: `${record.id}: process group ${pgid} is gone` };
    this.host.log.info(`${record.id}: sent ${signal} to process group ${pgid}`);
    return { ok: true, message: `sent ${signal} to ${record.id} (process group ${pgid})` };
  }

  /** Adds a daemon without starting it. */
  register(record: DaemonRecord): void {
    this.daemons.set(record.id, record);
  }

  /**
   * Stops what a previous manager left running for this daemon (its process group, which
   * this manager cannot wait for), then starts it afresh if it is wanted: so there is
   * never a second copy of a daemon next to a survivor.
   */
  replaceSurvivor(record: DaemonRecord, pgid: number): void {
    this.host.log.warn(
      `${record.id}: process group ${pgid} survives from a previous manager; replacing it`,
    );
    this.beginStopping(record, pgid, false, record.wanted === 'up' ? 'start' : 'stay-stopped');
  }

  /** Forgets a daemon whose config is gone, now if stopped, else once it stops. */
  forget(record: DaemonRecord): void {
    record.orphaned = true;
    if (record.state.kind === 'coolingdown') this.stop(record);
    if (record.state.kind === 'stopped') this.drop(record);
  }

  /** Stops every daemon; resolves once none has a process left. */
  stopAll(): Promise<void> {
    for (const record of this.daemons.values()) this.stop(record);
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.notifyIfIdle();
    });
  }

  private spawn(record: DaemonRecord): Outcome {
    const prepared = this.prepareSafely(record);
    if (!prepared.ok) {
      record.lastExit = { code: null, signal: null, error: prepared.error };
      this.host.log.warn(`${record.id}: cannot start: ${prepared.error}`);
      if (prepared.retry) this.retryLater(record);
      else {
        record.wanted = 'down';
        this.settleStopped(record);
      }
      return { ok: false, error: `cannot start ${record.id}: ${prepared.error}` };
    }
    let pid = 0;
    const launched = launch(
      prepared.plan,
      (exit) => this.noteExit(record, pid, exit),
      (message) => this.host.log.error(`${record.id}: ${message}`),
    );
    if (!launched.ok) {
      record.lastExit = { code: null, signal: null, error: launched.error };
      this.host.log.error(`${record.id}: ${launched.error}`);
      this.retryLater(record);
      return { ok: false, error: `cannot start ${record.id}: ${launched.error}` };
    }
    pid = launched.pid;
    prepared.started(launched.child);
    record.spawnedAt = Date.now();
    this.setState(record, { kind: 'running', pid, since: record.spawnedAt });
    this.host.log.info(`${record.id}: started, pid ${pid}`);
    return { ok: true, message: `${record.id} started (pid ${pid})` };
  }

  /** Takes over a daemon process that a previous instance of the manager started. */
  adopt(record: DaemonRecord, pid: number, spawnedAt: number): void {
    record.spawnedAt = spawnedAt;
    this.setState(record, { kind: 'running', pid, since: spawnedAt });
  }

  /** Is `pid` the main process of a daemon (a child this manager waits for)? */
  isMainProcess(pid: number): boolean {
    return this.mainPids.has(pid);
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

  /** Handles the end of a daemon's main process. */
  noteExit(record: DaemonRecord, pid: number, exit: Exit): void {
    record.lastExit = exit;
    const { state } = record;
    const how = exit.signal ? `killed by ${exit.signal}` : `exited with status ${exit.code}`;
    if (state.kind === 'stopping' && state.pgid === pid) {
      this.host.log.info(`${record.id}: pid ${pid} ${how}`);
      this.setState(record, { ...state, mainAlive: false });
      this.checkStopping(record);
      return;
    }
    if (state.kind !== 'running' || state.pid !== pid) return;
    this.host.log.warn(`${record.id}: pid ${pid} ${how}`);
    // What the main process left in its group (php-cgi workers holding the old socket)
    // must go before a new main process starts.
    if (scopeHasLiveMembers(this.scope(record, pid)))
      this.beginStopping(record, pid, false, 'respawn');
    else this.afterExit(record);
  }

  private afterExit(record: DaemonRecord): void {
    if (record.wanted === 'down') {
      this.settleStopped(record);
      return;
    }
    const ranMs = Date.now() - (record.spawnedAt ?? 0);
    record.cooldownMs = cooldownAfterExit(this.host.backoff, record.cooldownMs, ranMs);
    this.scheduleRespawn(record, record.cooldownMs);
  }

  /**
   * A start that failed before the daemon ran (its log cannot be opened, fork failed) is
   * tried again after a cooldown, as a quick exit would be. Retrying at once would call
   * spawn from spawn until the stack overflows, since the cause is usually still there.
   */
  private retryLater(record: DaemonRecord): void {
    record.cooldownMs = cooldownAfterExit(this.host.backoff, record.cooldownMs, 0);
    this.scheduleRespawn(record, Math.max(record.cooldownMs, MIN_RETRY_MS));
  }

  private scheduleRespawn(record: DaemonRecord, delayMs: number): void {
    record.respawns++;
    if (delayMs === 0) {
      this.spawn(record);
      return;
    }
    const until = Date.now() + delayMs;
    this.setState(record, { kind: 'coolingdown', until });
    this.host.log.info(`${record.id}: cooling down for ${Math.round(delayMs / 1000)}s`);
    this.setTimer(record, delayMs, () => this.spawn(record));
  }

  private beginStopping(
    record: DaemonRecord,
    pgid: number,
    mainAlive: boolean,
    afterwards: AfterStop,
  ): void {
    const deadline = Date.now() + this.host.stopTimeoutMs(record);
    this.setState(record, {
      kind: 'stopping',
      pgid,
      mainAlive,
      deadline,
      killed: false,
      afterwards,
    });
    // The deadline is armed before anything else can go wrong: a stop always ends.
    this.setTimer(record, deadline - Date.now(), () => this.checkStopping(record));
    signalScope(this.scope(record, pgid), 'SIGTERM');
    // A stopped (SIGSTOP) process only sees SIGTERM once it is continued.
    signalScope(this.scope(record, pgid), 'SIGCONT');
    this.checkStopping(record);
  }

  private checkStopping(record: DaemonRecord): void {
    const { state } = record;
    if (state.kind !== 'stopping') return;
    if (!state.mainAlive && !scopeHasLiveMembers(this.scope(record, state.pgid))) {
      this.finishStopping(record);
      return;
    }
    const now = Date.now();
    if (now >= state.deadline) {
      if (state.killed) {
        this.host.log.error(
          `${record.id}: process group ${state.pgid} survives SIGKILL; giving up on it`,
        );
        this.finishStopping(record);
        return;
      }
      this.host.log.warn(`${record.id}: still running after the stop timeout; sending SIGKILL`);
      signalScope(this.scope(record, state.pgid), 'SIGKILL');
      this.setState(record, { ...state, killed: true, deadline: now + KILL_GRACE_MS });
    }
    const current = record.state as typeof state;
    // With the main process alive, its exit event wakes us; else only time can tell.
    const wait = current.mainAlive
      ? current.deadline - now
      : Math.min(GROUP_POLL_MS, current.deadline - now);
    this.setTimer(record, Math.max(1, wait), () => this.checkStopping(record));
  }

  private finishStopping(record: DaemonRecord): void {
    const { state } = record;
    if (state.kind !== 'stopping') return;
    this.clearTimer(record);
    if (state.afterwards === 'respawn') {
      this.afterExit(record);
      return;
    }
    if (state.afterwards === 'start' && record.wanted === 'up') {
      this.spawn(record);
      return;
    }
    this.settleStopped(record);
  }

  private settleStopped(record: DaemonRecord): void {
    this.setState(record, { kind: 'stopped' });
    if (record.orphaned) this.drop(record);
    this.notifyIfIdle();
  }

  private drop(record: DaemonRecord): void {
    this.clearTimer(record);
    this.daemons.delete(record.id);
    this.host.forgotten(record);
  }

  private scope(record: DaemonRecord, pgid: number): ProcessScope {
    return { pgid, cgroup: this.host.cgroupOf(record) };
  }

  private setState(record: DaemonRecord, state: DaemonRecord['state']): void {
    const mainPid = (s: DaemonRecord['state']): number | undefined =>
      s.kind === 'running' ? s.pid : s.kind === 'stopping' && s.mainAlive ? s.pgid : undefined;
    const before = mainPid(record.state);
    if (before !== undefined) this.mainPids.delete(before);
    const after = mainPid(state);
    if (after !== undefined) this.mainPids.add(after);
    record.state = state;
    this.host.changed(record);
  }

  private setTimer(record: DaemonRecord, ms: number, action: () => void): void {
    this.clearTimer(record);
    record.timer = setTimeout(() => {
      record.timer = undefined;
      action();
    }, ms);
  }

  private clearTimer(record: DaemonRecord): void {
    if (record.timer !== undefined) clearTimeout(record.timer);
    record.timer = undefined;
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.length === 0) return;
    for (const record of this.daemons.values()) if (record.state.kind !== 'stopped') return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
