import type { DaemonSpec } from '../config/daemon.ts';
import type { OutputGap } from '../logs/pump.ts';
import type { AfterStop, DaemonRecord, Ended, Exit } from '../supervisor/state.ts';

/** What the manager persists of one daemon: enough to pick it up where it was. */
export interface SavedDaemon {
  readonly wanted: 'up' | 'down';
  readonly state?: 'stopped' | 'running' | 'stopping' | 'coolingdown';
  /** Running, its `ready=` check not passed yet. */
  readonly starting?: true;
  /** Stopped by itself and left down by its `restart=`: cleanly or not. */
  readonly ended?: Ended;
  /** The current run (see src/keeper/), its main process and that process's start time. */
  readonly run?: number;
  readonly pid?: number;
  readonly startTicks?: number;
  /**
   * The uid its run's child was switched to: with no cgroup, what is left of the run's
   * process group once its main process is gone is found by it (see Recovery
   * `replaceSurvivor`).
   */
  readonly runUid?: number;
  /**
   * Its run's cgroup, where it is not the one its number names: a run taken back from
   * survivors adopted from the cgroup they were found in (see Manager.takeBackStray).
   */
  readonly leaf?: string;
  /** When its program began (DaemonRecord `begunAt`; named for the spawn it once was). */
  readonly spawnedAt?: number;
  readonly startedAt?: number;
  readonly respawns: number;
  readonly cooldownMs: number;
  /**
   * Its stop_timeout as it runs (ms, bounded by max-stop-timeout): its run, found after a
   * takeover as the run of an account that had the name before, is stopped with its own,
   * not with the one of the new account's file (an outside review, 47b, F2c).
   */
  readonly stopTimeoutMs?: number;
  /** A stop under way: when it turns to SIGKILL, and what follows it. */
  readonly deadline?: number;
  /** When the keeper answered the stop's SIGTERM: a manager taking the stop over sends none. */
  readonly termedAt?: number;
  /** Its SIGKILL sent already: `deadline` is when the run is given up on, not killed again. */
  readonly killed?: true;
  /** Its main process ended during the stop (said then; the rest of its run stops on). */
  readonly mainGone?: true;
  /** How that main process ended: the daemon's last exit, unless the stop's SIGKILL ends the rest. */
  readonly mainExit?: Exit;
  readonly afterwards?: AfterStop;
  /** The run stopped is the one of the account that had the owner's name before. */
  readonly former?: true;
  /** A cooldown under way: when it ends. */
  readonly until?: number;
  /**
   * The config it runs with, kept only while its file is broken: a manager that takes
   * over (an upgrade, a restart after a crash) goes on with it instead of stopping it.
   */
  readonly spec?: DaemonSpec;
  /** Its runs stopped whose processes SIGKILL has not ended yet (see DaemonRecord `unkilled`). */
  readonly unkilled?: readonly number[];
  /** A digest of the config its run was started with (daemon/scan.ts `sourceOf`). */
  readonly source?: string;
  /** Its output dropped (a full disk) and not said in its log yet. */
  readonly outputGap?: OutputGap;
  readonly lastExit?: Exit;
  /**
   * Its owner's uid: an account deleted and made again under the name (another uid) while
   * no manager ran is someone else, and what survives of the daemon is not theirs.
   */
  readonly ownerUid?: number;
  /**
   * Its file refused and the config of its last run not known: it starts once its file is
   * accepted (see Manager waitingForFile), across a kill -9 or an upgrade of the manager.
   */
  readonly waitsForFile?: true;
}

/** A stop of a run no daemon wants (see Processes `endStray`): its SIGTERM, and its SIGKILL due. */
export interface StrayStop {
  readonly since: number;
  readonly deadline: number;
  /**
   * Its SIGTERM was decided (saved first) and not yet carried out by the keeper: the next
   * manager sends it. Taken for sent, a kill -9 in those milliseconds left the run with no
   * SIGTERM at all, SIGKILLed at its deadline (an outside review, 75b, F4).
   */
  readonly unsent?: true;
  /**
   * Its run's cgroup, where it is not the one its number names: survivors of a dead
   * keeper, adopted from the cgroup they were found in (see Manager.endLeftBehind).
   */
  readonly leaf?: string;
  /**
   * With no cgroup: its daemon, main pid, start time and uid, by which the next manager
   * finds it (or what is left of its process group) once its keeper is gone too.
   */
  readonly id?: string;
  readonly pid?: number;
  readonly startTicks?: number;
  readonly uid?: number;
  /**
   * The run of the account that had its daemon's owner name before (deleted, and made
   * again with its name and uid, or another account now): its output is nobody's to log,
   * and the account of the name now is never shown it. The keeper's record cannot tell
   * where the uid is the same; forgotten, a `kill -9` or an upgrade as it stopped had the
   * next manager log it into the new account's log (an outside review, 64a, F1, F2).
   */
  readonly former?: true;
}

