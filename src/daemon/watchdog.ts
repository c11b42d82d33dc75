import { formatElapsed } from '../supervisor/elapsed.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';

interface Armed {
  readonly run: number;
  timer: NodeJS.Timeout;
  /** A WATCHDOG=1 came since the deadline was last looked at. */
  pinged: boolean;
  /** When its socket's pause ends, if the deadline waits for that (once, until a ping). */
  deferredTo: number | undefined;
}

/**
 * `watchdog=`: once a run is ready, each `WATCHDOG=1` it sends puts its deadline off by
 * the watchdog's length; a deadline reached is a hung daemon (noteUnhealthy), as under
 * systemd's WatchdogSec=. One timer per watched daemon, refreshed in place by a ping,
 * and none for a daemon without the key: an idle manager without watchdogs never wakes.
 *
 * A deadline reached is judged only after the daemon's socket is read (`readQueued`):
 * libuv runs expired timers before it polls sockets, so after any stall of the manager
 * as long as the watchdog (SIGSTOP, a starved CPU, a slow synchronous call, another
 * user's load) healthy daemons of every user were restarted while their pings waited
 * unread (an outside review).
 */
export class Watchdogs {
  private readonly armed = new Map<string, Armed>();
  private readonly supervisor: () => Supervisor;
  private readonly readQueued: (record: DaemonRecord) => number | undefined;

  /** `readQueued` reads the run's socket: undefined, or how long until a pause of it ends. */
  constructor(
    supervisor: () => Supervisor,
    readQueued: (record: DaemonRecord) => number | undefined,
  ) {
    this.supervisor = supervisor;
    this.readQueued = readQueued;
  }

  /** Arms the watchdog of a ready run, or disarms it once the run is no longer that. */
  sync(record: DaemonRecord): void {
    const { state } = record;
    const ms = record.spec.watchdogMs;
    const watched = ms !== undefined && state.kind === 'running' && state.starting !== true;
    const current = this.armed.get(record.id);
    if (watched && current?.run === state.run) return;
    if (current !== undefined) {
      clearTimeout(current.timer);
      this.armed.delete(record.id);
    }
    if (!watched) return;
    const { run } = state;
    const timer = setTimeout(() => this.expire(record, run, ms), ms);
    this.armed.set(record.id, { run, timer, pinged: false, deferredTo: undefined });
  }

  /** `WATCHDOG=1` from the run: its deadline starts again. Pings before it is ready do nothing. */
  ping(record: DaemonRecord, run: number): void {
    const current = this.armed.get(record.id);
    if (current?.run !== run) return;
    current.pinged = true;
    if (current.deferredTo === undefined) {
      current.timer.refresh();
      return;
    }
    // The timer waits for a pause's end, not a full period: a ping starts one again.
    current.deferredTo = undefined;
    clearTimeout(current.timer);
    const ms = record.spec.watchdogMs ?? 0;
    current.timer = setTimeout(() => this.expire(record, run, ms), ms);
  }

  /** Disarms every watchdog (the manager is going away). */
  clear(): void {
    for (const { timer } of this.armed.values()) clearTimeout(timer);
    this.armed.clear();
  }

  /**
   * The deadline is reached: a ping waiting unread puts it off, else the run is hung. A
   * socket paused for a rate is looked at once more when the pause ends: the backlog of a
   * stall, read at once, can pass the user's rate, and its ping must not wait unread.
   */
  private expire(record: DaemonRecord, run: number, ms: number): void {
    const current = this.armed.get(record.id);
    if (current?.run !== run) return;
    current.pinged = false;
    const pausedMs = this.readQueued(record);
    // What was read may have ended the run or its watch (WATCHDOG=trigger, STOPPING=1).
    if (this.armed.get(record.id) !== current) return;
    clearTimeout(current.timer);
    if (current.pinged) {
      current.deferredTo = undefined;
      current.timer = setTimeout(() => this.expire(record, run, ms), ms);
      return;
    }
    if (pausedMs !== undefined) current.deferredTo ??= Date.now() + pausedMs;
    // Timers are set on the loop's clock, which lags while many run after a stall: the
    // wall clock says whether that pause is over.
    const waitMs = (current.deferredTo ?? 0) - Date.now();
    if (waitMs >= 0) {
      current.timer = setTimeout(() => this.expire(record, run, ms), waitMs + 1);
      return;
    }
    this.armed.delete(record.id);
    const reason = `no WATCHDOG=1 for ${formatElapsed(ms)} (watchdog=${formatElapsed(ms)})`;
    this.supervisor().noteUnhealthy(record, run, reason);
  }
}
