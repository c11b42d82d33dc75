import { formatElapsed } from '../supervisor/elapsed.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';

interface Armed {
  readonly run: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * `watchdog=`: once a run is ready, each `WATCHDOG=1` it sends puts its deadline off by
 * the watchdog's length; a deadline reached is a hung daemon (noteUnhealthy), as under
 * systemd's WatchdogSec=. One timer per watched daemon, refreshed in place by a ping,
 * and none for a daemon without the key: an idle manager without watchdogs never wakes.
 */
export class Watchdogs {
  private readonly armed = new Map<string, Armed>();
  private readonly supervisor: () => Supervisor;

  constructor(supervisor: () => Supervisor) {
    this.supervisor = supervisor;
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
    const timer = setTimeout(() => {
      this.armed.delete(record.id);
      const reason = `no WATCHDOG=1 for ${formatElapsed(ms)} (watchdog=${formatElapsed(ms)})`;
      this.supervisor().noteUnhealthy(record, run, reason);
    }, ms);
    this.armed.set(record.id, { run, timer });
  }

  /** `WATCHDOG=1` from the run: its deadline starts again. Pings before it is ready do nothing. */
  ping(record: DaemonRecord, run: number): void {
    const current = this.armed.get(record.id);
    if (current?.run === run) current.timer.refresh();
  }

  /** Disarms every watchdog (the manager is going away). */
  clear(): void {
    for (const { timer } of this.armed.values()) clearTimeout(timer);
    this.armed.clear();
  }
}
