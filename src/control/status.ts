import type { DaemonStatus } from '../protocol/messages.ts';
import type { DaemonRecord } from '../supervisor/state.ts';

/** One status row of a daemon at time `now` (ms). */
export function statusOf(record: DaemonRecord, now: number): DaemonStatus {
  const { state } = record;
  const seconds = (ms: number): number => Math.max(0, Math.floor(ms / 1000));
  const alive = state.kind === 'running' || state.kind === 'stopping';
  const lastExit = describeExit(record);
  const exit = record.lastExit;
  return {
    id: record.id,
    user: record.owner,
    name: record.spec.name,
    state: state.kind,
    wanted: record.wanted,
    pid: state.kind === 'running' || state.kind === 'stopping' ? state.pid : 0,
    respawns: record.respawns,
    cooldown: state.kind === 'coolingdown' ? Math.max(0, Math.ceil((state.until - now) / 1000)) : 0,
    cooldownStep: seconds(record.cooldownMs),
    // As the original: both count only while the daemon has a process.
    uptime: alive && record.spawnedAt !== undefined ? seconds(now - record.spawnedAt) : 0,
    total: alive && record.startedAt !== undefined ? seconds(now - record.startedAt) : 0,
    runAs: record.spec.runAs ?? record.owner,
    output: record.spec.output,
    ...(lastExit === undefined ? {} : { lastExit }),
    ...(exit?.error === undefined && typeof exit?.code === 'number'
      ? { lastExitCode: exit.code }
      : {}),
    ...(exit?.error === undefined && exit?.signal ? { lastExitSignal: exit.signal } : {}),
  };
}

function describeExit(record: DaemonRecord): string | undefined {
  const exit = record.lastExit;
  if (exit === undefined) return undefined;
  if (exit.error !== undefined) return exit.error;
  return exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`;
}
