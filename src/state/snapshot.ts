import type { DaemonRecord } from '../supervisor/state.ts';

/** What the manager persists of one daemon, enough to find its processes again. */
export interface SavedDaemon {
  readonly wanted: 'up' | 'down';
  /** The main process (and process group) if one ran, with its start time in clock ticks. */
  readonly pid?: number;
  readonly startTime?: number;
  readonly spawnedAt?: number;
  readonly startedAt?: number;
  readonly respawns: number;
  readonly cooldownMs: number;
}

/** Descriptors an upgrading manager hands to its next instance across execve. */
export interface Handover {
  /** The pid that re-executed itself: only that same pid may take the descriptors. */
  readonly pid: number;
  readonly sockets: Readonly<Record<string, number>>;
  readonly pipes: Readonly<Record<string, number>>;
}

/** The state file: written after changes, read at start. */
export interface SavedState {
  readonly version: 1;
  /** True when the manager stopped every daemon and exited on purpose. */
  readonly clean: boolean;
  readonly handover?: Handover;
  readonly daemons: Readonly<Record<string, SavedDaemon>>;
}

/** Takes what is worth keeping from the supervisor's records. */
export function snapshot(
  records: Iterable<DaemonRecord>,
  startTimeOf: (pid: number) => number | undefined,
  clean: boolean,
  handover?: Handover,
): SavedState {
  const daemons: Record<string, SavedDaemon> = {};
  for (const record of records) {
    const { state } = record;
    const pid =
      state.kind === 'running' ? state.pid : state.kind === 'stopping' ? state.pgid : undefined;
    const startTime = pid === undefined ? undefined : startTimeOf(pid);
    daemons[record.id] = {
      wanted: record.wanted,
      ...(pid !== undefined && startTime !== undefined ? { pid, startTime } : {}),
      ...(record.spawnedAt === undefined ? {} : { spawnedAt: record.spawnedAt }),
      ...(record.startedAt === undefined ? {} : { startedAt: record.startedAt }),
      respawns: record.respawns,
      cooldownMs: record.cooldownMs,
    };
  }
  return { version: 1, clean, ...(handover ? { handover } : {}), daemons };
}

const isCount = (value: unknown): value is number =>
  Number.isSafeInteger(value) && (value as number) >= 0;
const isOptionalCount = (value: unknown): boolean => value === undefined || isCount(value);

/** Checks parsed JSON against the state file's shape; a reason when it does not fit. */
export function validateState(value: unknown): SavedState | { error: string } {
  if (typeof value !== 'object' || value === null) return { error: 'not a JSON object' };
  const state = value as Record<string, unknown>;
  if (state.version !== 1) return { error: `unknown version ${JSON.stringify(state.version)}` };
  if (typeof state.clean !== 'boolean') return { error: "'clean' is not a boolean" };
  if (typeof state.daemons !== 'object' || state.daemons === null)
    return { error: "'daemons' is not an object" };
  for (const [id, entry] of Object.entries(state.daemons)) {
    const daemon = entry as Record<string, unknown>;
    const valid =
      typeof daemon === 'object' &&
      daemon !== null &&
      (daemon.wanted === 'up' || daemon.wanted === 'down') &&
      isCount(daemon.respawns) &&
      isCount(daemon.cooldownMs) &&
      ['pid', 'startTime', 'spawnedAt', 'startedAt'].every((key) => isOptionalCount(daemon[key]));
    if (!valid) return { error: `daemon ${JSON.stringify(id).slice(0, 100)} is malformed` };
  }
  const handover = state.handover as Record<string, unknown> | undefined;
  if (handover !== undefined) {
    const fdsValid = (table: unknown): boolean =>
      typeof table === 'object' && table !== null && Object.values(table).every(isCount);
    if (!isCount(handover.pid) || !fdsValid(handover.sockets) || !fdsValid(handover.pipes))
      return { error: "'handover' is malformed" };
  }
  return value as SavedState;
}
