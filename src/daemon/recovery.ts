import { basename, dirname } from 'node:path';
import { type DaemonSpec, SPEC_DEFAULTS } from '../config/daemon.ts';
import type { KeeperLink, KeeperSnapshot } from '../keeper/link.ts';
import type { RunReport } from '../keeper/protocol.ts';
import type { Logger } from '../logging/logger.ts';
import { cgroupChildren, cgroupMembers } from '../process/cgroup.ts';
import { bootId, groupLivesOn, provenAlive } from '../process/proc-stat.ts';
import type { EventKind, HistoryEvent } from '../state/history.ts';
import {
  type SavedDaemon,
  type SavedState,
  type StrayStop,
  strayTermedAt,
} from '../state/snapshot.ts';
import { formatElapsed } from '../supervisor/elapsed.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import { describeExit, killSaidIn, type Supervisor } from '../supervisor/supervisor.ts';
import { exitOf, type KeeperProcesses } from './processes.ts';

/** How many daemons the start starts between two turns of the event loop (see startAll). */
const START_CHUNK = 8;

/**
 * Decides what happens to each daemon when the manager starts, from what its keeper
 * holds and what the previous instance saved:
 * - the keeper was running (an upgrade, or a restart after a crash of the manager): its
 *   runs are taken over as they are: a running daemon keeps running, one that ended
 *   meanwhile is respawned as its back-off says, a stop or a cooldown under way goes on,
 *   its output is still in its pipe. Nothing is restarted;
 * - no keeper (the host rebooted, or the keeper was killed too): what survives of a
 *   daemon (its saved main process, if the pid still has the saved start time, or
 *   whatever is in its cgroup) is not anybody's child any more: it is stopped and the
 *   daemon started afresh, never run twice;
 * - after a clean stop, or with no saved state, autostart decides as in the original.
 * Runs no loaded config claims (its file deleted, its user no longer allowed) are
 * stopped, and the log says so (see `finish`).
 */
/** Why a daemon the shutdown of a manager killed since had stopped runs again. */
export const KILLED_IN_SHUTDOWN =
  'the manager before was killed during its shutdown (no clean stop saved): it runs again, as it ran before';

export class Recovery {
  private readonly saved: SavedState | undefined;
  private readonly runsById = new Map<string, RunReport[]>();
  private readonly existing: boolean;
  private readonly supervisor: Supervisor;
  private readonly processes: KeeperProcesses;
  private readonly link: KeeperLink;
  private readonly cgroupOf: (id: string) => string | undefined;
  private readonly stopTimeoutMs: (record: DaemonRecord) => number;
  private readonly strayTimeoutMs: number;
  private readonly log: Logger;
  private readonly replacing: (record: DaemonRecord) => void;
  private readonly formerUid: (id: string) => number | undefined;
  private readonly formerAccount: (id: string, uid?: number) => string;
  private readonly note: (record: DaemonRecord, kind: EventKind, text: string) => void;
  private readonly killedInShutdown: boolean;
  private readonly stoppedCleanUnsaved: boolean;
  private readonly history: (record: DaemonRecord) => readonly HistoryEvent[];
  private readonly mayStart: () => boolean;
  /** The daemons to start once every user is loaded (see startAll). */
  private readonly toStart: DaemonRecord[] = [];
  /** Saved strays with no cgroup found and handed to the new keeper (see straySurvivor). */
  private readonly straysTaken = new Set<string>();
  /** The main pids of saved runs handed to the new keeper: none is handed twice. */
  private readonly adoptedPids = new Set<number>();

  constructor(options: {
    readonly saved: SavedState | undefined;
    /** The manager before was killed during its shutdown: the daemons it stopped start again. */
    readonly killedInShutdown?: boolean;
    /** The manager before stopped cleanly and could not save it (see running-mark.ts). */
    readonly stoppedCleanUnsaved?: boolean;
    readonly snapshot: KeeperSnapshot;
    readonly supervisor: Supervisor;
    readonly processes: KeeperProcesses;
    readonly link: KeeperLink;
    readonly cgroupOf: (id: string) => string | undefined;
    readonly stopTimeoutMs: (record: DaemonRecord) => number;
    readonly strayTimeoutMs: number;
    readonly log: Logger;
    /** Told of a daemon started again once what survives of it is stopped. */
    readonly replacing: (record: DaemonRecord) => void;
    /** The uid a daemon's owner had when saved, if the account of that name is another now. */
    readonly formerUid: (id: string) => number | undefined;
    /**
     * The account that had daemon `id`'s owner name before, said for the log: which uid,
     * and its name now (the same account renamed read as someone else: an outside review,
     * 77a, F5). `uid` where known.
     */
    readonly formerAccount: (id: string, uid?: number) => string;
    /** A line of the daemon's history (`dmctl why`). */
    readonly note: (record: DaemonRecord, kind: EventKind, text: string) => void;
    /** The daemon's history as saved (and added to since). */
    readonly history: (record: DaemonRecord) => readonly HistoryEvent[];
    /**
     * False once a stop came while the manager starts: what the keeper holds is taken
     * over (and stopped by it), nothing is started (an outside review, 20b: every daemon
     * started, one-shot tasks run, then stopped).
     */
    readonly mayStart?: () => boolean;
  }) {
    this.saved = options.saved;
    this.killedInShutdown = options.killedInShutdown ?? false;
    this.stoppedCleanUnsaved = options.stoppedCleanUnsaved ?? false;
    this.existing = options.snapshot.existing;
    for (const run of options.snapshot.runs) {
      const list = this.runsById.get(run.id) ?? [];
      list.push(run);
      this.runsById.set(run.id, list);
    }
    for (const list of this.runsById.values()) list.sort((a, b) => a.seq - b.seq);
    this.supervisor = options.supervisor;
    this.processes = options.processes;
    this.link = options.link;
    this.replacing = options.replacing;
    this.formerUid = options.formerUid;
    this.formerAccount = options.formerAccount;
    this.note = options.note;
    this.history = options.history;
    this.mayStart = options.mayStart ?? (() => true);
    this.cgroupOf = options.cgroupOf;
    this.stopTimeoutMs = options.stopTimeoutMs;
    this.strayTimeoutMs = options.strayTimeoutMs;
    this.log = options.log;
  }

