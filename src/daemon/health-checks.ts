import type { HealthSpec } from '../config/health.ts';
import { describeReadyCheck } from '../config/ready.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import { probe } from './probe.ts';
import type { KeeperProcesses } from './processes.ts';

/**
 * `health=`: while a run is ready, its check is made every `health_interval` (counted
 * from the end of the last one, so checks never pile up), each given `health_timeout`;
 * `health_retries` failures in a row make it unhealthy (noteUnhealthy). The first check
 * comes one interval after the run is ready. One timer per checked daemon, none for the
 * others: a manager without health checks never wakes up for them.
 */
export class HealthChecks {
  private readonly timers = new Map<string, { run: number; timer: NodeJS.Timeout }>();
  private readonly supervisor: () => Supervisor;
  private readonly processes: KeeperProcesses;
  private readonly note: (record: DaemonRecord, text: string) => void;

  constructor(
    supervisor: () => Supervisor,
    processes: KeeperProcesses,
    note: (record: DaemonRecord, text: string) => void,
  ) {
    this.supervisor = supervisor;
    this.processes = processes;
    this.note = note;
  }

  /** Starts checking a ready run, or stops once the run is no longer that. */
  sync(record: DaemonRecord): void {
    const { state } = record;
    const spec = record.spec.health;
    const checked = spec !== undefined && state.kind === 'running' && state.starting !== true;
    const current = this.timers.get(record.id);
    if (checked && current?.run === state.run) return;
    if (current !== undefined) {
      clearTimeout(current.timer);
      this.timers.delete(record.id);
    }
    if (!checked) return;
    record.health = { run: state.run, failures: 0, checked: false };
    this.schedule(record, state.run, spec);
  }

  /** Stops every check (the manager is going away). */
  clear(): void {
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private schedule(record: DaemonRecord, run: number, spec: HealthSpec): void {
    const timer = setTimeout(() => void this.check(record, run, spec), spec.intervalMs);
    this.timers.set(record.id, { run, timer });
  }

  private async check(record: DaemonRecord, run: number, spec: HealthSpec): Promise<void> {
    const { passed } = await probe(this.processes, record, run, spec.check, spec.timeoutMs);
    const health = record.health;
    // The run ended, or the spec changed, while the check was under way.
    if (this.timers.get(record.id)?.run !== run || health?.run !== run) return;
    const what = describeReadyCheck(spec.check);
    health.checked = true;
    if (passed) {
      if (health.failures > 0) this.note(record, `healthy again (${what})`);
      health.failures = 0;
      this.schedule(record, run, spec);
      return;
    }
    health.failures++;
    this.note(record, `health check failed (${what}), ${health.failures} of ${spec.retries}`);
    if (health.failures < spec.retries) {
      this.schedule(record, run, spec);
      return;
    }
    this.timers.delete(record.id);
    this.supervisor().noteUnhealthy(
      record,
      run,
      `${spec.retries} health check${spec.retries === 1 ? '' : 's'} failed in a row (${what})`,
    );
  }
}