/** The state file: written after changes, read at start. */
export interface SavedState {
  readonly version: 2;
  /** True when the manager stopped every daemon and exited on purpose. */
  readonly clean: boolean;
  /** The next run number (runs of every instance differ). */
  readonly nextSeq: number;
  /** Set by a manager about to re-execute itself (SIGUSR2): its pid. */
  readonly upgrade?: { readonly pid: number };
  /**
   * Its manager kept `running` in the state directory (see running-mark.ts): with that
   * file gone, a state not saved clean is of a clean stop whose last save failed.
   */
  readonly marked?: true;
  /**
   * The keeper that held the runs saved here: its pid and start time. A keeper found at a
   * start that is another (one the last manager started as it died, before it handed it
   * the runs) knows nothing of them: their survivors are looked for in their cgroups.
   */
  readonly keeper?: { readonly pid: number; readonly startTicks: number };
  /** The boot it was saved in (its boot_id): its pids and start times name processes of that boot only. */
  readonly boot?: string;
  readonly daemons: Readonly<Record<string, SavedDaemon>>;
  /** Stops of runs no daemon wants under way, by run number. */
  readonly strays?: Readonly<Record<string, StrayStop>>;
  /** Daemons stopped while their file was refused and never loaded: they stay stopped once it is accepted. */
  readonly stoppedBroken?: readonly string[];
  /** Daemons (by their new id) their owner left stopped under the name they had before a rename. */
  readonly leftDownByOldName?: readonly string[];
  /** Of those, the name each was left stopped under, where known (said in `why`). */
  readonly leftDownOldNames?: Readonly<Record<string, string>>;
  /**
   * Daemons of a renamed account (by their new id) loaded once the run of their old id
   * (the value) is gone.
   */
  readonly renameWaits?: Readonly<Record<string, string>>;
  /**
   * The uid of each name `leftDownByOldName`, `renameWaits` and `stoppedBroken` are under, when saved: one
   * renamed again while no manager ran is found by it.
   */
  readonly pendingNames?: Readonly<Record<string, number>>;
  /** The `.lock` of each account's daemon directory the manager held, by uid (see LockFile). */
  readonly lockFiles?: Readonly<Record<string, LockFile>>;
  /**
   * The uids of accounts deleted while a run of theirs was still being stopped: an account
   * given one of them since (`useradd` gives a freed uid back) is someone else, whatever its
   * name (see Manager deletedUids).
   */
  readonly deletedUids?: readonly number[];
  /**
   * The daemons (by name) an account left stopped when it lost its name or its right to run
   * daemons, by uid: found stopped when the uid comes back under an allowed name.
   */
  readonly leftDownByUid?: Readonly<
    Record<
      string,
      {
        readonly name: string;
        readonly daemons: readonly string[];
        /** Daemons (by name) loaded once the run of an old id is gone (see renameWaits). */
        readonly waits?: Readonly<Record<string, string>>;
      }
    >
  >;
}

/**
 * An account's daemon directory's `.lock` as the manager held it: the name the account had
 * then, and the file (a rename keeps it; a new account given the uid has its own).
 */
export interface LockFile {
  name: string;
  readonly dev: number;
  readonly ino: number;
  /**
   * Its birth time in ns since the epoch, where the file system keeps one: a file made
   * after one was deleted may get its inode number back (ext4 gives it at once).
   */
  readonly btime?: string;
  /**
   * The account of that name and uid was not known yet to be the one that held it (its
   * daemon directory could not be read at a start, or its name was not allowed then):
   * judged once it can be, after an upgrade too.
   */
  unknown?: true;
}

