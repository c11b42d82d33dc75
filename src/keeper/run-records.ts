import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { provenAlive } from '../process/proc-stat.ts';
import type { SavedDaemon, SavedState } from '../state/snapshot.ts';

/**
 * The directory, in the state directory, where the keeper records each run with no cgroup
 * it spawns or adopts (native/keeper/runs.c `run_record`): `SEQ` holds the daemon's id,
 * the run's pid, its start time and the keeper's pid, one a line.
 */
const RECORDS = 'keeper-runs';

/** A run as a keeper recorded it. */
export interface RunRecord {
  readonly seq: number;
  readonly id: string;
  readonly pid: number;
  readonly startTicks: number;
  /** The pid of the keeper that recorded it. */
  readonly keeper: number;
}

/** Every run recorded in `stateDir` (none where the directory cannot be read). */
export function readRunRecords(stateDir: string): RunRecord[] {
  const dir = join(stateDir, RECORDS);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const records = names.flatMap((name) => {
    if (!/^\d+$/.test(name)) return [];
    try {
      const [id, pid, startTicks, keeper] = readFileSync(join(dir, name), 'utf8').split('\n');
      const record = {
        seq: Number(name),
        id: id ?? '',
        pid: Number(pid),
        startTicks: Number(startTicks),
        keeper: Number(keeper),
      };
      const counts = [record.seq, record.pid, record.startTicks, record.keeper];
      return record.id.includes('/') && counts.every((n) => Number.isSafeInteger(n) && n > 0)
        ? [record]
        : [];
    } catch {
      return []; // Removed meanwhile, or cut short by a kill as it was written.
    }
  });
  return records.sort((a, b) => a.seq - b.seq);
}

/** Removes the records of runs kept by another keeper than `keeper` (gone, its runs handled). */
export function removeOthersRunRecords(stateDir: string, keeper: number): void {
  for (const record of readRunRecords(stateDir))
    if (record.keeper !== keeper)
      rmSync(join(stateDir, RECORDS, String(record.seq)), { force: true });
}

/**
 * The saved state with the runs a keeper that is gone recorded after the last save: the
 * newest of each daemon whose main process lives on (its pid and start time), where the
 * state knows no newer run, nor this one with its pid. Killed with its keeper before it
 * saved a run it had just spawned, a manager left that run to nobody: with no cgroup, the
 * next one started the daemon beside it (an outside review, 66a, F1: 11 of 14). Taken as
 * the daemon's run, it is found and stopped as any survivor of a dead keeper is, and
 * started afresh.
 */
export function withUnsavedRuns(
  saved: SavedState | undefined,
  records: readonly RunRecord[],
  keeper: number,
  said: (id: string, record: RunRecord) => void,
): SavedState | undefined {
  if (saved === undefined) return undefined;
  const newest = new Map<string, RunRecord>();
  for (const record of records) {
    if (record.keeper === keeper) continue;
    // A run being stopped as a stray, saved with what names it: no daemon's run, its stop
    // goes on (see Recovery.endSavedStrays). Taken for its daemon's, it was stopped anew,
    // a second SIGTERM and a new deadline.
    if (saved.strays?.[String(record.seq)]?.pid !== undefined) continue;
    if (!provenAlive(record.pid, record.startTicks)) continue;
    if ((newest.get(record.id)?.seq ?? 0) < record.seq) newest.set(record.id, record);
  }
  const daemons: Record<string, SavedDaemon> = { ...saved.daemons };
  let nextSeq = saved.nextSeq;
  for (const [id, record] of newest) {
    nextSeq = Math.max(nextSeq, record.seq + 1);
    // A daemon first started after the save: wanted up, as far as anything tells.
    const entry = daemons[id] ?? { wanted: 'up', respawns: 0, cooldownMs: 0 };
    // Saved with its number only, as its start was asked (its pid not known yet): taken
    // for a run that never began, the daemon was started beside it (an outside review,
    // 67a, F1: 12 of 18 respawns, 10 of 12 first loads by a rescan).
    const known = entry.pid === record.pid && entry.startTicks === record.startTicks;
    if ((entry.run ?? 0) > record.seq || (entry.run === record.seq && known)) continue;
    said(id, record);
    const {
      deadline: _deadline,
      termedAt: _termedAt,
      killed: _killed,
      mainGone: _mainGone,
      mainExit: _mainExit,
      afterwards: _afterwards,
      former: _former,
      until: _until,
      leaf: _leaf,
      spawnedAt: _spawnedAt,
      ended: _ended,
      starting: _starting,
      // The config the unsaved run was started with is not known: not the saved run's.
      source: _source,
      spec: _spec,
      // Nor the uid it runs as.
      runUid: _runUid,
      ...kept
    } = entry;
    daemons[id] = {
      ...kept,
      state: 'running',
      run: record.seq,
      pid: record.pid,
      startTicks: record.startTicks,
    };
  }
  return { ...saved, nextSeq, daemons };
}