  /**
   * Takes a newer report of a run the keeper held at the attach, come before its daemon
   * was taken over (a run that ended meanwhile: its takeover sees it ended). False if the
   * run is not one waiting here.
   */
  update(run: RunReport): boolean {
    const runs = this.runsById.get(run.id);
    const index = runs?.findIndex((known) => known.seq === run.seq) ?? -1;
    if (runs === undefined || index === -1) return false;
    runs[index] = run;
    return true;
  }

  /**
   * The config a daemon ran with when its file was broken, if it was saved; none for the
   * daemon of an account that had the owner's name before: its command, environment and
   * directory are not the new account's to run (nor to read in `dmctl info`).
   */
  lastGoodSpec(id: string): DaemonSpec | undefined {
    if (this.formerUid(id) !== undefined) return undefined;
    const spec = this.saved?.daemons[id]?.spec;
    // Saved by an earlier version, it lacks the keys added since: they have their defaults.
    return spec === undefined ? undefined : { ...SPEC_DEFAULTS, ...spec };
  }

  /** What the saved state says of a daemon (nothing of the account that had the owner's name before). */
  savedEntryOf(id: string): SavedDaemon | undefined {
    return this.formerUid(id) === undefined ? this.saved?.daemons[id] : undefined;
  }

  /** The names of `user`'s daemons in the saved state (read first, past a user's 1,000). */
  savedNames(user: string): string[] {
    const names: string[] = [];
    for (const id of Object.keys(this.saved?.daemons ?? {}))
      if (id.startsWith(`${user}/`)) names.push(id.slice(user.length + 1));
    return names;
  }

  /** The digest of the config the daemon's run was started with, as saved (see sourceOf). */
  savedSource(id: string): string | undefined {
    if (this.formerUid(id) !== undefined) return undefined;
    const saved = this.saved?.daemons[id];
    // Of the run saved: a run started after the save (a respawn or a restart in the last
    // second, or any while the state directory was full) may have another config. Taken
    // for its, a copy of the config before was run by its respawns (an outside review,
    // 26a, F1: the run restarted onto v2, respawned with v1).
    if (saved?.run === undefined) return undefined;
    const runs = this.runsById.get(id) ?? [];
    const live = runs.findLast((run) => run.alive);
    if (live !== undefined) return saved.run === live.seq ? saved.source : undefined;
    const after = (seq: number): boolean => seq > (saved.run ?? 0);
    if (runs.some((run) => after(run.seq))) return undefined;
    // Its main process gone, the rest of the saved run still there (a stop under way, a
    // shell's child): that run's config. Taken for none, a daemon its owner was stopping,
    // its file broken meanwhile, was stopped as claimed by no config, said "not saved", and
    // started by the fix of its file (an outside review, 35a, F1).
    if (runs.some((run) => run.seq === saved.run && !run.empty)) return saved.source;
    // Its keeper killed too: a newer run is known by its cgroup, if anything of it is left.
    const base = this.existing ? undefined : this.cgroupOf(id);
    if (base !== undefined && cgroupChildren(base).some((child) => after(Number(basename(child)))))
      return undefined;
    // The saved run ended while no manager ran (its keeper killed with the manager, or
    // it exited), or what survives of it is stopped, its keeper killed: a daemon wanted up
    // is started again, as a respawn, with that config (outside reviews 26a, F6, and 27a,
    // F2: with its refused file, and left down).
    if (saved.wanted !== 'up' || saved.state === 'stopped') return undefined;
    return saved.source;
  }

  /** Whether the keeper holds a live run of the daemon, not yet introduced. */
  hasLiveRun(id: string): boolean {
    return (this.runsById.get(id) ?? []).some((run) => run.alive);
  }

  /**
   * Whether a run of `id` the save knows may live on with no keeper to say so (the keeper
   * gone too, no cgroup): its saved main process, what is left of its group, or a stray's
   * stop under way not handed to the new keeper yet. A renamed account's daemon waits for
   * it: looked for only after the daemons were loaded, it was not waited for, and the
   * daemon ran twice for 1.5-1.9 s (an outside review, 77a, F3: 6 of 7, `cgroups = no`).
   */
  savedRunLives(id: string): boolean {
    if (this.existing || this.saved === undefined || this.cgroupOf(id) !== undefined) return false;
    const saved = this.saved.daemons[id];
    const { pid, startTicks } = saved ?? {};
    if (
      (saved?.state === 'running' || saved?.state === 'stopping') &&
      pid !== undefined &&
      pid > 0 &&
      startTicks !== undefined &&
      !this.adoptedPids.has(pid) &&
      (provenAlive(pid, startTicks) || this.groupLeft(id, saved) !== undefined)
    )
      return true;
    return Object.values(this.saved.strays ?? {}).some(
      (stop) => stop.id === id && this.straySurvivor(stop) !== undefined,
    );
  }

  /** The names of `user`'s daemons the keeper holds runs of, not yet introduced. */
  heldNames(user: string): string[] {
    const names: string[] = [];
    for (const id of this.runsById.keys())
      if (id.startsWith(`${user}/`)) names.push(id.slice(user.length + 1));
    return names;
  }