/** At most this many bytes of a run's error in the saved state, as JSON writes it. */
export const SAVED_ERROR_BYTES = 600;

/**
 * An exit as saved: its error cut to SAVED_ERROR_BYTES as JSON writes it. Cut before, at
 * 511 characters, a start error of control bytes (a `dir=` of them) took six bytes each
 * once escaped, 3.2 KB a daemon: one user's 990 such daemons filled a small state-dir,
 * and another user's stop could not be saved (an outside review, 55b, F1).
 */
function savedExit(exit: Exit): Exit {
  if (exit.error === undefined) return exit;
  let bytes = 2;
  let end = 0;
  for (const char of exit.error) {
    const size = Buffer.byteLength(JSON.stringify(char)) - 2;
    if (bytes + size > SAVED_ERROR_BYTES - 3) break;
    bytes += size;
    end += char.length;
  }
  return end === exit.error.length ? exit : { ...exit, error: `${exit.error.slice(0, end)}…` };
}

/** What the manager knows of each daemon beyond its record, for the save. */
export interface SnapshotLookups {
  /** The start time of a run's main process, as recorded at its spawn. */
  readonly runTicks: (run: number) => number | undefined;
  /** The uid a run's child was switched to, as the keeper said. */
  readonly runUid: (run: number) => number | undefined;
  /** The daemon's stop_timeout as it runs (see SavedDaemon `stopTimeoutMs`). */
  readonly stopTimeoutMs: (record: DaemonRecord) => number;
  /** A run's cgroup, where it is not the one its number names (see SavedDaemon `leaf`). */
  readonly runLeaf: (id: string, run: number) => string | undefined;
  readonly fileBroken: (id: string) => boolean;
  readonly outputGap: (id: string) => OutputGap | undefined;
  readonly ownerUid: (user: string) => number | undefined;
  readonly savedWanted: (record: DaemonRecord) => 'up' | 'down';
  readonly waitsForFile: (id: string) => boolean;
}

/**
 * The most the configs saved for one user's daemons (those whose files are broken) take
 * in the state file, as for the copies (state/config-copies.ts): a value of control
 * characters takes six bytes a character in JSON. The state is written again at every
 * command that changes it: at 1 MiB a user, one user's stop and start in a loop made the
 * manager write 300-520 MiB a minute (an outside review, 49a, F3). 64 KiB is some 200
 * ordinary configs. Past it, a takeover goes on with the copies kept, if any.
 */
export const MAX_SAVED_SPECS_BYTES = 64 * 1024;

