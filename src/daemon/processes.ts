import { mkdirSync, rmdir, rmdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { KeeperLink, Signalled } from '../keeper/link.ts';
import type { KeeperEvent, RunReport } from '../keeper/protocol.ts';
import type { Logger } from '../logging/logger.ts';
import { runMembers } from '../process/cgroup.ts';
import { thawIfFrozen, whileFrozen } from '../process/cgroup-freeze.ts';
import { type LaunchPlan, spawnFields } from '../process/launch.ts';
import type { StrayStop } from '../state/snapshot.ts';
import { formatElapsed } from '../supervisor/elapsed.ts';
import type { DaemonRecord, Exit } from '../supervisor/state.ts';
import { type Processes, type Supervisor, signalName } from '../supervisor/supervisor.ts';
import { ProbeGate } from './probe-gate.ts';

/** The processes one user's checks may start a second (and at once, after a pause). */
const PROBES_PER_SECOND = 10;
/**
 * How long a run's cgroup may take to freeze for a signal (a process stuck in the kernel
 * keeps it from freezing): past it, its processes are signalled as they are.
 */
const SIGNAL_FREEZE_MS = 500;
/** How often a shutdown looks whether the checks it killed have ended. */
const CHECKS_POLL_MS = 20;
/** What a readiness check leaves running gets SIGTERM, then SIGKILL after this. */
const PROBE_LEFTOVER_MS = 1_000;
/**
 * While the state cannot be saved (a full disk), ended runs stay in the keeper up to this
 * many, a few hundred bytes each; past it they go, and a kill -9 of the manager then may
 * start a task that already ran once more.
 */
const MAX_UNSAVED_RELEASES = 10_000;
/** How long a stray's SIGTERM waits for the save of its stop (see endStray). */
const STRAY_SAVED_MS = 2_000;
/** How many run cgroups left by a keeper that is gone a spawn skips before it gives up. */
const MAX_LEFT_LEAVES = 1_000;

/**
 * Makes a run's cgroup; false when one with processes is there already (another run's).
 * An empty one is removed and made anew. Throws for any other failure.
 */
function makeLeaf(leaf: string): boolean {
  try {
    mkdirSync(leaf);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  try {
    rmdirSync(leaf);
  } catch (error) {
    // EBUSY: processes in it (or below it).
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return false;
  }
  mkdirSync(leaf);
  return true;
}

/** Are the daemon's runs checked (`ready=`, `health=`)? */
function hasChecks(record: DaemonRecord): boolean {
  return record.spec.ready !== undefined || record.spec.health !== undefined;
}

/** How a spawn ended up: the child became the daemon, or why not. */
export type ExecResult =
  | { readonly ok: true; readonly pid: number }
  | { readonly ok: false; readonly error: string };

/** A run being stopped as a stray when its keeper died (see KeeperProcesses.forgetAll). */
export interface StrayOrphan {
  readonly id: string;
  readonly stop: StrayStop;
  readonly unclaimed: { readonly pid: number; readonly former: boolean } | undefined;
  readonly leaf?: string;
  readonly startTicks?: number;
  readonly uid?: number;
  /** Its main process, where known: with no cgroup, what names the run's group. */
  readonly pid?: number;
  /** Its stop begins now (its SIGTERM sent), not one a manager before began. */
  readonly fresh?: boolean;
}

/** What a run's report says of its end, as the supervisor wants it. */
export function exitOf(run: RunReport): Exit {
  if (run.exit === undefined) return { code: null, signal: null };
  return run.exit.signal !== null
    ? { code: null, signal: signalName(run.exit.signal) }
    : { code: run.exit.code, signal: null };
}

/**
 * The supervisor's processes, kept by dm-keeper: turns launch plans into spawn requests
 * and the keeper's reports into supervisor events, by run number.
 */
export class KeeperProcesses implements Processes {
  /** Which daemon each run is of. */
  private readonly runs = new Map<number, string>();
  /**
   * The plan of each run whose daemon has a `ready=` or `health=` check, so that the check
   * runs just as the run does. No other run's is kept: a plan is a few hundred bytes (its
   * environment, banner, cgroup), and a thousand daemons without checks need none. A check
   * of a run without one (taken over, or a check added by a reload) is run as the daemon
   * would be started now (see Manager.watchReady).
   */
  private readonly plans = new Map<number, LaunchPlan>();
  /** Runs that check a daemon's readiness (`ready=`), and who waits for their end. */
  private readonly probes = new Map<number, (result: Exit | { error: string }) => void>();
  /** The run each check is of: a check never outlives it. */
  private readonly probeParents = new Map<number, number>();
  /** Signals wait for this, if set (see holdSignalsUntil). */
  private signalsHeld: Promise<void> | undefined;

  /**
   * Holds every signal asked from now on until `done` settles: what the manager decided
   * (a shutdown's stops) is saved before any daemon is told of it.
   */
  holdSignalsUntil(done: Promise<unknown>): void {
    const held = done.then(
      () => undefined,
      () => undefined,
    );
    this.signalsHeld = held;
    void held.then(() => {
      if (this.signalsHeld === held) this.signalsHeld = undefined;
    });
  }

  /** Each run's own cgroup, removed once the run is released. */
  private readonly leaves = new Map<number, string>();
  /**
   * The start time of each held run's main process, from the keeper (saved with its pid,
   * to tell it from a process that reused the pid). Forgotten with the run: a crash-looping
   * daemon added one for good at each run.
   */
  private readonly startTicks = new Map<number, number>();
  /**
   * The uid each held run's child was switched to, from the keeper (saved with the run): a
   * keeper that takes over a run whose main process is gone, with no cgroup, finds what is
   * left of its process group by it (see KeeperLink `adopt`).
   */
  private readonly runUids = new Map<number, number>();
  /**
   * The main pid of each held run, from the keeper: saved with the stop of a stray that has
   * no cgroup, its only name once its keeper and the manager are killed (see strayStops).
   */
  private readonly pids = new Map<number, number>();
  private readonly execWaiters = new Map<number, ((result: ExecResult) => void)[]>();
  /** Runs asked of the keeper whose child has not yet become the daemon (or failed to). */
  private readonly launching = new Set<number>();
  /** Who waits for `launching` to empty (see `whenLaunched`). */
  private launchedWaiters: (() => void)[] = [];
  /** One user's checks start at most PROBES_PER_SECOND processes (see probe-gate.ts). */
  private readonly probeGate = new ProbeGate(PROBES_PER_SECOND, PROBES_PER_SECOND);
  private nextSeq: number;
  /** Runs being stopped as strays (see `endStray`): when their SIGTERM was sent, their SIGKILL due. */
  private readonly strays = new Map<number, StrayStop>();
  /**
   * Of those, the runs of a daemon no config claimed (not a check's leftovers): their main
   * pid, and whether they are the runs of the account that had the owner's name before.
   */
  private readonly unclaimed = new Map<number, { pid: number; former: boolean }>();
  /** Strays whose SIGTERM the keeper has not carried out yet (see StrayStop.unsent). */
  private readonly unsent = new Set<number>();
  /** Who waits for a stray to be over (see `straysEnded`). */
  private strayWaiters: (() => void)[] = [];
  /** Runs released here, for the keeper to forget after the next save (see `release`). */
  private readonly unreleased: number[] = [];
  private readonly saved: () => Promise<string | undefined>;
  private readonly durable: () => Promise<unknown>;
  private link: KeeperLink;
  private readonly supervisor: () => Supervisor;
  private readonly managerIsRoot: boolean;
  private readonly onPipe: (id: string, fd: number) => void;
  private readonly log: Logger;
  private readonly strayGone: (id: string) => void;
  private readonly oomKilled: (record: DaemonRecord) => boolean;
  private readonly waitingRun: (run: RunReport) => boolean;

  constructor(
    link: KeeperLink,
    supervisor: () => Supervisor,
    options: {
      readonly firstSeq: number;
      readonly managerIsRoot: boolean;
      readonly onPipe: (id: string, fd: number) => void;
      readonly log: Logger;
      /** Resolves after the next save of the state: see `release`. */
      readonly saved: () => Promise<string | undefined>;
      /** Saves the state now; resolves once it is (see endStray). */
      readonly durable?: () => Promise<unknown>;
      /** Was this SIGKILL of the daemon the OOM killer's? */
      readonly oomKilled: (record: DaemonRecord) => boolean;
      /** The last run of a daemon no config claims (a survivor stopped) is over. */
      readonly strayGone: (id: string) => void;
      /**
       * Keeps a newer report of a run the keeper held at the attach whose daemon the start
       * has not taken over yet (see Recovery.update); false if no such run waits.
       */
      readonly waitingRun?: (run: RunReport) => boolean;
    },
  ) {
    this.link = link;
    this.supervisor = supervisor;
    this.oomKilled = options.oomKilled;
    this.nextSeq = options.firstSeq;
    this.managerIsRoot = options.managerIsRoot;
    this.onPipe = options.onPipe;
    this.log = options.log;
    this.saved = options.saved;
    this.durable = options.durable ?? (() => Promise.resolve());
    this.strayGone = options.strayGone;
    this.waitingRun = options.waitingRun ?? (() => false);
  }

  /** The next run number: persisted, so that runs of every manager instance differ. */
  get seq(): number {
    return this.nextSeq;
  }

  /**
   * Claims a run number the keeper already has (adopted at start), with its cgroup. A
   * manager killed while it signalled or moved the run left it frozen (see
   * cgroup-freeze.ts): it is thawed here, or it would stay stopped for good.
   */
  claim(run: RunReport, cgroup: string | undefined): void {
    this.runs.set(run.seq, run.id);
    this.startTicks.set(run.seq, run.startTicks);
    if (run.uid !== undefined) this.runUids.set(run.seq, run.uid);
    if (run.pid > 0) this.pids.set(run.seq, run.pid);
    if (cgroup !== undefined) {
      this.leaves.set(run.seq, cgroup);
      // A run with no main process known (survivors adopted from their cgroup) too.
      thawIfFrozen(cgroup);
    }
    this.nextSeq = Math.max(this.nextSeq, run.seq + 1);
  }

  /**
   * Claims a number for a run the keeper is asked to adopt (in `cgroup`, if known), thawed
   * as in `claim`: its keeper killed, then the manager as it signalled the survivors, they
   * stayed frozen, deaf to the next manager's SIGTERM until its SIGKILL (an outside
   * review, 67b, F1: 12 of 58 kill pairs 15-40 ms apart, each daemon down for its
   * stop_timeout).
   */
  claimNew(id: string, cgroup?: string, startTicks?: number, uid?: number, pid = 0): number {
    const seq = this.nextSeq++;
    this.runs.set(seq, id);
    if (startTicks !== undefined) this.startTicks.set(seq, startTicks);
    if (uid !== undefined) this.runUids.set(seq, uid);
    if (pid > 0) this.pids.set(seq, pid);
    if (cgroup !== undefined) {
      this.leaves.set(seq, cgroup);
      thawIfFrozen(cgroup);
    }
    return seq;
  }

  /** The cgroups of the runs this manager knows (running, stopping, not yet released). */
  knownCgroups(): Set<string> {
    return new Set(this.leaves.values());
  }

  /** The start time of a held run's main process (see `startTicks`), if known. */
  startTicksOf(run: number): number | undefined {
    return this.startTicks.get(run);
  }

  /** The uid a held run's child was switched to (see `runUids`), if known. */
  runUidOf(run: number): number | undefined {
    return this.runUids.get(run);
  }

  /**
   * Forgets every run (their keeper died); returns the cgroup and start time of each, by
   * run, and the runs that were being stopped as strays, to be handed to the next keeper
   * with their stops as begun (see adoptStray).
   */
  forgetAll(): {
    readonly orphans: Map<
      number,
      { readonly leaf?: string; readonly startTicks?: number; readonly uid?: number }
    >;
    readonly strays: readonly StrayOrphan[];
  } {
    const orphans = new Map<number, { leaf?: string; startTicks?: number; uid?: number }>();
    const pids = new Map<number, number>();
    for (const run of this.runs.keys()) {
      const leaf = this.leaves.get(run);
      const startTicks = this.startTicks.get(run);
      const uid = this.runUids.get(run);
      orphans.set(run, {
        ...(leaf === undefined ? {} : { leaf }),
        ...(startTicks === undefined ? {} : { startTicks }),
        ...(uid === undefined ? {} : { uid }),
      });
      const pid = this.pids.get(run);
      if (pid !== undefined) pids.set(run, pid);
    }
    const strays: StrayOrphan[] = [];
    for (const [run, stop] of this.strays) {
      const id = this.runs.get(run);
      if (id === undefined) continue;
      const pid = pids.get(run);
      strays.push({
        id,
        stop,
        unclaimed: this.unclaimed.get(run),
        ...orphans.get(run),
        ...(pid === undefined ? {} : { pid }),
      });
    }
    this.runs.clear();
    this.leaves.clear();
    this.startTicks.clear();
    this.runUids.clear();
    this.pids.clear();
    this.strays.clear();
    this.unclaimed.clear();
    for (const wake of this.strayWaiters.splice(0)) wake();
    for (const run of [...this.launching]) this.launched(run);
    return { orphans, strays };
  }

  /**
   * A run that was being stopped as a stray when its keeper died, handed to the next one
   * (`link.adopt`, by its main pid and cgroup): its stop goes on to its deadline, as begun.
   * Forgotten, such a run that ignored its SIGTERM was never sent its SIGKILL, nor named
   * again, and outlived the manager's own shutdown; a deleted account's run went on as the
   * uid an account made again has now (an outside review, 64a, F3: 5 of 5).
   */
  adoptStray(stray: StrayOrphan): void {
    const pid = stray.unclaimed?.pid ?? stray.pid ?? 0;
    const seq = this.claimNew(stray.id, stray.leaf, stray.startTicks, stray.uid, pid);
    this.link.adopt(
      seq,
      stray.id,
      pid,
      stray.startTicks ?? 0,
      stray.leaf ?? '',
      stray.leaf === undefined ? stray.uid : undefined,
    );
    const { stop } = stray;
    if (stray.fresh === true)
      this.endStray(seq, stop.deadline - stop.since, undefined, stray.unclaimed);
    else this.endStray(seq, 0, stop, stray.unclaimed);
  }

  /** The pid of the keeper this manager is attached to. */
  get keeperPid(): number {
    return this.link.keeperPid;
  }

  replaceLink(link: KeeperLink): void {
    this.link = link;
  }

  /**
   * Each run gets a cgroup of its own below the daemon's, made here and removed at its
   * release: its processes are never mixed with an older run's leftovers, and a cgroup
   * is killed (cgroup.kill) at most once. The second matters on this kernel: a process
   * cloned straight into a cgroup that was killed before is killed at birth.
   */
  spawn(record: DaemonRecord, plan: LaunchPlan): number | { readonly error: string } {
    if (!this.link.alive) return { error: 'the keeper of daemons is not running' };
    let seq = this.nextSeq++;
    let cgroup = plan.cgroup;
    if (cgroup !== undefined) {
      let leaf = `${cgroup}/${seq}`;
      try {
        // One left by a keeper killed with its state directory lost (its run numbers
        // counted from 1 again): an empty one is made anew (a cgroup killed before kills
        // what is cloned into it), one with processes skipped. Every run went without a
        // cgroup, said only in the log (an outside review, 20b).
        let made = makeLeaf(leaf);
        for (let tries = 0; !made && tries < MAX_LEFT_LEAVES; tries++) {
          seq = this.nextSeq++;
          leaf = `${cgroup}/${seq}`;
          made = makeLeaf(leaf);
        }
        if (!made) throw Object.assign(new Error(leaf), { code: 'EEXIST' });
        this.leaves.set(seq, leaf);
        cgroup = leaf;
      } catch (error) {
        this.log.warn(
          `${record.id}: cannot make cgroup ${leaf} (${(error as NodeJS.ErrnoException).code}); following its process group only`,
        );
        cgroup = undefined;
      }
    }
    this.runs.set(seq, record.id);
    if (hasChecks(record)) this.plans.set(seq, plan);
    this.launching.add(seq);
    // An older keeper kept across an upgrade refuses a field it does not know.
    const owner = this.link.recordsUids ? plan.owner : undefined;
    this.link.spawn(spawnFields(seq, record.id, { ...plan, cgroup, owner }, this.managerIsRoot));
    return seq;
  }

  /**
   * The daemon's processes were moved into other v1 cgroups (a quota or the fair share
   * changed by a SIGHUP): its runs' checks, started from their launch plans, join those.
   */
  rejoin(id: string, joins: readonly string[]): void {
    for (const [seq, plan] of this.plans)
      if (this.runs.get(seq) === id) this.plans.set(seq, { ...plan, joins });
  }

  /**
   * Signals every process of the run. The keeper signals the members its cgroup lists,
   * and a process forking and exiting in a loop outran that list: its children never got
   * the signal (nor a SIGTERM of a stop). So the run's cgroup is frozen while the keeper
   * signals (see cgroup-freeze.ts), and they get it once thawed. SIGKILL needs none:
   * cgroup.kill reaches forks racing it.
   */
  signal(run: number, signal: number): Promise<Signalled> {
    const held = this.signalsHeld;
    if (held !== undefined && signal !== 0) return held.then(() => this.signal(run, signal));
    const leaf = this.leaves.get(run);
    if (leaf === undefined || signal === 9 || signal === 0) return this.link.signal(run, signal);
    return whileFrozen(leaf, SIGNAL_FREEZE_MS, () => this.link.signal(run, signal));
  }

  /**
   * The manager is done with a run (it ended, and what it means is recorded). The keeper
   * forgets it only once the state that records its end is saved: a manager killed before
   * that finds it in the keeper, ended, and acts on its end as this one did, instead of
   * finding it gone, taking its daemon for one that never ran, and starting a `restart=no`
   * task a second time (an outside review, 10 kills in 20).
   */
  release(run: number): void {
    this.plans.delete(run);
    this.launched(run);
    this.dropStray(run);
    if (!this.forgetRun(run)) return;
    this.unreleased.push(run);
    if (this.unreleased.length === 1) void this.releaseWhenSaved();
    const leaf = this.leaves.get(run);
    this.leaves.delete(run);
    // Off the event loop: a cgroup's rmdir waits for the kernel's cgroup_mutex, which every
    // fork into a cgroup and every move into a v1 one (waiting for an RCU grace period)
    // holds. In a crash storm the manager spent a tenth of its time here, every request
    // and respawn waiting behind it. Nothing waits for it: no run is started in a cgroup
    // of an earlier run's number, and removeCgroup and removeTree remove what is still
    // there (whichever rmdir comes second finds the leaf gone).
    if (leaf !== undefined)
      rmdir(leaf, () => {
        // Processes stuck in the kernel are still in it; it goes at the manager's exit.
      });
  }

  private async releaseWhenSaved(): Promise<void> {
    while (this.unreleased.length > 0) {
      const batch = this.unreleased.length;
      const failure = await this.saved();
      // A save that failed (a full disk) keeps them, up to a bound: the keeper's memory.
      if (failure !== undefined && this.unreleased.length <= MAX_UNSAVED_RELEASES) continue;
      for (const seq of this.unreleased.splice(0, batch)) this.link.release(seq);
    }
  }

  /**
   * Stops a run no daemon wants any more (a leftover, or a daemon no config claims):
   * SIGTERM now, SIGKILL after `timeoutMs`; it is released once its report says it is over.
   */
  endStray(
    run: number,
    timeoutMs: number,
    begun?: StrayStop,
    unclaimed?: { pid: number; former: boolean },
  ): void {
    if (unclaimed !== undefined) this.unclaimed.set(run, unclaimed);
    // A stop a manager before this one began goes on (an upgrade, a kill -9): sent its
    // SIGTERM again, with a new timeout, at each takeover, a survivor that ignores it was
    // never killed while the manager was taken over every few seconds (an outside review,
    // 32a, F1). A stop that goes on had its SIGCONT with its SIGTERM (an outside review,
    // 37a: a second at each takeover).
    if (begun !== undefined) {
      // Its SIGTERM decided but maybe never carried out (the manager before killed in
      // between): sent now, its timeout counted from now. Kept, the run had a fraction of
      // its stop timeout, 190 ms of a second (an outside review, 76a, F2).
      const now = Date.now();
      const stop =
        begun.unsent === true
          ? { ...begun, since: now, deadline: now + Math.max(0, begun.deadline - begun.since) }
          : begun;
      this.strays.set(run, stop);
      this.killStrayAt(run, stop);
      if (begun.unsent === true) this.termStray(run);
      return;
    }
    const decided = Date.now();
    const stop = { since: decided, deadline: decided + timeoutMs };
    this.strays.set(run, stop);
    this.unsent.add(run);
    // Its SIGTERM goes out once the state saying it is saved: sent first, a kill -9 of the
    // manager before that save (a takeover saves nothing until every daemon is loaded) had
    // the next one begin the stop again, a second SIGTERM and a later SIGKILL, and a file
    // put back meanwhile taken for a crash of its daemon (an outside review, 74b, F1: 15 of
    // 16 kills 7-36 ms after the SIGTERM). A save that cannot come holds it no longer than
    // STRAY_SAVED_MS. Claimed back by its daemon meanwhile, its unsent SIGTERM is the
    // daemon's stop's to send (see claimStray).
    void Promise.race([this.durable(), delay(STRAY_SAVED_MS, undefined, { ref: false })]).then(
      () => {
        if (!this.runs.has(run) || this.strays.get(run) !== stop) return;
        this.termStray(run);
        // Its timeout counts from its SIGTERM (saved with the next save). Kept from the
        // decision when the save took under 100 ms, its SIGKILL came 13-66 ms early (an
        // outside review, 77b, F4: 38 of 38).
        const sent = Date.now();
        const counted = sent === decided ? stop : { since: sent, deadline: sent + timeoutMs };
        if (counted !== stop) {
          this.strays.set(run, counted);
          void this.saved();
        }
        this.killStrayAt(run, counted);
      },
    );
  }

  /** A stray's SIGTERM (and SIGCONT); once carried out, saved as such at once. */
  private termStray(run: number): void {
    this.unsent.add(run);
    void this.signal(run, 15).then((answer) => {
      // No answer (the keeper gone): not carried out (an outside review, 76a, F1).
      if (answer.lost === true) return;
      this.unsent.delete(run);
      void this.durable();
    });
    void this.signal(run, 18);
  }

  /** SIGKILL for a stray still there at its stop's deadline. */
  private killStrayAt(run: number, stop: StrayStop): void {
    // After the loop's next poll, where the report of a run that ended in time may wait.
    setTimeout(
      () => {
        setImmediate(() => {
          const id = this.runs.get(run);
          // Claimed back by a daemon since (see claimStray): its stop is the daemon's.
          if (id === undefined || this.strays.get(run) !== stop) return;
          this.log.warn(
            `${id}: run ${run}, which no daemon wants, still runs ${formatElapsed(Date.now() - stop.since)} after its SIGTERM; sent SIGKILL`,
          );
          void this.signal(run, 9);
        });
      },
      Math.max(0, stop.deadline - Date.now()),
    ).unref();
  }

  /**
   * A run of daemon `id` no config claimed at a takeover, still being stopped: taken back
   * from the strays (its stop is the daemon's from now on), with its stop as begun. A
   * daemon whose file came back meanwhile started beside it: two copies until its SIGKILL
   * (an outside review, 36a, F4, High), where the manager running waits for the old run.
   */
  claimStray(
    id: string,
  ): { seq: number; pid: number; former: boolean; stop: StrayStop } | undefined {
    for (const [seq, { pid, former }] of this.unclaimed) {
      const stop = this.strays.get(seq);
      if (this.runs.get(seq) !== id || stop === undefined) continue;
      this.strays.delete(seq);
      this.unclaimed.delete(seq);
      // Its SIGTERM not carried out yet: the daemon's stop sends it (see strayTermedAt).
      const unsent = this.unsent.delete(seq);
      return { seq, pid, former, stop: unsent ? { ...stop, unsent: true } : stop };
    }
    return undefined;
  }

  /** A run no longer stopped as a stray: whoever waits for the strays to end looks again. */
  private dropStray(run: number): void {
    this.unclaimed.delete(run);
    this.unsent.delete(run);
    if (this.strays.delete(run)) for (const wake of this.strayWaiters.splice(0)) wake();
  }

  /** Whether a run of one of `user`'s daemons is being launched (asked of the keeper, not yet exec'd). */
  launchingOf(user: string): boolean {
    for (const seq of this.launching) if (this.runs.get(seq)?.startsWith(`${user}/`)) return true;
    return false;
  }

  /** Whether a run of daemon `id` no config claims is being stopped as a former account's (see endStray). */
  stopsFormerOf(id: string): boolean {
    for (const [seq, { former }] of this.unclaimed)
      if (former && this.runs.get(seq) === id && this.strays.has(seq)) return true;
    return false;
  }

  /** Whether a run of daemon `id` is being stopped as a stray (see endStray). */
  stopsStrayOf(id: string): boolean {
    for (const seq of this.strays.keys()) if (this.runs.get(seq) === id) return true;
    return false;
  }

  /**
   * What names a stray with no cgroup once its keeper and the manager are killed: its
   * daemon, main pid, start time and uid (see StrayStop). Saved without them, such a stray
   * was lost to a second pair of kills during its stop, and ran on unlisted.
   */
  private namedWithoutCgroup(id: string, run: number): Partial<StrayStop> {
    const pid = this.unclaimed.get(run)?.pid ?? this.pids.get(run);
    const startTicks = this.startTicks.get(run);
    if (pid === undefined || pid <= 0 || startTicks === undefined) return {};
    const uid = this.runUids.get(run);
    return { id, pid, startTicks, ...(uid === undefined ? {} : { uid }) };
  }

  /** Forgets what is known of a run; whether it was held. */
  private forgetRun(run: number): boolean {
    this.startTicks.delete(run);
    this.runUids.delete(run);
    this.pids.delete(run);
    return this.runs.delete(run);
  }

  /** The stops of runs no daemon wants under way, by run, for the next manager (see endStray). */
  strayStops(): Record<string, StrayStop> {
    const stops: Record<string, StrayStop> = {};
    for (const [run, stop] of this.strays) {
      const id = this.runs.get(run);
      if (id === undefined) continue;
      const leaf = this.leaves.get(run);
      stops[String(run)] = {
        since: stop.since,
        deadline: stop.deadline,
        ...(leaf ? { leaf } : this.namedWithoutCgroup(id, run)),
        ...(this.unclaimed.get(run)?.former === true ? { former: true } : {}),
        ...(this.unsent.has(run) ? { unsent: true as const } : {}),
      };
    }
    return stops;
  }

  /**
   * Resolves once every run being stopped as a stray is over, or `graceMs` after the SIGKILL
   * of the last of them was due (a process stuck in the kernel). A shutdown gives them what
   * is left of their stop, as it gives a daemon's: it ended without them, and the keeper
   * killed them as it quit, a second into a stop of 6 s (an outside review, 31a, F3).
   */
  async straysEnded(graceMs: number): Promise<void> {
    for (;;) {
      for (const run of this.strays.keys()) if (!this.runs.has(run)) this.strays.delete(run);
      if (this.strays.size === 0) return;
      const left =
        Math.max(...[...this.strays.values()].map((stop) => stop.deadline)) + graceMs - Date.now();
      if (left <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, left);
        function wake(): void {
          clearTimeout(timer);
          resolve();
        }
        this.strayWaiters.push(wake);
      });
    }
  }

  /**
   * Runs `command` as the daemon's run `parent` runs (its user, groups, directory,
   * environment, limits, in a cgroup beside it, so its quota counts it), its output
   * discarded; resolves with how it ended, killed after `timeoutMs`. The run is an
   * ordinary one of the daemon to the rest: released once over, stopped after a crash.
   */
  async probe(
    record: DaemonRecord,
    parent: number,
    command: string,
    timeoutMs: number,
  ): Promise<Exit | { error: string }> {
    // The run may have ended while the check waited its turn: its plan is gone with it.
    const plan = this.plans.get(parent);
    if (plan === undefined) return { error: 'its launch plan is not known' };
    // The check gets nothing of the daemon's own: no output pipe, none of its held sockets.
    const { sockets: _, ...own } = plan;
    const seq = this.spawn(record, { ...own, start: command, output: 'ignore', banner: undefined });
    if (typeof seq !== 'number') return seq;
    this.probeParents.set(seq, parent);
    return new Promise((resolve) => {
      const timer = setTimeout(() => void this.signal(seq, 9), Math.max(1, timeoutMs));
      this.probes.set(seq, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
    });
  }

  /**
   * Waits for the owner's turn to start a check's process (see probe-gate.ts); resolves
   * with how long it waited.
   */
  async probeTurn(owner: string): Promise<number> {
    const wait = this.probeGate.book(owner, performance.now());
    if (wait > 0) await delay(wait);
    return wait;
  }

  /** The run's own cgroup, where the manager made one. */
  leafOf(run: number): string | undefined {
    return this.leaves.get(run);
  }

  memberOf(run: number): number | undefined {
    const leaf = this.leaves.get(run);
    if (leaf === undefined) return undefined;
    return runMembers(leaf)[0];
  }

  /** Is the plan of this run known (it was spawned by this manager, or told)? */
  hasPlan(run: number): boolean {
    return this.plans.has(run);
  }

  /** The plan of a run taken over from the keeper (an upgrade), for its readiness checks. */
  notePlan(run: number, plan: LaunchPlan): void {
    if (this.runs.has(run)) this.plans.set(run, plan);
  }

  /** Resolves once the run's child has become the daemon, or could not. */
  waitExec(run: number): Promise<ExecResult> {
    return new Promise((resolve) => {
      const waiters = this.execWaiters.get(run) ?? [];
      waiters.push(resolve);
      this.execWaiters.set(run, waiters);
    });
  }

  /**
   * Resolves once every run asked of the keeper so far has exec'd its command, or failed
   * to (at once if none is under way): the end of a burst of launches, such as start-up's.
   */
  whenLaunched(): Promise<void> {
    if (this.launching.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.launchedWaiters.push(resolve));
  }

  /** The run's launch is over, however it ended. */
  private launched(run: number): void {
    if (!this.launching.delete(run) || this.launching.size > 0) return;
    const waiters = this.launchedWaiters;
    this.launchedWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Fails every wait (the keeper is gone). */
  failWaits(error: string): void {
    for (const run of [...this.launching]) this.launched(run);
    for (const [run, waiters] of this.execWaiters) {
      this.execWaiters.delete(run);
      for (const resolve of waiters) resolve({ ok: false, error });
    }
    for (const [run, resolve] of this.probes) {
      this.probes.delete(run);
      resolve({ error });
    }
  }

  /** Runs of daemons, by number, still held. */
  held(): ReadonlyMap<number, string> {
    return this.runs;
  }

  handle(event: KeeperEvent): void {
    switch (event.kind) {
      case 'pipe':
        this.onPipe(event.id, event.fd);
        return;
      case 'log':
        this.log.info(`keeper: ${event.level}: ${event.text}`);
        return;
      case 'error':
        this.log.error(`keeper refused ${event.verb}: ${event.text}`);
        return;
      case 'spawn-failed': {
        this.launched(event.seq);
        this.settleExec(event.seq, { ok: false, error: event.error });
        this.settleProbe(event.seq, { error: event.error });
        const record = this.recordOf(event.seq);
        if (record) this.supervisor().noteSpawnFailed(record, event.seq, event.error);
        this.forgetRun(event.seq);
        return;
      }
      case 'adopt-failed': {
        // Nothing of the survivor was left by the time the keeper looked (a stray too:
        // its stop is over).
        const id = this.runs.get(event.seq);
        if (this.strays.has(event.seq)) {
          this.dropStray(event.seq);
          this.forgetRun(event.seq);
          this.leaves.delete(event.seq);
          if (id !== undefined && ![...this.runs.values()].includes(id)) this.strayGone(id);
          return;
        }
        const record = this.recordOf(event.seq);
        if (record)
          this.supervisor().noteExit(record, event.seq, { code: null, signal: null }, true);
        this.forgetRun(event.seq);
        return;
      }
      case 'spawned':
      case 'exec':
      case 'exited':
      case 'empty':
      case 'run':
        this.handleRun(event.kind, event.run);
        return;
      default:
        return;
    }
  }

  private handleRun(kind: 'spawned' | 'exec' | 'exited' | 'empty' | 'run', run: RunReport): void {
    if (run.exec !== 'pending' || !run.alive) this.launched(run.seq);
    if ((kind === 'spawned' || kind === 'run') && this.runs.has(run.seq)) {
      this.startTicks.set(run.seq, run.startTicks);
      if (run.uid !== undefined) this.runUids.set(run.seq, run.uid);
      if (run.pid > 0) this.pids.set(run.seq, run.pid);
    }
    // A run stopped as a stray is no daemon's, though one of its id is loaded since (the
    // account that has the name now): its end was taken for that daemon's and dropped, and
    // a renamed account's daemon waiting for it was never loaded (an outside review, 43a,
    // F3: two accounts that swapped names, then an upgrade).
    // (A run the daemon still knows as its own, its stop's or one SIGKILL left, is its.)
    const found = this.recordOf(run.seq);
    const owned =
      found !== undefined &&
      (('run' in found.state && found.state.run === run.seq) ||
        found.unkilled.some((left) => left.run === run.seq));
    const record = this.strays.has(run.seq) && !owned ? undefined : found;
    const supervisor = this.supervisor();
    if (record === undefined) {
      // A run the keeper held at the attach, its daemon not taken over yet (its user's
      // files still being read): the takeover goes by this newer report. Dropped, the end
      // of a run that ended meanwhile was never known, and its daemon was shown running
      // with a pid long gone, never respawned (an outside review, 29b, F1: 50-83 of 300
      // daemons after an upgrade).
      if (this.waitingRun(run)) return;
      // A run of a daemon forgotten meanwhile: let the keeper forget it once it is over.
      if (!run.alive && run.empty) {
        const id = this.runs.get(run.seq);
        this.release(run.seq);
        if (id !== undefined && ![...this.runs.values()].includes(id)) this.strayGone(id);
      }
      return;
    }
    if (kind === 'spawned' || kind === 'run')
      supervisor.noteSpawned(record, run.seq, run.pid, run.spawnedAt || undefined);
    if ((kind === 'exec' || kind === 'run') && run.exec !== 'pending') {
      if (run.exec === 'failed') supervisor.noteExecFailed(record, run.seq, run.execError);
      else supervisor.noteBegun(record, run.seq, run.execAt);
      this.settleExec(
        run.seq,
        run.exec === 'ok' ? { ok: true, pid: run.pid } : { ok: false, error: run.execError },
      );
    }
    if ((kind === 'exited' || kind === 'run') && !run.alive && this.probes.has(run.seq)) {
      // A readiness check's end is its waiter's, not the daemon's (nor an OOM of it).
      this.settleProbe(run.seq, exitOf(run));
      // What the check left running (a command that forked) goes too.
      if (run.empty) this.release(run.seq);
      else this.endStray(run.seq, PROBE_LEFTOVER_MS);
      return;
    }
    if ((kind === 'exited' || kind === 'run') && !run.alive) {
      this.endChecks(run.seq);
      const exit = exitOf(run);
      // Killed, or a shell whose child was (`exit status 137` from dash's fork of it).
      const oom = (exit.signal === 'SIGKILL' || (exit.code ?? 0) !== 0) && this.oomKilled(record);
      // The keeper's time of the reaping (0: not known, a survivor of another keeper).
      const at = run.exitedAt || Date.now();
      supervisor.noteExit(record, run.seq, oom ? { ...exit, oom } : exit, run.empty, at);
    }
    if (kind === 'empty') supervisor.noteEmpty(record, run.seq);
  }

  private settleProbe(run: number, result: Exit | { error: string }): void {
    const resolve = this.probes.get(run);
    this.probes.delete(run);
    this.probeParents.delete(run);
    resolve?.(result);
  }

  /**
   * Kills the checks of a run (all runs': undefined) under way: a check of a run that
   * ended, was stopped or restarted, or of a manager going away, has nothing left to
   * check, and would otherwise hold its processes and the keeper's descriptors until
   * its health_timeout (a review piled up 31 of one daemon's checks that way).
   */
  endChecks(parent?: number): void {
    for (const [seq, of] of this.probeParents)
      if (parent === undefined || of === parent) void this.signal(seq, 9);
  }

  /** Kills every check and waits (up to `timeoutMs`) until the keeper says they ended. */
  async endAllChecks(timeoutMs: number): Promise<void> {
    this.endChecks();
    const deadline = Date.now() + timeoutMs;
    while (this.probes.size > 0 && Date.now() < deadline) await delay(CHECKS_POLL_MS);
  }

  private settleExec(run: number, result: ExecResult): void {
    const waiters = this.execWaiters.get(run);
    if (waiters === undefined) return;
    this.execWaiters.delete(run);
    for (const resolve of waiters) resolve(result);
  }

  private recordOf(run: number): DaemonRecord | undefined {
    const id = this.runs.get(run);
    return id === undefined ? undefined : this.supervisor().daemons.get(id);
  }
}