  /** Puts a daemon just loaded under supervision. */
  introduce(record: DaemonRecord): void {
    const former = this.formerUid(record.id);
    const savedEntry = this.saved?.daemons[record.id];
    // What was saved of the old account's daemon is not the new one's; saved as another
    // account's than the former (the one of the name now, saved by a manager that knew it:
    // two accounts that swapped names), it is (an outside review, 43a, F2: a daemon its
    // owner had stopped was started, taken for the old account's).
    const saved =
      former === undefined || (savedEntry?.ownerUid !== undefined && savedEntry.ownerUid !== former)
        ? savedEntry
        : undefined;
    this.supervisor.register(record);
    if (saved !== undefined) {
      record.lastExit = saved.lastExit;
      // After a clean stop of the manager, its autostart is a new start: counts begin again.
      if (this.saved?.clean === false) {
        record.respawns = saved.respawns;
        record.cooldownMs = saved.cooldownMs;
        record.startedAt = saved.startedAt;
      }
      // A task that ended and was left down stays so, with how it ended.
      if (saved.state === 'stopped' && saved.ended !== undefined)
        record.state = { kind: 'stopped', ended: saved.ended };
    }
    const autostart = record.spec.autostart ? 'up' : 'down';
    record.wanted = saved !== undefined && this.saved?.clean === false ? saved.wanted : autostart;
    // Said, whichever way it runs again (started, its stop going on first, its survivor
    // replaced): `why` read as after a clean restart, which leaves an `autostart=no`
    // daemon down (outside reviews, 74b, F3: 20 of 20 kills in a shutdown; 75b, F2).
    if (
      this.killedInShutdown &&
      saved?.wanted === 'up' &&
      (saved.state === 'stopping' || saved.state === 'stopped')
    )
      this.note(record, 'start', KILLED_IN_SHUTDOWN);
    let runs = this.runsById.get(record.id) ?? [];
    this.runsById.delete(record.id);
    if (former !== undefined) {
      // Not a run the keeper started for the account of the name now (uid recorded, not
      // the former's): the manager before started it once the old account's runs were
      // gone, and was killed before its state said so. Stopped as the old account's, the
      // daemon of the name now was started again (under load, a run of the tests).
      const own = runs.filter((run) => run.ownerUid !== undefined && run.ownerUid !== former);
      if (
        this.replaceFormer(
          record,
          runs.filter((run) => !own.includes(run)),
          former,
        )
      ) {
        // Beside a run of the old account still there: a copy, ended.
        for (const run of own) {
          this.processes.claim(run, this.leafOf(run.id, run.seq));
          this.endStray(run);
        }
        return;
      }
      runs = own;
    }
    // Its run as saved; else the newest one started since the save. A run the save knew
    // and did not call current had ended, and what followed (a cooldown, a task left
    // down) is in the save: adopting it would count its end twice. The newest also when
    // the one saved has ended since: a respawn or a restart in the last second before a
    // kill -9 (saves are batched) was stopped without a word and the daemon started again
    // after a cooldown (outside reviews 22a and 22c: 6 of 6, 9 of 9).
    const nextSeq = this.saved?.nextSeq ?? 0;
    const savedRun = runs.find((run) => run.seq === saved?.run);
    const newest = runs.findLast((run) => run.seq >= nextSeq);
    const current =
      savedRun?.alive === false && newest !== undefined ? newest : (savedRun ?? newest);
    // A run of it no config claimed at the takeover before, still being stopped (its file
    // deleted, then put back while no manager ran): the daemon's again, its stop as begun.
    // Stopped as a stray, the daemon started at once beside it (an outside review, 47c,
    // F1: 8 of 8), as the manager running does not (see Manager.takeBackStray).
    // Only for a daemon the save does not know (its file was gone): a daemon's own
    // leftovers being stopped while it cools down are not its run.
    const straying =
      current === undefined && savedEntry === undefined
        ? runs.findLast((run) => (run.alive || !run.empty) && this.saved?.strays?.[String(run.seq)])
        : undefined;
    for (const run of runs) {
      this.processes.claim(run, this.leafOf(run.id, run.seq));
      if (run === current || run === straying) continue;
      // A run stopped before (SIGKILL did not end it: uninterruptible sleep) is still
      // shown as such: the new manager forgot it (an outside review, 19a). Only one the
      // save says was: another (leftovers of an ended run, being stopped when the manager
      // died) has had no SIGKILL yet, and is stopped as a stray.
      if ((run.alive || !run.empty) && savedEntry?.unkilled?.includes(run.seq) === true)
        record.unkilled.push({ run: run.seq, pid: run.pid });
      this.endStray(run);
    }
    const strayStop = straying && this.saved?.strays?.[String(straying.seq)];
    if (straying !== undefined && strayStop) {
      this.takeBackStop(record, straying, strayStop);
      return;
    }
    if (current !== undefined && current !== savedRun && current.spawnedAt === 0) {
      this.replaceAdopted(record, current, savedEntry);
      return;
    }
    if (current !== undefined) {
      // Its run killed for the memory quota and not ended then (see Manager.lowerMemory).
      if (current.alive && saved?.unkilled?.includes(current.seq) === true)
        record.unkilled.push({ run: current.seq, pid: current.pid });
      this.takeOver(record, current, saved);
    } else if (
      // Saved as the run of the account that had the name before (a new account's daemon
      // waiting for it): still that account's, the keeper killed since (an outside review,
      // 47b, F1: taken as the new account's own, which killed it with its `kill`).
      this.replaceSurvivor(record, savedEntry, former !== undefined || savedEntry?.former === true)
    )
      return;
    if (this.endedUnseen(record, current === undefined ? saved : undefined)) return;
    if (current === undefined && this.takeBackSavedStray(record)) return;
    if (saved?.state === 'coolingdown' && saved.until !== undefined && record.wanted === 'up')
      this.supervisor.resumeCooldown(record, saved.until);
    else if (record.wanted === 'up') this.toStart.push(record);
  }

  /**
   * The run saved as running (or stopping, its main process not ended yet) is gone, and
   * nothing of it survives: it ended while no manager watched it. Said, or `why` went from
   * its start to the next one as if it had never ended (an outside review, 67a, F4). True
   * when the daemon is left down for it (a `restart=no` task: see runsAgainAfterUnseenEnd).
   */
  private endedUnseen(record: DaemonRecord, saved: SavedDaemon | undefined): boolean {
    if (saved?.pid === undefined || saved.pid <= 0) return false;
    if (saved.state !== 'running' && saved.state !== 'stopping') return false;
    // Its end was the clean stop of the manager before, which could not save it (75b, F1).
    if (this.stoppedCleanUnsaved) {
      // Not said to be stopped at the exit: what the manager before did after its last
      // save is not known here, and a run stopped by its owner since was said to be (an
      // outside review, 77b, F2: 3 of 3).
      const text = `pid ${saved.pid}, its run at the last save, is gone: the manager before stopped cleanly but could not save what it did since (a full state directory?), so how that run ended, and any run after it, is not known`;
      this.note(record, 'stop', text);
      return false;
    }
    // Its main process's end said already, the rest of its run being stopped: that rest's
    // end (an outside review, 69b, F3: never said, `last exit` left `-`).
    if (saved.state === 'stopping' && saved.mainGone === true) {
      const text = `what was left of its run (pid ${saved.pid}) ended while no manager watched it (its keeper was gone too)`;
      this.log.info(`${record.id}: ${text}`);
      this.note(record, 'exit', text);
      return false;
    }
    if (
      saved.state === 'running' &&
      record.wanted === 'up' &&
      !this.supervisor.runsAgainAfterUnseenEnd(record, saved.pid, true)
    ) {
      record.state = { kind: 'stopped', ended: 'failed' };
      return true;
    }
    // Nothing found is what can be said: with no cgroup, a group whose members fork and
    // end faster than a look at /proc may still live (README, Known limits).
    const text = `pid ${saved.pid} ended while no manager watched it (its keeper was gone too; nothing of its run was found): how is not known`;
    this.log.info(`${record.id}: ${text}`);
    this.note(record, 'exit', text);
    return false;
  }