/** Takes what is worth keeping from the supervisor's records. */
export function snapshot(
  records: Iterable<DaemonRecord>,
  lookups: SnapshotLookups,
  nextSeq: number,
  clean: boolean,
  upgrade?: { pid: number },
): SavedState {
  const { runTicks, fileBroken, outputGap, ownerUid, savedWanted } = lookups;
  const daemons: Record<string, SavedDaemon> = {};
  /** By owner: what the configs saved of their daemons whose files are broken take. */
  const specBytes = new Map<string, number>();
  const savedSpec = (record: DaemonRecord): DaemonSpec | undefined => {
    if (!fileBroken(record.id)) return undefined;
    const size = JSON.stringify(record.spec).length + (specBytes.get(record.owner) ?? 0);
    if (size > MAX_SAVED_SPECS_BYTES) return undefined;
    specBytes.set(record.owner, size);
    return record.spec;
  };
  for (const record of records) {
    const { state } = record;
    const run = state.kind === 'running' || state.kind === 'stopping' ? state : undefined;
    const startTicks = run === undefined ? undefined : runTicks(run.run);
    const runUid = run === undefined ? undefined : lookups.runUid(run.run);
    const leaf = run === undefined ? undefined : lookups.runLeaf(record.id, run.run);
    const gap = outputGap(record.id);
    // The old account's daemon, stopping, is saved as theirs: a manager started before
    // its run is gone stops it as the old account's, not takes it for the new one's.
    const uid = record.formerUid ?? ownerUid(record.owner);
    // Stopped by a shutdown still under way, it is saved as wanted before it: a manager
    // killed before the shutdown's end starts it again, as after a crash.
    const wanted = savedWanted(record);
    const spec = savedSpec(record);
    daemons[record.id] = {
      wanted,
      state: state.kind,
      ...(run === undefined ? {} : { run: run.run, pid: run.pid }),
      ...(run === undefined || record.runSource === undefined ? {} : { source: record.runSource }),
      ...(startTicks === undefined ? {} : { startTicks }),
      ...(runUid === undefined ? {} : { runUid }),
      ...(leaf === undefined ? {} : { leaf }),
      ...(run === undefined ? {} : { stopTimeoutMs: lookups.stopTimeoutMs(record) }),
      ...(record.begunAt === undefined ? {} : { spawnedAt: record.begunAt }),
      ...(record.startedAt === undefined ? {} : { startedAt: record.startedAt }),
      respawns: record.respawns,
      cooldownMs: record.cooldownMs,
      ...(state.kind === 'stopping'
        ? {
            deadline: state.deadline,
            afterwards:
              state.afterwards === 'stay-stopped' && wanted === 'up' ? 'start' : state.afterwards,
          }
        : {}),
      ...(state.kind === 'stopping' && state.former ? { former: true } : {}),
      ...(state.kind === 'stopping' && state.termedAt !== undefined
        ? { termedAt: state.termedAt }
        : {}),
      ...(state.kind === 'stopping' && state.killed !== false ? { killed: true } : {}),
      ...(state.kind === 'stopping' && !state.mainAlive ? { mainGone: true } : {}),
      ...(state.kind === 'stopping' && state.mainExit !== undefined
        ? { mainExit: savedExit(state.mainExit) }
        : {}),
      ...(state.kind === 'coolingdown' ? { until: state.until } : {}),
      ...(state.kind === 'running' && state.starting ? { starting: true } : {}),
      ...(state.kind === 'stopped' && state.ended !== undefined ? { ended: state.ended } : {}),
      ...(record.lastExit === undefined ? {} : { lastExit: savedExit(record.lastExit) }),
      ...(spec === undefined ? {} : { spec }),
      ...(record.unkilled.length === 0
        ? {}
        : { unkilled: record.unkilled.map((left) => left.run) }),
      ...(gap === undefined ? {} : { outputGap: gap }),
      ...(uid === undefined ? {} : { ownerUid: uid }),
      ...(lookups.waitsForFile(record.id) ? { waitsForFile: true } : {}),
    };
  }
  return { version: 2, clean, nextSeq, ...(upgrade ? { upgrade } : {}), daemons };
}

function isGap(value: unknown): boolean {
  if (value === undefined) return true;
  const gap = value as Record<string, unknown> | null;
  return (
    typeof gap === 'object' &&
    gap !== null &&
    isCount(gap.bytes) &&
    isCount(gap.error) &&
    typeof gap.skipRest === 'boolean'
  );
}

const isCount = (value: unknown): value is number =>
  Number.isSafeInteger(value) && (value as number) >= 0;
const isOptionalCount = (value: unknown): boolean => value === undefined || isCount(value);
const STATES = new Set(['stopped', 'running', 'stopping', 'coolingdown']);
const AFTERWARDS = new Set(['stay-stopped', 'start', 'respawn']);

function isExit(value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'object' || value === null) return false;
  const exit = value as Record<string, unknown>;
  return (
    (exit.code === null || Number.isSafeInteger(exit.code)) &&
    (exit.signal === null || typeof exit.signal === 'string') &&
    (exit.error === undefined || typeof exit.error === 'string') &&
    (exit.oom === undefined || exit.oom === true)
  );
}

/** A saved config, as far as taking it back needs: its name and start line. */
function isSpec(value: unknown): boolean {
  if (value === undefined) return true;
  const spec = value as Record<string, unknown> | null;
  return (
    typeof spec === 'object' &&
    spec !== null &&
    typeof spec.name === 'string' &&
    typeof spec.start === 'string'
  );
}

/**
 * Checks parsed JSON against the state file's shape; a reason when it does not fit. A
 * version 1 file (before the keeper) is read too: its pids are survivors to replace.
 */
