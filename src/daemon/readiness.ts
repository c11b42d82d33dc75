import { setTimeout as delay } from 'node:timers/promises';
import { DEFAULT_READY_TIMEOUT_MS, describeReadyCheck, type HealthCheck } from '../config/ready.ts';
import { formatElapsed } from '../supervisor/elapsed.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import { probe } from './probe.ts';
import type { KeeperProcesses } from './processes.ts';

/** One check never takes longer than this; the next waits from 100 ms up to a second. */
const PROBE_MS = 5_000;
/**
 * A run taken over (an upgrade, a start after a crash of the manager) is given what is
 * left of its ready_timeout, counted from its start, but at least this much: time for a
 * check to pass, or for a READY=1 sent while no manager read it to be read.
 */
const TAKEOVER_GRACE_MS = 3_000;
const FIRST_PAUSE_MS = 100;
const MAX_PAUSE_MS = 1_000;

/**
 * Checks a starting daemon's `ready=` until it passes (noteReady) or its ready_timeout
 * is over (noteNotReady), and gives up as soon as that run is no longer starting (it
 * exited, was stopped). See probe.ts for who makes each check. `ready=notify` is not
 * checked at all: the daemon's `READY=1` comes through the notify socket (notify-hub.ts),
 * and only its deadline is kept here, as one timer.
 */
export class Readiness {
  private readonly supervisor: () => Supervisor;
  private readonly processes: KeeperProcesses;
  /** Reads the run's notify socket: undefined, or how long until a pause of it ends. */
  private readonly readQueued: (record: DaemonRecord) => number | undefined;
  /** The ready_timeout of each daemon waiting for READY=1, by id. */
  private readonly deadlines = new Map<string, NodeJS.Timeout>();

  constructor(
    supervisor: () => Supervisor,
    processes: KeeperProcesses,
    readQueued: (record: DaemonRecord) => number | undefined,
  ) {
    this.supervisor = supervisor;
    this.processes = processes;
    this.readQueued = readQueued;
  }

  /**
   * Starts checking the run (one loop per run; it ends by itself), until its ready_timeout
   * after `since` (when its program began): a run taken over keeps the time it had used.
   */
  watch(record: DaemonRecord, run: number, since = Date.now()): void {
    const check = record.spec.ready;
    if (check === undefined) return;
    const timeoutMs = record.spec.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    const now = Date.now();
    const leftMs = Math.max(since + timeoutMs - now, Math.min(timeoutMs, TAKEOVER_GRACE_MS));
    const left = Math.min(timeoutMs, leftMs);
    if (check.kind === 'notify') this.awaitNotify(record, run, timeoutMs, left);
    else void this.loop(record, run, check, timeoutMs, left);
  }

  /**
   * The ready_timeout of a `ready=notify` run. A READY=1 sent in time may wait unread:
   * libuv runs expired timers before it polls, so after a stall of the manager the
   * deadline came first (see Watchdogs); the socket is read before the verdict, and a
   * socket paused for a rate (a stall's backlog read at once) once more when that ends.
   */
  private awaitNotify(
    record: DaemonRecord,
    run: number,
    timeoutMs: number,
    leftMs: number,
    deferredTo?: number,
  ): void {
    const timer = setTimeout(() => {
      this.deadlines.delete(record.id);
      const pausedMs = isStarting(record, run) ? this.readQueued(record) : undefined;
      if (!isStarting(record, run)) return;
      // When the pause ends by the wall clock: timers lag while many run after a stall.
      const until = deferredTo ?? (pausedMs === undefined ? 0 : Date.now() + pausedMs);
      if (Date.now() <= until) {
        this.awaitNotify(record, run, timeoutMs, until - Date.now() + 1, until);
        return;
      }
      const reason = `not ready after ${formatElapsed(timeoutMs)} (notify: no READY=1)`;
      this.supervisor().noteNotReady(record, run, reason);
    }, leftMs);
    clearTimeout(this.deadlines.get(record.id));
    this.deadlines.set(record.id, timer);
  }

  /** The daemon is not starting any more: its notify deadline, if any, goes (no wake-up for nothing). */
  settle(record: DaemonRecord): void {
    if (record.state.kind === 'running' && record.state.starting) return;
    clearTimeout(this.deadlines.get(record.id));
    this.deadlines.delete(record.id);
  }

  private async loop(
    record: DaemonRecord,
    run: number,
    check: HealthCheck,
    timeoutMs: number,
    leftMs: number,
  ): Promise<void> {
    let deadline = Date.now() + leftMs;
    let waited = 0;
    let pause = FIRST_PAUSE_MS;
    while (isStarting(record, run)) {
      const { passed: ready, waitedMs } = await probe(
        this.processes,
        record,
        run,
        check,
        Math.min(PROBE_MS, deadline - Date.now()),
      );
      // Waiting for its user's turn (many checks of theirs at once) is not the daemon's
      // slowness: a fleet of 1,000 checked at start would otherwise fail ready_timeout.
      deadline += waitedMs;
      waited += waitedMs;
      if (!isStarting(record, run)) return;
      if (ready) {
        this.supervisor().noteReady(record, run);
        return;
      }
      if (Date.now() >= deadline) {
        // Said as it was: a review read "after 3s" 117 s after the start.
        const queued =
          waited > 0 ? `, and ${formatElapsed(waited)} waiting for its user's other checks` : '';
        const reason = `not ready after ${formatElapsed(timeoutMs)}${queued} (${describeReadyCheck(check)})`;
        this.supervisor().noteNotReady(record, run, reason);
        return;
      }
      const pauseMs = Math.max(1, Math.min(pause, deadline - Date.now()));
      const pausedAt = Date.now();
      await delay(pauseMs);
      // Nor is a stall of the manager (a starved CPU, another user's load): a pause that
      // ended late would leave the next check a millisecond, killed before it could pass,
      // though the daemon became ready meanwhile.
      deadline += Math.max(0, Date.now() - pausedAt - pauseMs);
      pause = Math.min(MAX_PAUSE_MS, pause * 2);
    }
  }
}

function isStarting(record: DaemonRecord, run: number): boolean {
  const { state } = record;
  return state.kind === 'running' && state.run === run && state.starting === true;
}