  /**
   * A run of the daemon being stopped as a stray with no cgroup, found by what its save
   * says after the keeper itself was gone (see straySurvivor): the daemon's again, its stop
   * as begun, and the daemon starts once it is gone. Taken for gone, the daemon whose file
   * came back started beside it.
   */
  private takeBackSavedStray(record: DaemonRecord): boolean {
    for (const [key, stop] of Object.entries(this.saved?.strays ?? {})) {
      if (stop.id !== record.id || stop.former === true || this.straysTaken.has(key)) continue;
      const found = this.straySurvivor(stop);
      if (found === undefined) continue;
      this.straysTaken.add(key);
      const seq = this.processes.claimNew(
        record.id,
        undefined,
        stop.startTicks,
        stop.uid,
        found.pid,
      );
      this.link.adopt(seq, record.id, found.pid, stop.startTicks ?? 0, '', found.groupUid);
      this.takeBackStop(record, { seq, pid: found.pid, alive: found.alive, empty: false }, stop);
      return true;
    }
    return false;
  }

  /**
   * A saved stray with no cgroup whose keeper is gone (a second pair of kills during its
   * stop): its main process, proven by its start time, or what is left of its process
   * group (see groupUidLeft). Saved without them, it ran on unlisted (found hunting an
   * outside review's finding, 69b, F4).
   */
  private straySurvivor(
    stop: StrayStop,
  ): { pid: number; alive: boolean; groupUid?: number } | undefined {
    const { id, pid, startTicks, uid } = stop;
    if (this.existing || stop.leaf !== undefined || id === undefined) return undefined;
    if (pid === undefined || startTicks === undefined || this.cgroupOf(id) !== undefined)
      return undefined;
    if (this.adoptedPids.has(pid)) return undefined;
    // Alive, with its uid: the keeper follows the rest of its group once it ends.
    if (provenAlive(pid, startTicks))
      return { pid, alive: true, ...(uid === undefined ? {} : { groupUid: uid }) };
    const groupUid = this.groupUidLeft(id, pid, startTicks, uid);
    return groupUid === undefined ? undefined : { pid, alive: false, groupUid };
  }

  /**
   * The saved stop of a stray with no cgroup whose process this is (its pid and start time,
   * see StrayStop `pid`): found again as its daemon's saved run (the state saved with both),
   * it goes on; taken for that run alone, it was begun anew, a second SIGTERM and deadline.
   */
  private savedStrayStop(pid: number, startTicks: number | undefined): StrayStop | undefined {
    return Object.values(this.saved?.strays ?? {}).find(
      (stop) => stop.pid === pid && stop.startTicks === startTicks,
    );
  }

  /** A run of the daemon being stopped as a stray, the daemon's again (see introduce). */
  private takeBackStop(
    record: DaemonRecord,
    run: Pick<RunReport, 'seq' | 'pid' | 'alive' | 'empty'>,
    stop: StrayStop,
  ): void {
    const text = `its run before (${run.pid > 0 ? `pid ${run.pid}` : `run ${run.seq}`}), which no config claimed at a takeover, is still being stopped: ${record.wanted === 'up' ? 'it starts once that run is gone' : 'it stays stopped'}`;
    this.log.info(`${record.id}: ${text}`);
    this.note(record, 'config', text);
    this.replacing(record);
    this.supervisor.resumeStopping(
      record,
      run,
      stop.deadline,
      record.wanted === 'up' ? 'start' : 'stay-stopped',
      { termedAt: strayTermedAt(stop) },
    );
  }

  /**
   * A daemon to start at the end of the start (see startAll) is not started: refused now
   * (its run-as, a socket, its file), it was started and stopped at once.
   */
  cancelStart(record: DaemonRecord): void {
    const index = this.toStart.indexOf(record);
    if (index !== -1) this.toStart.splice(index, 1);
  }

  /** A daemon just introduced, stopped, is started with the others (see startAll). */
  startLater(record: DaemonRecord): void {
    if (!this.toStart.includes(record)) this.toStart.push(record);
  }