export function validateState(value: unknown): SavedState | { error: string } {
  if (typeof value !== 'object' || value === null) return { error: 'not a JSON object' };
  const state = value as Record<string, unknown>;
  if (state.version !== 1 && state.version !== 2)
    return { error: `unknown version ${JSON.stringify(state.version)}` };
  if (typeof state.clean !== 'boolean') return { error: "'clean' is not a boolean" };
  if (typeof state.daemons !== 'object' || state.daemons === null)
    return { error: "'daemons' is not an object" };
  const daemons: Record<string, SavedDaemon> = {};
  for (const [id, entry] of Object.entries(state.daemons)) {
    const daemon = entry as Record<string, unknown>;
    const valid =
      typeof daemon === 'object' &&
      daemon !== null &&
      (daemon.wanted === 'up' || daemon.wanted === 'down') &&
      isCount(daemon.respawns) &&
      isCount(daemon.cooldownMs) &&
      [
        'run',
        'pid',
        'startTicks',
        'startTime',
        'runUid',
        'spawnedAt',
        'startedAt',
        'deadline',
        'termedAt',
        'stopTimeoutMs',
        'until',
        'ownerUid',
      ].every((key) => isOptionalCount(daemon[key])) &&
      (daemon.state === undefined || STATES.has(daemon.state as string)) &&
      (daemon.afterwards === undefined || AFTERWARDS.has(daemon.afterwards as string)) &&
      (daemon.starting === undefined || daemon.starting === true) &&
      (daemon.former === undefined || daemon.former === true) &&
      (daemon.killed === undefined || daemon.killed === true) &&
      (daemon.mainGone === undefined || daemon.mainGone === true) &&
      (daemon.waitsForFile === undefined || daemon.waitsForFile === true) &&
      (daemon.ended === undefined || daemon.ended === 'exited' || daemon.ended === 'failed') &&
      isExit(daemon.lastExit) &&
      isExit(daemon.mainExit) &&
      (daemon.unkilled === undefined ||
        (Array.isArray(daemon.unkilled) && daemon.unkilled.every(isCount))) &&
      isGap(daemon.outputGap) &&
      (daemon.leaf === undefined || typeof daemon.leaf === 'string') &&
      (daemon.source === undefined ||
        (typeof daemon.source === 'string' && daemon.source.length <= 64)) &&
      isSpec(daemon.spec);
    if (!valid) return { error: `daemon ${JSON.stringify(id).slice(0, 100)} is malformed` };
    const { startTime, ...rest } = daemon;
    daemons[id] = (state.version === 1 && startTime !== undefined
      ? { ...rest, startTicks: startTime }
      : rest) as unknown as SavedDaemon;
  }
  const upgrade = state.upgrade as Record<string, unknown> | undefined;
  if (upgrade !== undefined && !isCount(upgrade.pid)) return { error: "'upgrade' is malformed" };
  if (!isOptionalCount(state.nextSeq)) return { error: "'nextSeq' is malformed" };
  const keeper = state.keeper as Record<string, unknown> | undefined;
  if (keeper !== undefined && (!isCount(keeper.pid) || !isCount(keeper.startTicks)))
    return { error: "'keeper' is malformed" };
  const boot = state.boot;
  if (boot !== undefined && !(typeof boot === 'string' && boot.length <= 64))
    return { error: "'boot' is malformed" };
  const strays = state.strays as Record<string, unknown> | undefined;
  if (
    strays !== undefined &&
    (typeof strays !== 'object' ||
      strays === null ||
      !Object.values(strays).every((stop) => {
        const { since, deadline, leaf, former, id, pid, startTicks, uid, unsent } = (stop ??
          {}) as Record<string, unknown>;
        return (
          isCount(since) &&
          isCount(deadline) &&
          (leaf === undefined || typeof leaf === 'string') &&
          (id === undefined || typeof id === 'string') &&
          [pid, startTicks, uid].every((each) => each === undefined || isCount(each)) &&
          (former === undefined || former === true) &&
          (unsent === undefined || unsent === true)
        );
      }))
  )
    return { error: "'strays' is malformed" };
  const stoppedBroken = state.stoppedBroken;
  if (
    stoppedBroken !== undefined &&
    (!Array.isArray(stoppedBroken) || !stoppedBroken.every((id) => typeof id === 'string'))
  )
    return { error: "'stoppedBroken' is malformed" };
  const leftDown = state.leftDownByOldName;
  if (
    leftDown !== undefined &&
    (!Array.isArray(leftDown) || !leftDown.every((id) => typeof id === 'string'))
  )
    return { error: "'leftDownByOldName' is malformed" };
  const oldNames = state.leftDownOldNames;
  if (oldNames !== undefined && !isRecordOf(oldNames, (name) => typeof name === 'string'))
    return { error: "'leftDownOldNames' is malformed" };
  const byUid = state.leftDownByUid;
  if (
    byUid !== undefined &&
    !isRecordOf(
      byUid,
      (left, uid) =>
        /^\d+$/.test(uid) &&
        typeof left === 'object' &&
        left !== null &&
        typeof (left as { name?: unknown }).name === 'string' &&
        Array.isArray((left as { daemons?: unknown }).daemons) &&
        (left as { daemons: unknown[] }).daemons.every((name) => typeof name === 'string') &&
        validWaits((left as { waits?: unknown }).waits),
    )
  )
    return { error: "'leftDownByUid' is malformed" };
  const lockFiles = state.lockFiles;
  if (
    lockFiles !== undefined &&
    !isRecordOf(lockFiles, (file, uid) => {
      const { name, dev, ino, btime, unknown } = (file ?? {}) as Record<string, unknown>;
      return (
        /^\d+$/.test(uid) &&
        typeof name === 'string' &&
        isCount(dev) &&
        isCount(ino) &&
        (btime === undefined || (typeof btime === 'string' && /^\d+$/.test(btime))) &&
        (unknown === undefined || unknown === true)
      );
    })
  )
    return { error: "'lockFiles' is malformed" };
  const renameWaits = state.renameWaits;
  if (!validWaits(renameWaits)) return { error: "'renameWaits' is malformed" };
  const deletedUids = state.deletedUids;
  if (deletedUids !== undefined && !(Array.isArray(deletedUids) && deletedUids.every(isCount)))
    return { error: "'deletedUids' is malformed" };
  const pendingNames = state.pendingNames;
  if (
    pendingNames !== undefined &&
    !isRecordOf(pendingNames, (uid) => Number.isSafeInteger(uid) && (uid as number) >= 0)
  )
    return { error: "'pendingNames' is malformed" };
  if (state.marked !== undefined && state.marked !== true) return { error: "'marked' is not true" };
  return {
    version: 2,
    clean: state.clean,
    ...(state.marked === true ? { marked: true as const } : {}),
    nextSeq: (state.nextSeq as number | undefined) ?? 1,
    ...(upgrade ? { upgrade: { pid: upgrade.pid as number } } : {}),
    ...(keeper === undefined
      ? {}
      : { keeper: { pid: keeper.pid as number, startTicks: keeper.startTicks as number } }),
    ...(boot === undefined ? {} : { boot: boot as string }),
    daemons,
    ...(strays === undefined ? {} : { strays: strays as Record<string, StrayStop> }),
    ...(stoppedBroken === undefined ? {} : { stoppedBroken: stoppedBroken as string[] }),
    ...(leftDown === undefined ? {} : { leftDownByOldName: leftDown as string[] }),
    ...(oldNames === undefined ? {} : { leftDownOldNames: oldNames as Record<string, string> }),
    ...(renameWaits === undefined ? {} : { renameWaits: renameWaits as Record<string, string> }),
    ...(pendingNames === undefined ? {} : { pendingNames: pendingNames as Record<string, number> }),
    ...(lockFiles === undefined ? {} : { lockFiles: lockFiles as Record<string, LockFile> }),
    ...(deletedUids === undefined ? {} : { deletedUids: deletedUids as number[] }),
    ...(byUid === undefined
      ? {}
      : {
          leftDownByUid: byUid as Record<
            string,
            { name: string; daemons: string[]; waits?: Record<string, string> }
          >,
        }),
  };
}

/** A saved `waits` (of leftDownByUid, or renameWaits): absent, or names or ids to old ids. */
function validWaits(waits: unknown): boolean {
  return waits === undefined || isRecordOf(waits, (id) => typeof id === 'string');
}

/** Whether `value` is a plain object whose every entry passes `check` (value, key). */
function isRecordOf(value: unknown, check: (entry: unknown, key: string) => boolean): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.entries(value).every(([key, entry]) => check(entry, key));
}

/** When a stray's stop had its SIGTERM carried out, as far as known (undefined: it may not have). */
export function strayTermedAt(stop: StrayStop | undefined): number | undefined {
  return stop === undefined || stop.unsent === true ? undefined : stop.since;
}
