import { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Logger } from '../logging/logger.ts';
import { cgroupMembers } from '../process/cgroup.ts';
import type { Exit } from '../process/launch.ts';
import type { WaitStatus } from '../process/native.ts';
import { readStat } from '../process/process-group.ts';
import type { Reaper } from '../process/reaper.ts';
import type { SavedDaemon, SavedState } from '../state/snapshot.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';

/** Connects an adopted daemon's output pipe to its log. */
export type AttachPipe = (record: DaemonRecord, pipe: Socket) => void;

/**
 * Decides what happens to each daemon when the manager starts, from what the previous
 * instance saved:
 * - after an upgrade (the same pid re-executed itself), running daemons are still this
 *   process's children: they are adopted with their pid, uptime and counts, and their
 *   output pipes handed over, so nothing restarts;
 * - after a crash or a kill -9, survivors are not our children and cannot be waited for:
 *   they are stopped (whole process group) and started again, never run twice. A saved
 *   pid is trusted only if its start time matches, so a reused pid is never signalled;
 * - after a clean stop, or with no saved state, autostart decides as in the original.
 */
export class Recovery {
  private readonly saved: SavedState | undefined;
  private readonly supervisor: Supervisor;
  private readonly reaper: Reaper;
  private readonly attachPipe: AttachPipe;
  private readonly log: Logger;
  private readonly cgroupOf: (record: DaemonRecord) => string | undefined;

  constructor(
    saved: SavedState | undefined,
    supervisor: Supervisor,
    reaper: Reaper,
    attachPipe: AttachPipe,
    cgroupOf: (record: DaemonRecord) => string | undefined,
    log: Logger,
  ) {
    this.cgroupOf = cgroupOf;
    this.saved = saved;
    this.supervisor = supervisor;
    this.reaper = reaper;
    this.attachPipe = attachPipe;
    this.log = log;
  }

  /** True when this start continues an upgrade of this very process. */
  get isUpgrade(): boolean {
    return this.saved?.handover?.pid === process.pid;
  }

  /** Puts a daemon just loaded under supervision. */
  introduce(record: DaemonRecord): void {
    const saved = this.saved?.daemons[record.id];
    this.supervisor.register(record);
    if (saved !== undefined) {
      record.respawns = saved.respawns;
      record.cooldownMs = saved.cooldownMs;
      record.startedAt = saved.startedAt;
    }
    const autostart = record.spec.autostart ? 'up' : 'down';
    record.wanted = saved !== undefined && this.saved?.clean === false ? saved.wanted : autostart;
    const survivor = saved === undefined ? undefined : survivingPid(saved);
    if (survivor !== undefined && saved !== undefined && this.isUpgrade) {
      this.adopt(record, survivor, saved);
      // A stop under way when the upgrade came goes on (its SIGKILL timer did not survive
      // execve): else a daemon slow to stop would run on, wanted down, for ever.
      if (record.wanted === 'down') this.supervisor.stop(record);
      return;
    }
    // The state file may lag behind the last respawn before a crash; the daemon's cgroup
    // does not: whatever still lives in it is a leftover to stop before a new start.
    const stray = survivor ?? this.strayGroupIn(this.cgroupOf(record));
    if (stray !== undefined) this.supervisor.replaceSurvivor(record, stray);
    else if (record.wanted === 'up') {
      const { respawns } = record;
      this.supervisor.start(record);
      record.respawns = respawns;
    }
  }

  /** The process group of a process still in the cgroup, if any. */
  private strayGroupIn(cgroup: string | undefined): number | undefined {
    if (cgroup === undefined) return undefined;
    for (const pid of cgroupMembers(cgroup)) {
      const stat = readStat(pid);
      if (stat !== undefined && stat.state !== 'Z') return stat.pgrp;
    }
    return undefined;
  }

  private adopt(record: DaemonRecord, pid: number, saved: SavedDaemon): void {
    this.supervisor.adopt(record, pid, saved.spawnedAt ?? Date.now());
    this.reaper.adopt(pid, (status) => this.supervisor.noteExit(record, pid, toExit(status)));
    const fd = this.saved?.handover?.pipes[record.id];
    if (fd !== undefined)
      this.attachPipe(record, new Socket({ fd, readable: true, writable: false }));
    this.log.info(`${record.id}: adopted pid ${pid} after the upgrade`);
  }
}

/** The saved main pid, if that very process (same start time) still lives. */
function survivingPid(saved: SavedDaemon): number | undefined {
  if (saved.pid === undefined || saved.startTime === undefined) return undefined;
  const stat = readStat(saved.pid);
  if (stat === undefined || stat.state === 'Z' || stat.startTime !== saved.startTime)
    return undefined;
  return saved.pid;
}

const SIGNAL_NAMES = new Map(
  Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]),
);

function toExit(status: WaitStatus): Exit {
  if (status.signal !== undefined)
    return { code: null, signal: SIGNAL_NAMES.get(status.signal) ?? 'SIGKILL' };
  return { code: status.code ?? null, signal: null };
}