  /**
   * Starts the daemons the start found wanted up and not running, once every user is
   * loaded, after a turn of the event loop in which a SIGTERM or SIGINT sent meanwhile is
   * seen: started as each user was loaded, they were started after such a stop (up to 32
   * daemons and every one-shot task in an outside review, 21b), then stopped.
   */
  async startAll(): Promise<void> {
    const records = this.toStart.splice(0);
    // A few at a time, the event loop turned in between: a stop that comes while they
    // start is seen before the next few. And the next few are asked for once the keeper
    // has made the processes of these: asked for all at once, they waited in its queue and
    // were started after the stop was seen (an outside review, 22b: up to 176 of 300, and
    // one-shot tasks run, after a SIGTERM).
    for (let index = 0; index < records.length; index += START_CHUNK) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!this.mayStart()) return;
      const chunk = records
        .slice(index, index + START_CHUNK)
        .filter(
          (record) =>
            record.wanted === 'up' &&
            record.state.kind === 'stopped' &&
            this.supervisor.daemons.get(record.id) === record,
        );
      for (const record of chunk) {
        const { respawns } = record;
        this.supervisor.start(record);
        record.respawns = respawns;
      }
      await this.untilSpawned(chunk);
    }
  }

  /**
   * Until the keeper has made the processes of these daemons' runs (or they were refused,
   * or stopped), a stop comes, or the keeper is gone (the manager replaces it and its
   * daemons): a keeper stopped or starved holds the start back, not the stop (given up
   * after 5 s, the rest was asked for and made after the stop: an outside review, 23b,
   * all 320 daemons).
   */
  private async untilSpawned(records: readonly DaemonRecord[]): Promise<void> {
    // A start waiting a moment (its log being looked at) is asked too: not counted, the
    // next eight followed at once, and the waits ended after the stop (an outside review,
    // 24a: 129 and 136 of 320 with a keeper slowed in pulses).
    const asked = (record: DaemonRecord): boolean =>
      (record.state.kind === 'running' && record.state.pid === 0) ||
      this.supervisor.startWaits(record);
    let wait = 1;
    while (records.some(asked) && this.mayStart() && this.link.alive) {
      await new Promise<void>((resolve) => setTimeout(resolve, wait));
      // Polled often while the keeper keeps up, a little less when it does not.
      wait = Math.min(wait * 2, 50);
    }
  }

  /**
   * Stops what no loaded config claims: runs of daemons whose file was deleted, or whose
   * user may no longer run daemons, while no manager was there.
   */
  finish(
    unread: (user: string) => boolean,
    /** The problem of the daemon's file, if it is broken now. */
    broken: (id: string) => string | undefined = () => undefined,
  ): { readonly id: string; readonly why: string }[] {
    const stopped: { id: string; why: string }[] = [];
    for (const [id, runs] of this.runsById) {
      // A user whose directory could not be read keeps the daemons whose config was saved
      // (see Manager.unreadConfigs): what is left here is not known to be theirs to run.
      // A file broken meanwhile is said as such (an outside review, 22a, F7: "file
      // deleted, or its user no longer allowed").
      // The run of the account that had the owner's name before: nothing of it is the new
      // account's, nor said in their `why` (an outside review, 35a: the old run's stop
      // there, said as "the config it ran with was not saved").
      const former = this.formerUid(id);
      // Saved as the run of the account that had the owner's name before, stopping (the
      // account made again with its name and uid: see Manager.forgetMadeAgain), where the
      // keeper's record cannot tell (the same uid): said so, and never the new account's.
      const saved = this.saved?.daemons[id];
      const formerRun = (run: RunReport): boolean =>
        former !== undefined ||
        (saved?.former === true && saved.run === run.seq) ||
        this.saved?.strays?.[String(run.seq)]?.former === true;
      const why = unclaimedWhy(id, former, runs.some(formerRun), unread, broken);
      let said = false;
      for (const run of runs) {
        this.processes.claim(run, this.leafOf(id, run.seq));
        const begun = this.stopBegun(id, run.seq);
        if (run.alive || !run.empty) {
          const how =
            begun === undefined
              ? `stopping pid ${run.pid}`
              : `its stop goes on (pid ${run.pid}, sent SIGTERM ${formatElapsed(Math.max(0, Date.now() - begun.since))} ago)`;
          this.log.warn(`${id}: no config claims it any more (${why}); ${how}`);
          said = true;
        }
        // The account that had the name before: with its own stop_timeout, as saved (at the
        // default, a renamed account's daemon was cut short at its rename while no manager
        // ran: an outside review, 79b, F6: 5 of 5).
        const own =
          formerRun(run) &&
          saved?.ownerUid !== undefined &&
          saved.ownerUid === (former ?? saved.ownerUid)
            ? saved.stopTimeoutMs
            : undefined;
        this.endStray(run, begun, { pid: run.pid, former: formerRun(run) }, own);
      }
      if (said && !runs.some(formerRun)) stopped.push({ id, why });
    }
    this.runsById.clear();
    for (const each of this.endSavedUnclaimed(unread, broken)) stopped.push(each);
    return stopped;
  }

  /**
   * With no cgroup, after the keeper itself was gone: a daemon the save knows running (or
   * stopping) that no config claims now (its file deleted or broken, its user no longer
   * allowed, while no manager ran or just before the kill). Its survivor is found by its
   * saved pid and start time, or what is left of its process group, and stopped as a
   * stray (a stop under way goes on to its deadline). Left alone, it ran on unlisted, past a
   * clean SIGTERM of the manager, a second copy started beside it once the file was back
   * (an outside review, 69b, F4: 9 of 9). With cgroups, its cgroup names it (see
   * Manager.endUnclaimedCgroups).
   */
  private endSavedUnclaimed(
    unread: (user: string) => boolean,
    broken: (id: string) => string | undefined,
  ): { readonly id: string; readonly why: string }[] {
    const stopped: { id: string; why: string }[] = [];
    if (this.existing || this.saved === undefined) return stopped;
    for (const [id, saved] of Object.entries(this.saved.daemons)) {
      if (this.supervisor.daemons.has(id) || this.cgroupOf(id) !== undefined) continue;
      if (saved.state !== 'running' && saved.state !== 'stopping') continue;
      const { pid, startTicks } = saved;
      if (pid === undefined || pid <= 0 || startTicks === undefined) continue;
      const proven = provenAlive(pid, startTicks);
      const groupUid = proven ? undefined : this.groupLeft(id, saved);
      if (!proven && groupUid === undefined) continue;
      const formerOwner = this.formerUid(id);
      const former = formerOwner !== undefined || saved.former === true;
      const why = unclaimedWhy(id, formerOwner, saved.former === true, unread, broken);
      const stray = proven ? this.savedStrayStop(pid, startTicks) : undefined;
      const begun =
        saved.state === 'stopping' && saved.termedAt !== undefined && saved.deadline !== undefined
          ? { since: saved.termedAt, deadline: saved.deadline }
          : stray && { since: stray.since, deadline: stray.deadline };
      this.log.warn(
        `${id}: no config claims it any more (${why}); ${proven ? `stopping pid ${pid}` : `stopping what is left of its process group ${pid}`}${begun === undefined ? '' : ' (its stop goes on)'}`,
      );
      this.adoptedPids.add(pid);
      this.processes.adoptStray({
        id,
        stop: begun ?? { since: Date.now(), deadline: Date.now() + this.strayTimeoutMs },
        unclaimed: { pid, former },
        startTicks,
        ...(saved.runUid === undefined ? {} : { uid: saved.runUid }),
        fresh: begun === undefined,
      });
      if (!former) stopped.push({ id, why });
    }
    this.endSavedStrays();
    return stopped;
  }

  /**
   * With no cgroup, after the keeper itself was gone: the runs the save says were being
   * stopped as strays, not taken back by their daemon, found (see straySurvivor) and
   * handed to the new keeper, their stops going on to their deadlines.
   */
  private endSavedStrays(): void {
    for (const [key, stop] of Object.entries(this.saved?.strays ?? {})) {
      if (this.straysTaken.has(key) || stop.id === undefined) continue;
      const found = this.straySurvivor(stop);
      if (found === undefined) continue;
      this.straysTaken.add(key);
      this.adoptedPids.add(found.pid);
      const id = stop.id;
      this.log.warn(
        `${id}: ${found.alive ? `pid ${found.pid}` : `what is left of its process group ${found.pid}`}, being stopped as no daemon's, outlived its keeper; its stop goes on`,
      );
      this.processes.adoptStray({
        id,
        stop: { since: stop.since, deadline: stop.deadline },
        // A run no config claims: taken back by its daemon if its file comes back.
        unclaimed: this.supervisor.daemons.has(id)
          ? undefined
          : { pid: found.pid, former: stop.former === true },
        ...(stop.startTicks === undefined ? {} : { startTicks: stop.startTicks }),
        ...(stop.uid === undefined ? {} : { uid: stop.uid }),
        pid: found.pid,
      });
    }
  }

  private leafOf(id: string, seq: number): string | undefined {
    const cgroup = this.cgroupOf(id);
    if (cgroup === undefined) return undefined;
    // Survivors of a dead keeper, adopted as a stray from the cgroup they were found in:
    // not the one their number names. Taken for unknown, that cgroup was stopped again at
    // the next takeover, a second SIGTERM and a new deadline (an outside review, 45b, F6).
    // So is a run taken back from such survivors by its daemon (47a, F1: its stop begun
    // again at each kill -9 of the manager and its keeper).
    const entry = this.saved?.daemons[id];
    const saved =
      this.saved?.strays?.[String(seq)]?.leaf ?? (entry?.run === seq ? entry.leaf : undefined);
    if (saved !== undefined && (saved === cgroup || dirname(saved) === cgroup)) return saved;
    return `${cgroup}/${seq}`;
  }

  private takeOver(
    record: DaemonRecord,
    run: RunReport,
    savedEntry: SavedDaemon | undefined,
  ): void {
    // What the save says of its run, if it is this one (not a run started since the save).
    const saved = savedEntry?.run === run.seq ? savedEntry : undefined;
    if (saved === undefined && savedEntry?.run !== undefined && run.alive)
      this.log.info(
        `${record.id}: pid ${run.pid} was started after the last save (a respawn or restart just before the manager was gone); taking it over`,
      );
    // The first run of an account made again with the name, started once the deleted
    // account's run it waited for was gone (the save has that stop): its total counts from
    // this run, not from the wait (an outside review, 65a, F3: 8 s more, 4 of 4).
    if (saved === undefined && savedEntry?.former === true && run.alive)
      record.startedAt = run.spawnedAt || Date.now();
    // The config it was started with, as far as the save tells (an earlier version saved
    // none; one started since the save was started with the file as it is, most likely).
    record.runSource = saved?.source ?? record.source;
    const ended = run.alive
      ? undefined
      : { exit: exitOf(run), at: run.exitedAt || Date.now(), empty: run.empty };
    if (saved?.state === 'stopping' && saved.deadline !== undefined) {
      // Its run's length is said when it ends (an outside review, 26a, F2: without it).
      if (saved.spawnedAt !== undefined) record.begunAt = saved.spawnedAt;
      this.supervisor.resumeStopping(
        record,
        run,
        saved.deadline,
        saved.afterwards ?? 'stay-stopped',
        {
          former: saved.former === true,
          killed:
            saved.killed !== true
              ? false
              : killSaidIn(this.history(record), run.pid)
                ? 'said'
                : 'unsaid',
          mainExit: saved.mainGone === true ? saved.mainExit : undefined,
          termedAt: saved.termedAt,
          // Its main process's end said already by the manager before (an outside review,
          // 20b: said twice in why): only an end it did not see is said.
          ended: ended !== undefined && saved.mainGone !== true ? ended : undefined,
        },
      );
      return;
    }
    // When its program began, as saved for this run: uptime goes on from there (for one
    // started since the save, as its keeper saw it, if it says).
    let begunAt = saved !== undefined ? saved.spawnedAt : run.execAt;
    // Saved while its exec was under way, and begun since, while no manager watched: when
    // is not known, only that it is at most now (or its end). Taken as then: its uptime,
    // ready_timeout and stable-uptime counted from its spawn before (an outside review,
    // 19a: a ready= daemon killed 8 s after it began, a quick exit counted as 11 s).
    const begunUnseen = saved !== undefined && begunAt === undefined && run.exec !== 'pending';
    // The keeper's time of its exec, when it says it (version 5 on), is when.
    if (begunUnseen) begunAt = run.execAt ?? ended?.at ?? Date.now();
    // One started since the save with a `ready=` check is starting still, as far as known.
    const starting =
      saved !== undefined ? saved.starting === true : record.spec.ready !== undefined;
    this.supervisor.adopt(record, run, ended, starting, begunAt);
    if (begunUnseen) {
      // An upgrade too, not only a crash: "the manager was gone" read as one (an outside
      // review, 42c, F1).
      const text = `its program began unseen (its exec was under way at the last save, and it began before this manager took over): counted as begun ${run.execAt !== undefined ? 'when its keeper saw it' : ended === undefined ? 'now' : 'at its end'}`;
      this.log.info(`${record.id}: ${text}`);
      this.note(record, 'start', text);
    }
    if (run.alive) this.log.info(`${record.id}: pid ${run.pid} taken over from the keeper`);
    if (record.wanted === 'down' && run.alive) this.supervisor.stop(record);
  }

  /**
   * A survivor of a dead keeper that the manager before handed to its next keeper, then
   * was gone before it saved that (see Manager.keeperLost; the keeper never spawned it):
   * that manager was replacing it, so it is stopped, never taken over, and the daemon
   * starts again once it is gone if it is wanted up. Taken over, the deleted account's run
   * being stopped became the running daemon of the account made again with its name and
   * uid, its `kill` reaching it and its uptime counted from 1970 (an outside review, 61a,
   * F2: 7 of 7 within 1.2 s of the judgement).
   */
  private replaceAdopted(
    record: DaemonRecord,
    run: RunReport,
    saved: SavedDaemon | undefined,
  ): void {
    const former = saved?.former === true;
    const next = record.wanted === 'up' ? 'replacing it' : 'stopping it (it is wanted down)';
    this.log.warn(
      `${record.id}: pid ${run.pid} outlived its keeper before the last save${former ? `, and ran for ${this.formerAccount(record.id, saved?.ownerUid)}` : ''}; ${next}`,
    );
    this.replacing(record);
    if (record.wanted === 'up') record.startedAt = Date.now();
    const begun = this.stopBegun(record.id, run.seq);
    // Saved as the old account's run: with its own stop_timeout (see replaceFormer).
    const own = former ? saved?.stopTimeoutMs : undefined;
    this.supervisor.resumeStopping(
      record,
      run,
      begun?.deadline ?? Date.now() + (own ?? this.stopTimeoutMs(record)),
      record.wanted === 'up' ? 'start' : 'stay-stopped',
      { former, termedAt: strayTermedAt(begun) },
    );
  }

  /**
   * The runs of the account that had the owner's name before (uid `former`): stopped,
   * never taken over; the daemon starts afresh for the new account once the last one is
   * gone. False when none was left to wait for.
   */
  private replaceFormer(record: DaemonRecord, runs: readonly RunReport[], former: number): boolean {
    const last = runs.findLast((run) => run.alive || !run.empty);
    for (const run of runs) {
      this.processes.claim(run, this.leafOf(run.id, run.seq));
      if (run !== last) this.endStray(run);
    }
    if (last === undefined) return false;
    this.log.warn(
      `${record.id}: pid ${last.pid} ran for ${this.formerAccount(record.id, former)}; stopping it`,
    );
    this.replacing(record);
    // Its start is asked for now: `total` counts from here, as for any start.
    if (record.wanted === 'up') record.startedAt = Date.now();
    // Its stop under way goes on to its deadline (an outside review, 36a, F2: a new
    // SIGTERM and stop-timeout at the takeover).
    const begun = this.stopBegun(record.id, last.seq);
    // With that account's own stop_timeout, as saved: the new account's file set it (an
    // outside review, 47b, F2c: SIGKILL 1 s after the SIGTERM, its own saying 40 s).
    const saved = this.saved?.daemons[record.id];
    const own = saved?.ownerUid === former ? saved.stopTimeoutMs : undefined;
    this.supervisor.resumeStopping(
      record,
      last,
      begun?.deadline ?? Date.now() + (own ?? this.stopTimeoutMs(record)),
      record.wanted === 'up' ? 'start' : 'stay-stopped',
      { former: true, termedAt: strayTermedAt(begun) },
    );
    return true;
  }

  /**
   * After the keeper itself was gone: a survivor of the daemon (its saved main process,
   * proven by its start time, or anything left in its cgroup) is handed to the new keeper
   * to be stopped, and the daemon is started afresh afterwards if it is wanted up.
   * `former`: the survivor is the run of the account that had the owner's name before.
   */
  private replaceSurvivor(
    record: DaemonRecord,
    saved: SavedDaemon | undefined,
    former: boolean,
  ): boolean {
    if (this.existing) return false;
    const pid = saved?.pid !== undefined && saved.startTicks !== undefined ? saved.pid : 0;
    const provenPid = pid > 0 && provenAlive(pid, saved?.startTicks);
    const cgroup = this.populatedCgroup(record.id, saved?.run);
    const groupUid =
      provenPid || cgroup !== undefined ? undefined : this.groupLeft(record.id, saved);
    if (!provenPid && cgroup === undefined && groupUid === undefined) return false;
    // A `restart=no` task cut short is not run again (see runsAgainAfterUnseenEnd); a stop
    // or restart under way, or the old account's run, goes as it was.
    const leftDown =
      record.wanted === 'up' &&
      saved?.state === 'running' &&
      !former &&
      !this.supervisor.runsAgainAfterUnseenEnd(record, pid, false);
    const what = provenPid
      ? `pid ${pid}`
      : cgroup !== undefined
        ? 'a process in its cgroup'
        : `what is left of its process group ${pid}`;
    // The old account's: stopped, never replaced by this daemon's run ("replacing it" read
    // as the daemon taking it over: an outside review, 48a, F3).
    // A task left down by its restart=no is not said wanted down: it was wanted up until
    // its keeper died (an outside review, 73a, F2: 20 of 20).
    const how = `${what} survives from a previous manager; ${former ? `stopping it (it ran for ${this.formerAccount(record.id, this.formerUid(record.id) ?? saved?.ownerUid)})` : record.wanted === 'up' ? 'replacing it' : leftDown ? `stopping it (restart=${record.spec.restart} leaves it down)` : 'stopping it (it is wanted down)'}`;
    this.log.warn(`${record.id}: ${how}`);
    // Its main process gone, its end not in the history (the kills came before it said
    // it, or before its save): said, as saved if the state knew it. Left out, `why` of a
    // stop whose SIGTERM had ended it just before the kills never said that end (an outside
    // review, 79a, F2: 8 of 8; and a run of the tests, the state saved with the end and
    // the history not yet).
    const endSaid = this.history(record).some(
      (event) => event.kind === 'exit' && event.text.startsWith(`pid ${pid} `),
    );
    if (!former && !provenPid && pid > 0 && !endSaid)
      this.note(
        record,
        'exit',
        saved?.mainExit === undefined
          ? `pid ${pid} ended while no manager watched it (its keeper was gone too): how is not known`
          : `pid ${pid} ${describeExit(saved.mainExit)}, while stopping (said at this takeover)`,
      );
    // Said in `why` too, but of the old account's run (nothing of it is the new one's to
    // see): a stop and start there gave no reason (an outside review, 69a, F2).
    if (!former) this.note(record, 'stop', `${how} (its keeper is gone)`);
    if (provenPid || groupUid !== undefined) this.adoptedPids.add(pid);
    const seq = this.processes.claimNew(record.id, cgroup, saved?.startTicks, saved?.runUid);
    this.link.adopt(
      seq,
      record.id,
      provenPid || groupUid !== undefined ? pid : 0,
      saved?.startTicks ?? 0,
      cgroup ?? '',
      // Its main process alive, with no cgroup: its uid, for the keeper to follow the rest
      // of its group once that process ends, zombies left to init not counted.
      cgroup === undefined ? (groupUid ?? saved?.runUid) : undefined,
    );
    this.replacing(record);
    // Its stop under way, its SIGTERM carried out: it goes on to its own deadline.
    // Or a stop of survivors found in that cgroup, no config claiming them then (its file
    // deleted, put back while no manager ran): a second SIGTERM and a new deadline (an
    // outside review, 47c, F2).
    const stray =
      cgroup !== undefined
        ? Object.values(this.saved?.strays ?? {}).find((begun) => begun.leaf === cgroup)
        : provenPid
          ? this.savedStrayStop(pid, saved?.startTicks)
          : undefined;
    const stop =
      saved?.state === 'stopping' &&
      saved.termedAt !== undefined &&
      saved.deadline !== undefined &&
      (provenPid || groupUid !== undefined || cgroup === this.leafOf(record.id, saved.run ?? -1))
        ? { deadline: saved.deadline, termedAt: saved.termedAt }
        : stray === undefined
          ? undefined
          : { deadline: stray.deadline, termedAt: strayTermedAt(stray) };
    // The account that had the name before: with its own stop_timeout (see replaceFormer),
    // not the one of the new account's daemon that waited for it (saved `former`).
    const own = former && saved?.former !== true ? saved?.stopTimeoutMs : undefined;
    this.supervisor.resumeStopping(
      record,
      { seq, pid: provenPid || groupUid !== undefined ? pid : 0, alive: provenPid, empty: false },
      stop?.deadline ?? Date.now() + (own ?? this.stopTimeoutMs(record)),
      record.wanted === 'up' ? 'start' : 'stay-stopped',
      {
        // A stop under way whose main process had ended: the end of the rest is said (an
        // outside review, 27a, F3: `last-exit` stayed `-`).
        mainExit:
          saved?.state === 'stopping' && saved.mainGone === true ? saved.mainExit : undefined,
        termedAt: stop?.termedAt,
        // The account that had this name before: nothing of its run is the new one's to
        // see (an outside review, 39a, F8: its SIGKILL in the new account's `why`).
        former,
      },
    );
    return true;
  }

  /**
   * With no cgroup, the saved run's main process gone: the run's uid if the rest of its
   * process group lives on (a shell's child ignoring the stop's SIGTERM), for the keeper to
   * take on and stop. Left to nobody, that rest ran on unsupervised beside the daemon
   * started again, past a clean stop of the manager (an outside review, 67a, F2: 10 of 10).
   * Only within the boot the state was saved in, and by a keeper that can (version 6 on).
   */
  private groupLeft(id: string, saved: SavedDaemon | undefined): number | undefined {
    if (saved?.state !== 'running' && saved?.state !== 'stopping') return undefined;
    return this.groupUidLeft(id, saved.pid, saved.startTicks, saved.runUid);
  }

  /** The uid of a run's process group left (see groupLeft), by what the save says of it. */
  private groupUidLeft(
    id: string,
    pid: number | undefined,
    startTicks: number | undefined,
    uid: number | undefined,
  ): number | undefined {
    if (this.cgroupOf(id) !== undefined || !this.link.adoptsGroups) return undefined;
    if (pid === undefined || startTicks === undefined || uid === undefined) return undefined;
    const boot = bootId();
    if (boot === undefined || this.saved?.boot !== boot) return undefined;
    return groupLivesOn(pid, startTicks, uid) ? uid : undefined;
  }

  /**
   * The cgroup holding what survives of a daemon: its saved run's own cgroup, or any run
   * cgroup of it (or, from a manager before run cgroups, the daemon's) that has members.
   */
  private populatedCgroup(id: string, savedRun: number | undefined): string | undefined {
    const base = this.cgroupOf(id);
    if (base === undefined) return undefined;
    const candidates = [
      ...(savedRun === undefined ? [] : [`${base}/${savedRun}`]),
      ...cgroupChildren(base),
      base,
    ];
    return candidates.find((path) => cgroupMembers(path).length > 0);
  }

  /**
   * The stop of a run a manager before began, as saved: a stray's, or its daemon's whose
   * SIGTERM the keeper carried out (its file deleted since: an outside review, 35a, a
   * second SIGTERM and a SIGKILL a whole stop-timeout after the takeover).
   */
  private stopBegun(id: string, seq: number): StrayStop | undefined {
    const stray = this.saved?.strays?.[String(seq)];
    if (stray !== undefined) return stray;
    const saved = this.saved?.daemons[id];
    if (saved?.run !== seq || saved.state !== 'stopping') return undefined;
    const { termedAt, deadline } = saved;
    if (termedAt === undefined || deadline === undefined) return undefined;
    // Its SIGKILL sent already: sent again at once, as to any run past its deadline.
    return { since: termedAt, deadline: saved.killed === true ? Date.now() : deadline };
  }

  /** A run nobody wants: signalled until empty, then released (see KeeperProcesses). */
  private endStray(
    run: RunReport,
    begun = this.saved?.strays?.[String(run.seq)],
    unclaimed?: { pid: number; former: boolean },
    timeoutMs = this.strayTimeoutMs,
  ): void {
    if (!run.alive && run.empty) {
      this.processes.release(run.seq);
      return;
    }
    this.processes.endStray(run.seq, timeoutMs, begun, unclaimed);
  }
}

/**
 * Why no config claims a run of `id` any more, as the log (and `why`, where the daemon is
 * still known) says it. `formerOwner`: the uid of the account that had the owner's name
 * then; `formerRun`: the run is saved as that account's.
 */
function unclaimedWhy(
  id: string,
  formerOwner: number | undefined,
  formerRun: boolean,
  unread: (user: string) => boolean,
  broken: (id: string) => string | undefined,
): string {
  if (formerOwner !== undefined)
    return `its owner then, uid ${formerOwner}, ran it (that account was renamed, or another has this name now)`;
  if (formerRun)
    return 'it is the run of the account that had its owner’s name before, being stopped';
  const problem = broken(id);
  if (problem !== undefined)
    return `its file is broken now, and the config it ran with was not saved: ${problem}`;
  return unread(id.slice(0, id.indexOf('/')))
    ? "its user's directory could not be read, and no config it ran with was saved"
    : 'file deleted, or its user no longer allowed';
}
