import {
  closeSync,
  type FSWatcher,
  fstatSync,
  lstatSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  watch,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { type DaemonSpec, parseDaemonConfig } from '../config/daemon.ts';
import type { UserLimits } from '../config/limits.ts';
import type { MasterConfig } from '../config/master.ts';
import { formatProblem, hasErrors, type Problem } from '../config/problems.ts';
import type { Settings } from '../config/settings.ts';
import {
  type ControlContext,
  handleRequest,
  type KeeperSilent,
  type Refreshed,
} from '../control/handlers.ts';
import { ControlServer, type Peers } from '../control/server.ts';
import { type BrokenConfig, statusOf } from '../control/status.ts';
import { nameMountersWith } from '../files/file-error.ts';
import type { FileStat } from '../files/native-ops.ts';
import { onAnsweringAgain } from '../files/not-answering.ts';
import { closeFd } from '../files/user-files.ts';
import { KeeperNotAnswering } from '../keeper/hello.ts';
import type { KeeperLink, KeeperSnapshot } from '../keeper/link.ts';
import type { RunReport } from '../keeper/protocol.ts';
import { readRunRecords, removeOthersRunRecords, withUnsavedRuns } from '../keeper/run-records.ts';
import { DaemonLines } from '../logging/daemon-lines.ts';
import type { Logger } from '../logging/logger.ts';
import { UserLines } from '../logging/user-lines.ts';
import { startBanner } from '../logs/log-file.ts';
import { mayRunAs, mayRunDaemons, mayUseManager, ROOT, runAsRefusal } from '../policy/authorize.ts';
import { limitsForDaemon, limitsForUser } from '../policy/limits.ts';
import { type Policy, personalPolicy, resolvePolicy } from '../policy/policy.ts';
import { type DelayBounds, restartDelayOf, restartDelayRefusal } from '../policy/restart-delay.ts';
import {
  type CgroupQuota,
  type CgroupTree,
  cgroupChildren,
  cgroupMembers,
  type DaemonCgroups,
  findCgroupTree,
  missingControllers,
  NO_QUOTA,
  oomKills,
  prepareCgroup,
  removeCgroup,
  removeTree,
  runMembers,
} from '../process/cgroup.ts';
import { thawLeftFrozen } from '../process/cgroup-freeze.ts';
import { CgroupWrites } from '../process/cgroup-writes.ts';
import { buildEnvironment } from '../process/environment.ts';
import { bannerLine } from '../process/launch.ts';
import { keeperHolding, managerHolding, managerOf } from '../process/lock-holder.ts';
import { findBuilt, type Native } from '../process/native.ts';
import { bootId, heldGids, provenAlive, readStat, realUid } from '../process/proc-stat.ts';
import type {
  ConfigCopy,
  DaemonInfo,
  DaemonStatus,
  LogChunk,
  Request,
  RescanReport,
  Response,
} from '../protocol/messages.ts';
import { printableJson } from '../protocol/printable.ts';
import { deadline } from '../protocol/silence.ts';
import { ConfigCopies } from '../state/config-copies.ts';
import {
  asNoted,
  type EventKind,
  History,
  type HistoryEvent,
  historyKeptByUid,
  isWantedChange,
} from '../state/history.ts';
import { HistoryFile } from '../state/history-file.ts';
import { markedRunning, markRunning, unmarkRunning } from '../state/running-mark.ts';
import {
  type LockFile,
  type SavedDaemon,
  type SavedState,
  type StrayStop,
  snapshot,
  strayTermedAt,
} from '../state/snapshot.ts';
import { StateFile } from '../state/state-file.ts';
import { StateSaver } from '../state/state-saver.ts';
import type { BackoffPolicy } from '../supervisor/backoff.ts';
import { formatElapsed } from '../supervisor/elapsed.ts';
import { inTurn } from '../supervisor/in-turn.ts';
import { type DaemonRecord, newRecord, runsOldConfig } from '../supervisor/state.ts';
import {
  KILL_GRACE_MS,
  type Prepared,
  Supervisor,
  type SupervisorHost,
} from '../supervisor/supervisor.ts';
import {
  type Account,
  type AccountDb,
  groupIdsOf,
  membershipKey,
  membersOf,
  type NameService,
  type OtherAccounts,
  withLocalFilesNow,
} from '../users/accounts.ts';
import { BrokenConfigs } from './broken-configs.ts';
import { readConfigAsOwner, readEditedCopy, writeConfigAsOwner } from './config-writer.ts';
import { DaemonLogs, earlierPipeOf, NOT_OPEN } from './daemon-logs.ts';
import { DaemonMetrics } from './daemon-metrics.ts';
import { DaemonSockets, listenEnvironment } from './daemon-sockets.ts';
import { formerOwnerOf, lockedFor } from './former-owner.ts';
import { HealthChecks } from './health-checks.ts';
import type { TcpBinder } from './held-sockets.ts';
import { judgeConfig, type ListenRights } from './judge.ts';
import { listenRightsOf } from './listen-rights.ts';
import { type LogSource, readLogPiece } from './log-reading.ts';
import { lowerMemoryLimit, type MemoryRun, mebibytes } from './memory-lowering.ts';
import { applyNotify } from './notify-events.ts';
import { NotifyHub } from './notify-hub.ts';
import { makeOwner, type Owner, sameOwner } from './owner.ts';
import { ProblemBoard } from './problem-board.ts';
import { KeeperProcesses } from './processes.ts';
import {
  applyQuotaToRunning,
  describeQuota,
  type RunningDaemon,
  sameQuota,
} from './quota-changes.ts';
import { Readiness } from './readiness.ts';
import { Recovery } from './recovery.ts';
import { RescanBudget } from './rescan-budget.ts';
import { RescanTally } from './rescan-tally.ts';
import { groupNameIn, revokedGroups } from './revoked-groups.ts';
import {
  configPathOf,
  createOwnerDirs,
  type DirScan,
  isConfigGone,
  type LoadedConfig,
  loadConfig,
  MAX_DAEMONS_PER_USER,
  scanDaemonDir,
} from './scan.ts';
import { clearShuttingDown } from './shutting-down.ts';
import { Slicer } from './slices.ts';
import { locksSocketDir, SOCKETS_LOCK, type SocketsLock, socketsLockHeld } from './sockets-lock.ts';
import { StartBudget } from './start-budget.ts';
import { Watchdogs } from './watchdog.ts';

/**
 * Why `cpu-fair-share = yes` does nothing here, said once at the start (undefined when it
 * works, or is off): without a v1 `cpu` hierarchy each process competes alone.
 */
function fairShareMissing(
  mode: Mode['kind'],
  settings: Settings,
  tree: CgroupTree | undefined,
): string | undefined {
  if (!settings.cpuFairShare || tree?.cpuBase !== undefined) return undefined;
  const why =
    mode === 'personal'
      ? 'personal mode'
      : !settings.cgroups
        ? 'cgroups = no'
        : tree === undefined
          ? 'no cgroup2 hierarchy the manager can use'
          : 'no v1 cpu hierarchy mounted (a pure cgroup2 host is not supported)';
  return `cpu-fair-share does nothing here (${why}): each process of a user's daemons competes for the CPU alone`;
}

/** The first wait of the default back-off, doubled at each quick exit (see supervisor/backoff.ts). */
const FIRST_COOLDOWN_MS = 1_000;

/** How long after a change of /etc/passwd or /etc/group they are read again (useradd writes both). */
const ACCOUNTS_SETTLE_MS = 100;
/**
 * The longest a burst of changes puts that off: users can rewrite /etc/passwd (chfn) in a
 * loop, and a settling that waited for a quiet moment would wait as long as they please.
 */
const ACCOUNTS_SETTLE_MAX_MS = 1_000;

/** How often one rescan of a user starts again when their rights changed meanwhile. */
const SCAN_ATTEMPTS = 3;
/** When a user seen without a home is looked at again (see awaitHome). */
const HOME_LOOKS_MS = [1000, 3000, 10_000, 30_000];
/** The longest between two looks at the directory of a user whose daemons were taken over unread. */
const UNREAD_LOOK_MS = 10_000;
/** How long a request waits on a silent keeper before it is answered with what is known. */
const KEEPER_SILENT_MS = 5_000;
/** At a stop, how long the pipe of a daemon whose processes SIGKILL has not ended is read. */
const STUCK_PIPE_DRAIN_MS = 500;
/** At a stop, how long a log that could not be opened is tried once more. */
const STOP_LOG_OPEN_MS = 2_000;
/**
 * At a stop, how long tails through the manager are given to read the daemons' last
 * output (a tail at the end of its log looks again every 500 ms: src/cli/remote-log.ts),
 * if a log was read within TAILING_MS.
 */
const TAIL_CATCH_UP_MS = 700;
const TAILING_MS = 2_000;
/** The longest a shutdown's SIGTERMs wait for its stops to be saved (see shutdown). */
const STOPS_SAVED_MS = 2_000;

/** How the manager runs: for everyone under a master config, or for one user alone. */
export type Mode =
  | { readonly kind: 'system'; readonly config: MasterConfig }
  | { readonly kind: 'personal'; readonly user: string; readonly settings: Settings };

/** What the manager is made of, built by main.ts. */
export interface ManagerParts {
  readonly mode: Mode;
  readonly accounts: NameService;
  readonly settings: Settings;
  readonly log: Logger;
  readonly socketPathFor: (user: string) => string;
  readonly saved: SavedState | undefined;
  readonly link: KeeperLink;
  readonly snapshot: KeeperSnapshot;
  /** Makes a listening unix socket (native/sockets.c). */
  readonly bind: (path: string, backlog: number) => number;
  /** Who is at the other end of a connected unix socket, and whether it is still there. */
  readonly peers: Peers;
  /** Binds a daemon's TCP `listen=` socket as root (native/sockets.c). */
  readonly bindTcp: TcpBinder;
  /** The sd_notify sockets' system calls (native/notify_socket.c). */
  readonly notifySockets: Pick<Native, 'bindNotify' | 'watchNotify' | 'closeFd'>;
  /** Starts a new keeper, after the one attached died. */
  readonly newKeeper: () => Promise<{ link: KeeperLink; snapshot: KeeperSnapshot }>;
  /** Aborted by a SIGTERM or SIGINT: the start (`begin`) starts no daemon after it. */
  readonly stopComing?: AbortSignal;
  /**
   * The system manager's lock of its socket-dir (see sockets-lock.ts): taken at a fresh
   * start (`taken`), else handed on by the keeper; `take` takes it where the keeper had
   * none (taking over from a version that held none, or a new keeper).
   */
  readonly socketsLock?: { readonly taken?: number; readonly take: () => SocketsLock };
}

/**
 * The manager: knows the users and their daemons, keeps the supervisor fed with specs,
 * and answers the control sockets. Policy decisions are delegated to `policy/`, process
 * work to `supervisor/` and the keeper (`keeper/`), the protocol to `control/`.
 */
export class Manager implements ControlContext, SupervisorHost {
  readonly supervisor: Supervisor;
  readonly processes: KeeperProcesses;
  private currentPolicy: Policy;
  private readonly ownerTable = new Map<string, Owner>();
  /** Users whose daemon directory was read whole at start (`begin`), for its sweep. */
  private listedAtStart: Set<string> | undefined = new Set();
  private readonly configFiles = new Map<string, string>();
  private readonly problems = new ProblemBoard();
  private readonly broken = new BrokenConfigs();
  /** Each user's problems as last logged: a problem is logged when it appears, not again. */
  private readonly loggedProblems = new Map<string, ReadonlySet<string>>();
  private readonly control: ControlServer;
  private readonly logs: DaemonLogs;
  /** Each user's configs as last read whole, for a start while they cannot be read. */
  private readonly configCopies: ConfigCopies;
  /** The listening sockets held for daemons (`listen=`). */
  private readonly sockets: DaemonSockets;

  private mode: Mode;
  private db: AccountDb;
  /** The accounts of name services other than /etc/passwd and /etc/group, as last read in full. */
  private otherAccounts: OtherAccounts;
  settings: Settings;
  readonly log: Logger;

  private recovery: Recovery | undefined;
  /** The keeper died while the daemons were taken over: replaced once they all are. */
  private keeperLostWhileTakingOver = false;
  private link: KeeperLink;
  /** The keeper `link` is attached to, with its start time (see keeperIdentity). */
  private keeperSeen: { pid: number; startTicks: number } | undefined;
  private readonly snapshot: KeeperSnapshot;
  private readonly newKeeper: ManagerParts['newKeeper'];
  private readonly state: StateSaver;
  private readonly readiness: Readiness;
  /** sd_notify sockets (`ready=notify`, `watchdog=`), watchdogs and `health=` checks. */
  private readonly notify: NotifyHub;
  private readonly watchdogs: Watchdogs;
  private readonly healthChecks: HealthChecks;
  /** Each daemon's recent events, for `dmctl why`, of the account its id is of now (see historyUid); saved with the state. */
  private readonly history = new History((id) => this.historyUid(id));
  private readonly cgroups: CgroupTree | undefined;
  private readonly metrics: DaemonMetrics;
  /**
   * The uid each daemon's newest run was switched to, as the keeper recorded it at the
   * spawn (none from a keeper before version 3): a run-as account made again under its
   * name, another uid, is told from a group taken away (see `runAsAgain`).
   */
  private readonly runUids = new Map<string, RecordedRun>();
  /**
   * The names of the groups each daemon's start under way was given, as they were when it
   * was asked for: a keeper that spawns it later (stopped, starved) may do so after a
   * change of groups, which is then said with the names of then (see judgeSpawnedGroups).
   */
  /** The keeper's silence was said in the log (see untilKeeperSilent), until it speaks. */
  private keeperSilenceSaid = false;
  /** When the keeper last said anything (performance.now()). */
  private keeperHeardAt = 0;
  private readonly askedGroupNames = new Map<string, ReadonlyMap<number, string>>();
  /** Daemons whose output pipe the keeper has handed over, until it ends. */
  private readonly pipes = new Set<string>();
  /**
   * Users whose daemon directory this manager holds locked (flock of its `.lock`), with
   * the descriptor: no other manager, of any config or mode, runs their daemons
   * meanwhile. The keeper holds the same lock (one open file, two descriptors), so it
   * lasts through a crash or an upgrade of the manager, and through the keeper's death.
   * Users whose directory another manager holds: why their daemons are not loaded here.
   */
  private readonly userLocks = new Map<string, number>();
  /**
   * The `.lock` of each account's daemon directory this manager held, by uid, with the name
   * it was held under: the account's identity beside its uid. A uid under another name is
   * that account renamed only if the new name's daemon directory has the same file (see
   * accountsReplaced). Saved: after a `kill -9` of the manager and its keeper, or for an
   * account away under a name not allowed (its lock let go), it is all there is.
   */
  private readonly lockFiles = new Map<number, LockFile>();
  /**
   * The uids of accounts this manager saw deleted while a run of theirs was still being
   * stopped (its record's `formerUid`, or a stop of the run of the account that had the
   * name before): an account given one of them since is someone else, whatever its name,
   * and nothing of the deleted one's daemons is its own. Taken for the same account
   * renamed away and back, a new account made with the name and uid got the deleted one's
   * `why` (an outside review, 66a, F2: 5 of 5), and after a `kill -9` its respawn counts and
   * last exit too (7 of 7). Saved, until no such run is left.
   */
  private readonly deletedUids = new Set<number>();
  /**
   * The uids that are another account than the one that had them, judged at the last
   * change of the accounts (see accountsReplaced): what the old one left is not theirs.
   * Set while that change is applied only.
   */
  private replacedUids: ReadonlySet<number> = new Set();
  /** The accounts as they were before the change syncOwners applies, if known. */
  private dbBefore: AccountDb | undefined;
  /**
   * The uids under a new name whose daemon directory could not be read when judged (see
   * accountsReplaced), with why: neither that account renamed nor a new one yet, they are
   * no owner meanwhile (what the old account left is kept by uid, as for a name not
   * allowed), and are judged again 1, 3, 10 and 30 s later, then every 30 s.
   */
  private undecidedUids: ReadonlyMap<number, string> = new Map();
  /**
   * The uids under the name they had whose daemon directory could not be read at a start
   * (not mounted yet at boot, not answering, a mode), with why: the account this manager
   * knew, or one made again with its name and uid while no manager ran. Taken for the one
   * it knew meanwhile (its daemons run on: a home unreadable at a restart after a crash
   * must not stop them), and judged once the directory can be read; made again, what the
   * deleted one left is dropped then (see forgetMadeAgain). Taken for the same account for
   * good, the new owner kept its home unreadable until the manager had started and got the
   * deleted one's stops, history and run (an outside review, 55a, F1: 4 of 4).
   */
  private unknownUids: ReadonlyMap<number, string> = new Map();
  private rejudge: { timer: NodeJS.Timeout | undefined; tries: number } = {
    timer: undefined,
    tries: 0,
  };
  /** The lock of the socket-dir this manager holds (the keeper holds it too; see sockets-lock.ts). */
  private socketsLock: number | undefined;
  private readonly socketsLockParts: ManagerParts['socketsLock'];
  /** /etc/passwd and /etc/group as last read (inode, size, time), to see them change. */
  private accountsStamp = accountFilesStamp();
  /** Who belonged to which group when running daemons' groups were last checked. */
  private membership: string | undefined;
  private socketSync: Promise<void> = Promise.resolve();
  private accountsWatcher: FSWatcher | undefined;
  private accountsSettle: NodeJS.Timeout | undefined;
  /** When the first change of a burst not yet read was seen (performance.now()). */
  private accountsSettleSince: number | undefined;
  /** The next applyQuotas writes every running user's quota again (a SIGHUP's). */
  private rewriteQuotas = false;
  /** Runs moved into their user's memory cgroup while they ran (see lowerMemory); a few numbers each. */
  private readonly memoryMovedRuns = new Set<number>();
  /**
   * Runs killed to bring their user under a lowered memory quota, until their exit is seen
   * (by run: a run that had ended before its kill leaves no mark on the next one).
   */
  private readonly memoryKilled = new Set<number>();
  /** By user: the memory limit a lowering gave up on, tried again once stuck processes are gone. */
  private readonly memoryUnwritten = new Map<string, number>();
  /** The OOM killer's count in each user's memory cgroup, when last seen. */
  private readonly oomCounts = new Map<string, number>();
  /** The quota each user's cgroups were last given (at a start, or applied to running daemons). */
  private readonly quotas = new Map<string, CgroupQuota>();
  /** The limits written into the cgroups, written again only when they change. */
  private readonly cgroupWrites = new CgroupWrites();
  /**
   * The quota work under way (lowering, moves of running daemons into their cgroups), one
   * after the other for each user, users apart: another user's quota waited 20 s behind
   * one user's lowering stuck on daemons SIGKILL could not end (an outside review, 19b).
   */
  private readonly quotaMoves = new Map<string, Promise<void>>();
  /** Users whose quota work a hand-over called off: done again if the upgrade fails. */
  private readonly quotasCalledOff = new Set<string>();
  /** Set by shutdown(): every daemon is being stopped for the manager to exit. */
  private stopping = false;
  /** When a log was last read through the manager (see tailsCatchUp). */
  private lastLogReadAt = 0;
  /**
   * Handed over to a new manager (an upgrade): until `takeBack`, this one acts on no change
   * of users, which is the new one's to act on. Acting on one, an old manager on its way
   * out removed the new manager's control socket of an account made again and bound one of
   * its own that died with it (every dmctl call refused), and took that account's lock.
   */
  private handedOver = false;
  private readonly lockRefusals = new Map<string, string>();
  /** For a refusal no manager holds the lock of: who does, as said (see keeperOfLock). */
  private readonly lockKeepers = new Map<string, string>();
  /** Each user's rescans, one after the other (a user's spam waits in its own line). */
  private readonly scans = new Map<string, Promise<unknown>>();
  /** What each user's files cost to read lately: past the budget, their rescans are refused. */
  private readonly rescanBudget = new RescanBudget();
  /** The starts and restarts each user asked for lately: past the budget, refused. */
  private readonly startBudget = new StartBudget();
  /** The manager's lines of each user's doing: past their budget, counted (see UserLines). */
  private readonly userLines: UserLines;
  /** The manager's log, the lines about each user's daemons held to a budget. */
  private readonly daemonLines: DaemonLines;
  /** Control sockets the keeper kept, by user, until `begin` has reopened them. */
  private readonly keptControl = new Map<string, number>();
  private readonly socketPathFor: (user: string) => string;
  /** The state the previous manager saved, read at the start. */
  private readonly savedAtStart: SavedState | undefined;
  /** Whether `running` is in the state directory (see running-mark.ts). */
  private readonly marked: boolean;
  /**
   * Daemons whose owner is another account now than when the state was saved (deleted and
   * made again under the name while no manager ran), with the uid the old one had: what
   * survives of them is stopped, never handed over, and their output never logged.
   */
  private readonly formerOwners = new Map<string, number>();
  /** The daemons renamed at a takeover whose old run's stop was said in their history (see noteFormerOwner). */
  private readonly renameStopsSaid = new Set<string>();
  /**
   * Daemons of an owner gone or made again under the name (another uid) while the
   * manager ran, still stopping: a daemon of that name of the account there now is
   * loaded once each is gone.
   */
  private readonly replacedRuns = new Set<string>();
  /** The uids judged made again with their name and uid since this manager started (see forgetMadeAgain). */
  private readonly madeAgain = new Set<number>();
  /** What the last judgement found each uid not known before to be (see judgeNow). */
  private readonly judgedAs = new Map<number, 'same' | 'renamed' | 'made again' | 'another'>();
  /**
   * Daemons of an account renamed (by their new id), loaded once the runs under the old
   * name (that id) are gone: started at once beside them, each daemon had two copies for
   * as long as its old run took to stop (an outside review, 36a: 2 of 2 after a kill -9,
   * 1 of 1 live).
   */
  private readonly renameWaits = new Map<string, string>();
  /** Daemons of an account gone or renamed, being stopped: how their owner wanted them. */
  private readonly wantedBeforeDisown = new Map<string, 'up' | 'down'>();

  constructor(parts: ManagerParts) {
    // A keeper the last manager started as it died, before it handed it the runs it saved
    // (see SavedState `keeper`): it knows none of them. Taken for the keeper that held
    // them, their survivors were never looked for, and each daemon ran twice (an outside
    // review, 65a, F1: 5 of 6; a deleted account's run went on beside the new account's).
    const savedKeeper = parts.saved?.keeper;
    const sameKeeper =
      savedKeeper === undefined ||
      (savedKeeper.pid === parts.link.keeperPid &&
        savedKeeper.startTicks === readStat(parts.link.keeperPid)?.startTime);
    if (parts.snapshot.existing && !sameKeeper)
      parts.log.warn(
        `the keeper of daemons (pid ${parts.link.keeperPid}) is not the one that held the runs saved (pid ${savedKeeper?.pid}): what survives of them is looked for ${parts.settings.cgroups && parts.mode.kind === 'system' ? 'in their cgroups and by their saved pids' : 'by their pids (saved, or recorded by that keeper)'}`,
      );
    // The keeper that held the runs gone: those it spawned after the last save, as it
    // recorded them, are the daemons' runs too (see withUnsavedRuns). With cgroups, their
    // cgroups name them already (a run's own, by its number).
    const tracked = parts.settings.cgroups && parts.mode.kind === 'system';
    // A clean stop whose last save failed (a full disk) is one still (see running-mark.ts).
    const stoppedCleanUnsaved =
      parts.saved?.clean === false &&
      parts.saved.marked === true &&
      parts.saved.upgrade === undefined &&
      !markedRunning(parts.settings.stateDir);
    if (stoppedCleanUnsaved)
      parts.log.warn(
        'the manager before stopped every daemon and exited, but could not save that last (a full state directory?): taken as the clean stop it was',
      );
    const savedAsIs =
      stoppedCleanUnsaved && parts.saved ? { ...parts.saved, clean: true } : parts.saved;
    this.marked = markRunning(parts.settings.stateDir);
    const saved =
      (parts.snapshot.existing && sameKeeper) || tracked
        ? savedAsIs
        : withUnsavedRuns(
            savedAsIs,
            readRunRecords(parts.settings.stateDir),
            parts.link.keeperPid,
            (id, run) =>
              parts.log.warn(
                `${id}: pid ${run.pid} was started after the last save by a keeper that is gone (pid ${run.keeper}): taken for its run`,
              ),
          );
    this.mode = parts.mode;
    this.db = parts.accounts.db;
    this.otherAccounts = parts.accounts.others;
    // A refusal of a user's FUSE mount names its mounter's account as it is now.
    nameMountersWith((uid) => this.db.byUid.get(uid)?.name);
    this.settings = parts.settings;
    this.savedAtStart = saved;
    for (const id of saved?.stoppedBroken ?? []) this.stoppedWhileBroken.add(id);
    // Kept across a takeover: a second one (an upgrade after a kill -9) found no trace of
    // the owner's stop under the old name, and started the daemon (an outside review, 41a, F3).
    for (const id of saved?.leftDownByOldName ?? []) this.leftDownByOldName.add(id);
    for (const [id, name] of Object.entries(saved?.leftDownOldNames ?? {}))
      if (this.leftDownByOldName.has(id)) this.leftDownOldNames.set(id, name);
    // Saved: lost at a takeover, a daemon renamed back to its old name was started beside
    // its old run, and the daemons of two accounts that swapped names were never loaded
    // (an outside review, 43a, F1, F3).
    for (const [newId, oldId] of Object.entries(saved?.renameWaits ?? {}))
      this.renameWaits.set(newId, oldId);
    for (const [uid, file] of Object.entries(saved?.lockFiles ?? {}))
      this.lockFiles.set(Number(uid), { ...file });
    for (const uid of saved?.deletedUids ?? []) this.deletedUids.add(uid);
    for (const [uid, left] of Object.entries(saved?.leftDownByUid ?? {}))
      this.leftDownByUid.set(Number(uid), {
        name: left.name,
        daemons: [...left.daemons],
        ...(left.waits === undefined ? {} : { waits: { ...left.waits } }),
      });
    this.socketPathFor = parts.socketPathFor;
    // The lines about a user's daemons, held to that user's budget (see DaemonLines).
    const log = new DaemonLines(parts.log);
    this.log = log;
    this.daemonLines = log;
    this.link = parts.link;
    this.snapshot = parts.snapshot;
    this.newKeeper = parts.newKeeper;
    this.socketsLockParts = parts.socketsLock;
    this.currentPolicy = this.policyFor(parts.mode);
    this.supervisor = new Supervisor(this);
    this.processes = new KeeperProcesses(parts.link, () => this.supervisor, {
      // Past every run the keeper holds too: the saved number may be up to a second old
      // (saves nobody waits for are batched), and a number reused for a new run would be
      // refused by the keeper, or name another daemon's run (a review: stop signalled it).
      firstSeq: parts.snapshot.runs.reduce(
        (next, run) => Math.max(next, run.seq + 1),
        saved?.nextSeq ?? 1,
      ),
      managerIsRoot: process.geteuid?.() === 0,
      onPipe: (id, fd) => this.adoptPipe(id, fd),
      log,
      saved: () => this.state.saved(),
      durable: () => this.state.durable(),
      oomKilled: (record) => this.oomKilled(record),
      // Its log journal goes with it (an outside review, 19c: kept until the next start),
      // once its pipe is read to its end (see pipeEnded): forgotten as its run ended, its
      // log was let go of with its last lines still in the pipe, dropped (a full run of
      // the tests, under load).
      strayGone: (id) => {
        this.log.info(`${id}: the last of its processes no daemon wants is gone`);
        if (!this.supervisor.daemons.has(id) && !this.pipes.has(id)) void this.logs.forget(id);
        this.renamedRunGone(id);
      },
      waitingRun: (run) => this.recovery?.update(run) ?? false,
    });
    // Before a silence is judged, what the daemon's notify socket holds is read.
    const readQueued = (record: DaemonRecord): number | undefined =>
      this.notify.readQueued(record.id);
    this.readiness = new Readiness(() => this.supervisor, this.processes, readQueued);
    this.watchdogs = new Watchdogs(() => this.supervisor, readQueued);
    this.healthChecks = new HealthChecks(
      () => this.supervisor,
      this.processes,
      (record, text) => this.note(record, 'health', text),
    );
    this.notify = new NotifyHub(
      {
        log,
        link: () => this.link,
        ...parts.notifySockets,
        daemon: (id) => this.supervisor.daemons.get(id),
        placeOf: (record) => {
          const { state } = record;
          if (state.kind !== 'running') return undefined;
          return { run: state.run, mainPid: state.pid, leaf: this.processes.leafOf(state.run) };
        },
        deliver: (record, run, message) =>
          applyNotify(record, run, message, {
            supervisor: this.supervisor,
            watchdogs: this.watchdogs,
            note: (text) => this.note(record, 'notify', text),
          }),
      },
      join(parts.settings.socketDir, 'notify'),
      parts.mode.kind === 'personal' ? 0o700 : 0o711,
    );
    // A start's copy is charged to its owner's rescan budget: within it, written before
    // the run begins; past it, with the others every REPLACE_EVERY_MS.
    this.configCopies = new ConfigCopies(parts.settings.stateDir, parts.log, {
      budget: {
        allows: (user) => user === ROOT || this.rescanRefusal(user) === undefined,
        charge: (user, bytes) => {
          if (user !== ROOT) this.rescanBudget.charge(user, bytes, performance.now());
        },
      },
    });
    this.stopLookingNow = onAnsweringAgain((uid) => this.lookNow(uid));
    this.logs = new DaemonLogs(
      parts.settings,
      log,
      (id, inode) => this.pipeEnded(id, inode),
      // A gap in a daemon's output (begun, or said at last) is saved soon: see OutputGap.
      () => this.state.schedule(),
      (id, text) => this.history.note(id, 'config', text),
      (id) => this.outputHeld(id),
      { store: (name, fd) => this.link.store(name, fd), drop: (name) => this.link.drop(name) },
    );
    // What the last manager dropped of each daemon's output and did not say yet: said, its
    // count included, where writing resumes. After a clean stop every pipe is new.
    for (const [id, daemon] of Object.entries(saved?.daemons ?? {}))
      if (daemon.outputGap !== undefined)
        this.logs.carry(
          id,
          saved?.clean ? { ...daemon.outputGap, skipRest: false } : daemon.outputGap,
        );
    const historyFile = new HistoryFile(parts.settings.stateDir, this.history);
    const unreadable = historyFile.load();
    if (unreadable !== undefined) parts.log.warn(unreadable);
    this.sockets = new DaemonSockets({
      link: () => this.link,
      bindTcp: parts.bindTcp,
      log,
      rights: (user) => this.listenRights(user),
      stillWaiting: (id) => {
        const record = this.supervisor.daemons.get(id);
        return record?.state.kind === 'coolingdown' && record.wanted === 'up';
      },
      boundAgain: (id) => {
        const record = this.supervisor.daemons.get(id);
        if (record?.state.kind !== 'coolingdown' || record.wanted !== 'up') return;
        this.log.info(
          `${id}: its sockets are bound now; starting it without waiting for its back-off`,
        );
        this.supervisor.start(record);
      },
    });
    this.state = new StateSaver(
      new StateFile(parts.settings.stateDir),
      () => this.takeState(false),
      parts.log,
      historyFile,
    );
    // Nothing is saved until every daemon is loaded (`begin`): a save made half-way said
    // nothing of the daemons not loaded yet, and a kill -9 before the next save had the
    // manager after it stop and start them again (outside review: 7 kills in 9).
    this.state.hold();
    this.cgroups =
      parts.mode.kind === 'system' && parts.settings.cgroups
        ? findCgroupTree(parts.settings.stateDir)
        : undefined;
    parts.log.info(
      this.cgroups
        ? `daemons tracked by cgroup under ${this.cgroups.base}`
        : 'no cgroups: daemons tracked by process group',
    );
    const unfair = fairShareMissing(parts.mode.kind, parts.settings, this.cgroups);
    if (unfair !== undefined) parts.log.info(unfair);
    // A manager before killed during its shutdown left its mark (see shutting-down.ts).
    const marked = clearShuttingDown(parts.settings.stateDir);
    const killedInShutdown = marked !== undefined && saved?.clean === false;
    if (killedInShutdown)
      log.warn(
        `the manager before (pid ${marked}) was killed during its shutdown: what it was stopping, or had stopped, runs again`,
      );
    this.recovery = new Recovery({
      saved,
      killedInShutdown,
      stoppedCleanUnsaved,
      snapshot: { ...parts.snapshot, existing: parts.snapshot.existing && sameKeeper },
      supervisor: this.supervisor,
      processes: this.processes,
      link: parts.link,
      cgroupOf: (id) => this.cgroups && join(this.cgroups.base, id),
      stopTimeoutMs: (record) => this.stopTimeoutMs(record),
      strayTimeoutMs: parts.settings.stopTimeoutMs,
      log,
      replacing: (record) => this.sockets.bindAfterStop(record.id),
      formerUid: (id) => this.formerOwners.get(id),
      formerAccount: (id, uid) => this.formerAccount(id, uid),
      note: (record, kind, text) => this.note(record, kind, text),
      history: (record) => this.history.of(record.id),
      mayStart: () => parts.stopComing?.aborted !== true,
    });
    this.metrics = new DaemonMetrics(() => this.statusRows(), parts.log);
    this.userLines = new UserLines(parts.log);
    this.control = new ControlServer(
      parts.socketPathFor,
      (caller, request, peerUid) => {
        this.refreshAccounts();
        const stranger = this.strangerOn(caller, peerUid);
        if (stranger !== undefined) {
          this.userLines.warn(
            caller,
            `control: refused a request on ${caller}'s socket: ${stranger}`,
          );
          return { ok: false, error: 'not authorized' };
        }
        return handleRequest(this, caller, request);
      },
      parts.log,
      parts.bind,
      parts.peers,
      (command, ok) => this.metrics.requests.record(command, ok),
      this.userLines,
    );
  }

  /** Loads every allowed user's daemons, takes over the keeper's runs, opens the sockets. */
  async begin(): Promise<void> {
    for (const { level, text } of this.snapshot.logs) this.log.info(`keeper: ${level}: ${text}`);
    // Before any survivor is signalled: frozen, it waits for its SIGKILL.
    const thawed = this.cgroups === undefined ? 0 : thawLeftFrozen(this.cgroups.base);
    if (thawed > 0) this.log.warn(`thawed ${thawed} cgroups a manager before this one left frozen`);
    // Whose the locks the keeper kept are, before anything is taken for a rename (the
    // keeper's events wait meanwhile).
    for (const [name, fd] of this.snapshot.fds)
      if (name.startsWith('lock:')) this.noteLockFile(name.slice(5), fd);
    this.takeJudgement(await this.accountsReplaced(this.savedAtStart?.upgrade === undefined));
    this.listen(this.link);
    for (const run of this.snapshot.runs) this.noteRunUid(run);
    for (const [name, fd] of this.snapshot.fds)
      if (name.startsWith('ctl:')) this.keptControl.set(name.slice(4), fd);
      else if (name.startsWith('lock:')) {
        // The keeper kept the user's lock while no manager was there: it is ours again.
        this.userLocks.set(name.slice(5), fd);
      } else if (name === SOCKETS_LOCK) this.keepSocketsLock(fd);
      else if (name.startsWith('lsn:')) this.sockets.adopt(name, fd);
      else this.notify.adopt(name, fd);
    this.holdSocketsLock(this.socketsLockParts?.taken, this.socketsLock !== undefined);
    this.syncOwners();
    this.noteFormerOwners();
    this.keepLeftByDisallowed();
    this.renameKeptLocks();
    this.renamePending(this.savedAtStart?.pendingNames ?? {});
    await this.rescan([...this.ownerTable.keys()]);
    const stopped =
      this.recovery?.finish(
        (user) =>
          this.ownerTable.has(user) &&
          !this.lockRefusals.has(user) &&
          this.listedAtStart?.has(user) !== true,
        (id) => this.broken.get(id)?.problem,
      ) ?? [];
    // Said in `why` too (its history), where the daemon is still known (a broken file).
    for (const { id, why } of stopped)
      this.history.note(
        id,
        'config',
        `its run is stopped at the takeover: no config claims it (${why})`,
      );
    if (this.recovery !== undefined) this.endUnclaimedCgroups();
    await this.recovery?.startAll();
    this.claimNotifySockets();
    this.sockets.releaseUnwanted(this.supervisor.daemons, (user) => this.ownerTable.get(user));
    this.adoptEarlierPipes();
    // Once the daemons are known: each output pipe goes on into its daemon's log (the old
    // account's of a name are emptied already, see noteFormerOwners).
    for (const [name, fd] of this.snapshot.fds)
      if (name.startsWith('out:') && !this.formerOwners.has(name.slice(4)))
        this.adoptPipe(name.slice(4), fd);
    this.formerOwners.clear();
    this.leftOverSpecs.clear();
    await this.syncSockets();
    await this.metrics.listen(this.settings.metricsListen);
    this.watchAccounts();
    // From now on a daemon is new: autostart alone decides.
    this.recovery = undefined;
    if (this.keeperLostWhileTakingOver) {
      this.keeperLostWhileTakingOver = false;
      await this.keeperLost();
    }
    this.forgetOthersRunRecords();
    // A renamed account's daemon whose old run ended during the takeover loads now (by a
    // rescan that ends later: its history is kept below all the same; dropped as a daemon
    // no longer known, a full test run found its owner's `why` emptied).
    const renamedLoading = new Set(this.renameWaits.keys());
    for (const oldId of new Set(this.renameWaits.values())) this.renamedRunGone(oldId);
    // A change made while the daemons were taken over, before the watch began (a
    // `gpasswd -d` right after a SIGUSR2), is applied now, not at the next change.
    this.refreshAccounts();
    // The history of daemons that are gone (file deleted, user no longer allowed) goes too;
    // not of those whose directory could not be read (see savedUnread), nor of a renamed
    // account's, loaded once its old run is gone (an outside review, 41a, F4: only the last
    // line was left after a takeover).
    const listed = this.listedAtStart;
    this.listedAtStart = undefined;
    const known = new Set([
      ...this.supervisor.daemons.keys(),
      ...this.broken.all().map((entry) => entry.id),
      ...this.savedUnread.keys(),
      ...renamedLoading,
      // Of owners whose files were not read whole yet (their rescan called off as their
      // rights changed during the takeover, a directory not readable): loaded later, as
      // are daemons left stopped under a renamed account's new name. Dropped here, such a
      // daemon was loaded with its history gone, who had stopped it with it (a CI run:
      // "users and groups changed" as a renamed account's takeover went on).
      ...this.leftDownByOldName,
      ...this.history.idsStartingWith('').filter((id) => {
        const user = id.slice(0, id.indexOf('/'));
        return this.ownerTable.has(user) && listed?.has(user) !== true;
      }),
      // The histories of an account there still but not allowed to run daemons now (out of
      // `[can_run_as]`), its own: back, their `why` goes on (an outside review, 54b, F2).
      ...this.history.idsStartingWith('').filter((id) => {
        const user = id.slice(0, id.indexOf('/'));
        const uid = this.db.users.get(user)?.uid;
        return (
          !id.startsWith('#') &&
          uid !== undefined &&
          !this.ownerTable.has(user) &&
          (this.history.accountOf(id) ?? uid) === uid
        );
      }),
      // What waits by uid for its account to be allowed again, with its history (under
      // the old name, or by uid while that name is another account's).
      ...[...this.leftDownByUid].flatMap(([uid, left]) => [
        ...[...left.daemons, ...Object.keys(left.waits ?? {})].map(
          (daemon) => `${left.name}/${daemon}`,
        ),
        ...this.history.idsStartingWith(historyKeptByUid(uid, '')),
      ]),
    ]);
    this.history.keepOnly(known, (uid) => this.accountNow(uid) !== undefined);
    this.doneReplacing();
    for (const uid of this.lockFiles.keys())
      if (!this.db.byUid.has(uid)) this.lockFiles.delete(uid);
    // And their log journals, but not those of a user whose directory could not be read
    // whole (a home not there yet, a lock held elsewhere): their daemons may be back.
    this.logs.sweep((id) => {
      const user = id.slice(0, id.indexOf('/'));
      return !known.has(id) && (!this.ownerTable.has(user) || listed?.has(user) === true);
    });
    this.configCopies.keepOnly(new Set(this.ownerTable.keys()));
    this.dropKeptControl();
    // Daemons taken over from a previous manager (an upgrade: one without cpu-fair-share)
    // join their user's cgroups now, not at their next start.
    this.applyQuotas();
    this.state.release();
    this.state.schedule();
  }

  /**
   * Finds the daemons whose runs are not the account's of that name now: the account was
   * deleted, and maybe made again, while no manager ran. The keeper's record of each run
   * decides (the owner's uid the manager gave at its spawn): a daemon loaded less than a
   * second before a kill -9 of the last manager is in no saved state. Where the keeper
   * records nothing (one from before version 3, kept across an upgrade, whose manager saved
   * the state before it handed over), the owner's uid saved in the state does. What the old
   * account left (its history, the sockets and the output pipe the keeper kept for it) is
   * not the new one's. An account gone counts too, allowed or not: one made again under its
   * name while this manager runs would get it (an outside review found the old run's output
   * in its log). (A run of the owner's account as a uid that is not a user the owner may
   * run as now, its run-as account made again, is stopped by `runUserRefusal`.)
   */
  private noteFormerOwners(): void {
    const runsById = new Map<string, RunReport[]>();
    for (const run of this.snapshot.runs)
      runsById.set(run.id, [...(runsById.get(run.id) ?? []), run]);
    const saved = this.savedAtStart?.daemons ?? {};
    for (const id of new Set([...Object.keys(saved), ...runsById.keys()])) {
      const user = id.slice(0, id.indexOf('/'));
      const uid = this.db.users.get(user)?.uid;
      const runs = runsById.get(id) ?? [];
      // Made again with its name and uid (see accountsReplaced): the runs and the saved
      // daemon of that uid are the deleted account's.
      // So is a run saved as the one of the account that had the name before, that account
      // deleted (see deletedUids): an account of the name and uid now is someone else.
      const ofDeleted =
        saved[id]?.former === true && uid !== undefined && this.deletedUids.has(uid);
      const former =
        formerOwnerOf(runs, saved[id]?.ownerUid, uid) ??
        (uid !== undefined && (this.replacedUids.has(uid) || ofDeleted) ? uid : undefined);
      // A run the keeper reports, or one the state saved: after a kill -9 of the keeper
      // too, its survivors are found later, in its cgroups (an outside review, 45b, F1:
      // loaded under the uid's next name at once, beside its old run).
      const state = saved[id]?.state;
      const ran = runs.length > 0 || state === 'running' || state === 'stopping';
      // Not one the keeper started for the account of the name now (the save behind it),
      // said in the renamed account's `why` as its own old run.
      const pids = runs
        .filter((run) => run.alive && (uid === undefined || run.ownerUid !== uid))
        .map((run) => run.pid);
      // With the keeper gone too, the saved run found alive: said as well. Unsaid, `why`
      // went from the old run's start to the new one's (an outside review, 77a, F2: 5 of 5).
      const { pid, startTicks } = saved[id] ?? {};
      if (
        runs.length === 0 &&
        !this.snapshot.existing &&
        (state === 'running' || state === 'stopping') &&
        pid !== undefined &&
        pid > 0 &&
        provenAlive(pid, startTicks)
      )
        pids.push(pid);
      if (former !== undefined) this.noteFormerOwner(id, former, uid, ran, pids);
    }
    this.sockets.releaseFormer((id) => this.formerOwners.has(id));
  }

  private noteFormerOwner(
    id: string,
    former: number,
    uid: number | undefined,
    runs: boolean,
    /** The pids of its runs still alive, as the keeper reports them. */
    pids: readonly number[] = [],
  ): void {
    this.formerOwners.set(id, former);
    this.formerRunOwners.set(id, former);
    const name = id.slice(id.indexOf('/') + 1);
    // Renamed (`usermod -l`) while no manager ran: the same uid under a new name, allowed
    // too. As for a rename seen live, a daemon the owner left stopped stays so under the
    // new name (an outside review, 22c, 2: started again).
    // Its old name may be another account's now (two accounts that swapped names, a new
    // account given the old name: an outside review, 26b, F1).
    const user = id.slice(0, id.indexOf('/'));
    const nameNow = this.accountNow(former)?.name;
    const renamed = nameNow !== undefined && nameNow !== user ? nameNow : undefined;
    const allowed = renamed !== undefined && this.mayOwn(renamed);
    const taken = uid === undefined ? '' : `; the name is uid ${uid}'s now`;
    // Of the saved daemon only if it is that account's (not the one of the name now).
    const saved = this.savedAtStart?.daemons[id];
    const leftDown =
      saved?.wanted === 'down' &&
      saved.waitsForFile !== true &&
      (saved.ownerUid ?? former) === former;
    if (allowed && leftDown) this.leaveDown(`${renamed}/${name}`, user);
    // Renamed to a name not allowed to run daemons (a step of a rename done in steps, or a
    // detour and back): kept by uid, as when the manager sees it (see syncOwners). Back
    // under an allowed name, what its owner left stopped stays so, with its history, and
    // the daemon waits for what survives of its old run. Taken for an account gone, the
    // stop was undone and two copies ran (an outside review, 44a, F1, F2).
    const detour = renamed !== undefined && !allowed;
    // Allowed, but not known yet to be this account (see undecidedUids): kept as for a
    // detour, and said as what it is (an outside review, 55a, F2: "a name not allowed").
    const undecided = detour && this.undecidedUids.has(former);
    // Its name another account's now: what it left is kept, its history by uid (the other
    // account's daemon of that name never reads it), but not a wait for a run under an id
    // that is the other account's daemon's now.
    const nameFree = uid === undefined;
    if (detour) this.keepLeftByUid(former, user, name, leftDown, runs && nameFree ? id : undefined);
    this.log.warn(
      allowed
        ? `${id}: its owner is called ${renamed} now (uid ${former}, renamed before this manager took over${taken}); what survives of its daemon is stopped, and ${renamed}/${name} runs as its file says once that is gone (left stopped, it stays so)`
        : undecided
          ? `${id}: its owner is called ${renamed} now (uid ${former}), not known yet to be the same account (its daemon directory cannot be read); what survives of its daemon is stopped, not handed over (known so, what its owner left stopped stays so)`
          : detour && nameFree
            ? `${id}: its owner is called ${renamed} now (uid ${former}), a name not allowed to run daemons; what survives of its daemon is stopped, not handed over (back under an allowed name, what its owner left stopped stays so)`
            : uid === undefined
              ? `${id}: its owner's account is gone (uid ${former}); what survives of its daemon is stopped, not handed over`
              : uid === former
                ? `${id}: its owner's account was deleted and made again with its name and uid (${uid}); what survives of the old one's daemon is stopped, not handed over`
                : `${id}: its owner is another account now (uid ${former}, now ${uid}); what survives of the old one's daemon is stopped, not handed over`,
    );
    if (this.accountNow(former) === undefined) this.saveDeletion(former, user);
    // Renamed: the history goes with its daemon (an outside review, 27b, F3), and it is
    // loaded under the new name once what survives under the old one is gone.
    if (allowed) {
      // Its own only: after a save behind the rename of two accounts that swapped names,
      // the other's, carried here first, was carried back, and each `why` said every line
      // twice (found hunting a full test run's failure).
      if ((this.history.accountOf(id) ?? former) === former)
        this.history.carry(id, `${renamed}/${name}`);
      this.renameWaits.set(`${renamed}/${name}`, id);
      // Said where its history went: its `why` went from the old run's start to the new
      // one's, nothing of the old run's stop (an outside review, 64a, F6: 3 of 3).
      if (pids.length > 0) {
        this.history.note(
          `${renamed}/${name}`,
          'stop',
          `its run under its owner's old name ${user} (pid ${pids.join(', ')}) is stopped at this takeover; it runs under the new name once that is gone`,
        );
        this.renameStopsSaid.add(`${renamed}/${name}`);
      }
    }
    // Of the old account only: another's carried here meanwhile (the account renamed to
    // this name, seen first) was forgotten with it (an outside review, 60a, F1).
    if (detour && !nameFree) this.keepHistoryByUid(id, former);
    // Its run stopped: said in the history it keeps for its return under an allowed name.
    // Unsaid, after a detour with a kill -9 at each step, its `why` went from the old
    // run's start to the new one's (an outside review, 79b, F3: 6 of 6).
    if (detour && runs)
      this.history.note(
        nameFree ? id : historyKeptByUid(former, name),
        'stop',
        `its owner is called ${renamed} now (uid ${former}), ${undecided ? 'not known yet to be the same account' : 'a name not allowed to run daemons'}: ${pids.length > 0 ? `its run (pid ${pids.join(', ')}) is stopped` : 'what survives of its run, if anything, is stopped'} at this takeover`,
      );
    else if (!detour && (this.history.accountOf(id) ?? former) === former) this.history.forget(id);
    this.notify.dropKept(id);
    // The lock the keeper kept is the old account's directory's, unless the manager before
    // this one took the new account's already (it saw the change while the old run still
    // stopped): dropped, that lock went on being held by that manager until it exited, and
    // this one found the new account's daemons "run by another manager" and stopped them
    // (an outside review, 8 of 8). The `.lock` is always its account's file (lockDir).
    const lock = this.userLocks.get(user);
    if (lock !== undefined && (!lockedFor(lock, uid) || this.replacedUids.has(former))) {
      this.userLocks.delete(user);
      this.link.drop(`lock:${user}`);
      this.keepLockAs(lock, allowed ? renamed : undefined, former);
    }
    this.dropFormerPipe(id, former);
  }

  /**
   * Saves at once that the account of `uid` (called `name`, if known) is deleted, and says
   * so once it is on disk: a crash after that line does not bring the account back, nor
   * give what it left to a new account given its uid (README). A deletion found at a
   * takeover (the account deleted while no manager ran) is said too (an outside review,
   * 53a, F2: no line came, and an admin told to wait for it waited for good).
   */
  private saveDeletion(uid: number, name: string): void {
    this.lockFiles.delete(uid);
    this.deletedUids.add(uid);
    const first = this.deletionsToSave.size === 0;
    if (name !== '' || !this.deletionsToSave.has(uid)) this.deletionsToSave.set(uid, name);
    if (!first) return;
    queueMicrotask(() => {
      const which = [...this.deletionsToSave]
        .map(([each, called]) => {
          // Made again with that uid (and name) meanwhile: the one deleted is not it (an
          // outside review, 63a, F4: "the account of NAME is deleted" of one that exists).
          const again = this.db.byUid.has(each) ? '; another account has that uid now' : '';
          return called === '' ? `uid ${each}${again}` : `${called} (uid ${each}${again})`;
        })
        .join(', ');
      this.deletionsToSave.clear();
      void this.state
        .saveAllNow((failure) =>
          this.log.warn(
            `the deletion of the account of ${which} is not saved yet (${failure}); tried again each second, and said once saved: until then a manager started after a crash would take a new account given that uid for it, renamed`,
          ),
        )
        .then(() => this.log.info(`saved: the account of ${which} is deleted`));
    });
  }

  /** Deletions to be saved together (see saveDeletion). */
  private readonly deletionsToSave = new Map<number, string>();

  /**
   * Moves a daemon's history to where it is kept by its account's uid: the account is under
   * a name not allowed, and its old name, the history's id, is another account's now. A
   * history of another account is left where it is: the owner got its name back, its
   * history carried there, and it was kept aside for the other account that had the name
   * meanwhile, the owner's `why` emptied (an outside review, 50a, F2: 5 of 5).
   */
  private keepHistoryByUid(id: string, uid: number): void {
    const account = this.history.accountOf(id);
    if (account !== undefined && account !== uid) return;
    // Merged with what is kept there already (parked before, by another of its ids): a
    // carry keeps what is there and drops what it moves.
    this.history.merge(id, historyKeptByUid(uid, id.slice(id.indexOf('/') + 1)));
  }

  /**
   * What the saved state says an account left stopped, kept by its uid, where the account
   * is there still (the same uid) but no longer allowed to run daemons: taken out of
   * `[can_run_as]` while no manager ran (after a crash), then put back, its daemons were
   * started, the stops forgotten (an outside review, 54b, F4: 2 of 2). As when the manager
   * sees it (see syncOwners). After a clean stop, `autostart` decides (README).
   */
  private keepLeftByDisallowed(): void {
    if (this.savedAtStart?.clean !== false) return;
    for (const [id, saved] of Object.entries(this.savedAtStart.daemons)) {
      const user = id.slice(0, id.indexOf('/'));
      const account = this.db.users.get(user);
      if (account === undefined || this.ownerTable.has(user) || this.formerOwners.has(id)) continue;
      if ((saved.ownerUid ?? account.uid) !== account.uid || saved.wanted !== 'down') continue;
      if (saved.waitsForFile === true) continue;
      this.keepLeftByUid(account.uid, user, id.slice(user.length + 1), true, undefined);
    }
  }

  /**
   * Keeps by uid a daemon of an account now under a name not allowed (see leftDownByUid):
   * `leftDown`, its owner had stopped it; `oldId`, the id of a run of it that survives.
   */
  private keepLeftByUid(
    uid: number,
    user: string,
    daemon: string,
    leftDown: boolean,
    oldId: string | undefined,
  ): void {
    const left = this.leftDownByUid.get(uid) ?? { name: user, daemons: [] };
    // Kept under another name already (the uid left that one before): that one counts.
    if (left.name !== user) return;
    if (leftDown && !left.daemons.includes(daemon)) left.daemons.push(daemon);
    if (oldId !== undefined) left.waits = { ...left.waits, [daemon]: oldId };
    this.leftDownByUid.set(uid, left);
  }

  /**
   * The locks the keeper kept, under the names their accounts have now: one kept under a
   * name its account no longer has (renamed while a manager ran, then again while none
   * ran) was found held, by this manager's own keeper, and the user's daemons were "run by
   * another manager", never loaded (an outside review, 42b, F2). A lock whose account is
   * gone, or whose new name has one already, is let go.
   */
  private renameKeptLocks(): void {
    for (const [name, fd] of [...this.userLocks]) {
      let uid: number;
      try {
        uid = fstatSync(fd).uid;
      } catch {
        continue;
      }
      if (this.db.users.get(name)?.uid === uid) continue;
      this.userLocks.delete(name);
      this.link.drop(`lock:${name}`);
      const now = this.accountNow(uid)?.name;
      this.keepLockAs(fd, now, uid);
    }
  }

  /** The account that has `uid` now, unless it is another than the one that had it (see replacedUids). */
  private accountNow(uid: number): Account | undefined {
    return this.replacedUids.has(uid) ? undefined : this.db.byUid.get(uid);
  }

  /** Notes whose the lock held on `fd` is: the account of its file's uid, called `name`. */
  private noteLockFile(name: string, fd: number): void {
    try {
      const { uid, dev, ino, birthtimeNs } = fstatSync(fd, { bigint: true });
      const file: LockFile = {
        name,
        dev: Number(dev),
        ino: Number(ino),
        ...(birthtimeNs > 0n ? { btime: birthtimeNs.toString() } : {}),
      };
      // Its account not known yet to be the one that held it (see accountsReplaced): so it
      // stays, the keeper's lock of it noted again after an upgrade.
      const before = this.lockFiles.get(Number(uid));
      if (before?.unknown === true && sameFile(file, before)) file.unknown = true;
      this.lockFiles.set(Number(uid), file);
    } catch {
      // A descriptor that cannot be read says nothing of anyone.
    }
  }

  /**
   * The uids under another name than the one their daemon directory's lock was held under
   * (see lockFiles) that are not that account renamed, but a new account given the uid
   * (`useradd` gives a freed uid back): the new name's `.lock` is not the file the old
   * one's was. /etc/passwd alone cannot tell them apart: taken for a rename, the new
   * account got the deleted one's stops and history whenever the manager had not seen the
   * deletion first (killed before it read it, or a `userdel` and a `useradd` read as one
   * change: outside reviews, 51a, F1, 52a, F2). Read as the account, within the deadline
   * of its files; a `.lock` that cannot be read (none yet, a link, a home that does not
   * answer) is not the old one. Only for a name allowed to run daemons: under another, the
   * uid is judged once it is allowed.
   * `sameNames` (a start that is not an upgrade): the uids under the same name are judged
   * too, an account deleted and made again with its name and uid while no manager ran
   * (`useradd` gives the highest uid back). One whose daemon directory cannot be read
   * (not mounted yet at boot, not answering, a mode) is taken for the account it was
   * meanwhile, so that its daemons run on, and judged once it can be read (see
   * unknownUids).
   */
  private async accountsReplaced(sameNames = false): Promise<Judgement> {
    const replaced = new Set<number>();
    const undecided = new Map<number, string>();
    const unknown = new Map<number, string>();
    const read = new Set<number>();
    if (this.mode.kind !== 'system') return { replaced, undecided, unknown, read };
    const judged = [...this.lockFiles].map(async ([uid, held]) => {
      const account = this.db.byUid.get(uid);
      if (account === undefined) return;
      const renamed = account.name !== held.name;
      // Not known yet at a start (see below): judged again until it is, after an upgrade too.
      if (!renamed && !sameNames && held.unknown !== true) return;
      if (!mayRunDaemons(this.currentPolicy, account.name)) {
        // Judged once it is allowed: allowed after the start (a SIGHUP, a group), one made
        // again was never judged (an outside review, 56a, F5: 6 of 6).
        if (!renamed) held.unknown = true;
        return;
      }
      const owner = this.ownerOf(account);
      const path = join(owner.daemonDir, '.lock');
      const now = await owner.files.readChunk(path, 0, 0);
      if (now.ok && sameFile(now.value.stat, held)) {
        // Renamed: judged once (its home, read again at each change of the accounts until
        // its lock is taken under the new name, may not answer the next time).
        held.name = account.name;
        delete held.unknown;
        read.add(uid);
        return;
      }
      // A home that cannot be read now (not there yet, a mode being fixed, not answering)
      // says nothing either way: judged again later. Taken for a new account, a rename
      // had its daemons' stops and history dropped for good (an outside review, 54a, F3:
      // 9 of 9); taken for the same account, one made again with the name and uid got the
      // deleted one's stops, history and run by keeping its home unreadable until the
      // manager started (55a, F1: 4 of 4). Its own doing (a link, a socket, no `.lock` in
      // a directory that is there) is not the old file.
      const unread =
        !now.ok &&
        now.error.fileAlone !== true &&
        !['ELOOP', 'ENXIO', 'EISDIR'].includes(now.error.code);
      if (unread && renamed) {
        undecided.set(
          uid,
          `${account.name} (uid ${uid}) is not known yet to be ${held.name} renamed or a new account given its uid: ${now.error.message}; its daemons wait meanwhile (what ${held.name} left is kept)`,
        );
        return;
      }
      if (unread) {
        held.unknown = true;
        unknown.set(
          uid,
          `${account.name} (uid ${uid}) is not known yet to be the account this manager knew by that name and uid or one made again with them while no manager ran: ${now.error.message}; taken for the one it knew until its daemon directory can be read (its daemons run on), then judged`,
        );
        return;
      }
      replaced.add(uid);
      read.add(uid);
      const why = now.ok
        ? `${path} is another file than the one ${held.name} had`
        : now.error.message;
      this.log.warn(
        renamed
          ? `${account.name} (uid ${uid}) is a new account given the uid of ${held.name}, not ${held.name} renamed: ${why}; nothing ${held.name} left is theirs`
          : `${account.name} (uid ${uid}) is an account made again with the name and uid of one deleted while no manager ran: ${why}; nothing the deleted one left is theirs`,
      );
    });
    await Promise.all(judged);
    return { replaced, undecided, unknown, read };
  }

  /**
   * The lock of a user's directory, let go of under their old name: kept under the new
   * name when the account was renamed (the same uid's file), else closed. Closed and
   * taken again, the keeper's copy, dropped a moment later, still held it: the renamed
   * user's daemons were "run by another manager", not loaded, until a rescan (an outside
   * review, 27b, F5: a rename at an upgrade).
   */
  private keepLockAs(lock: number, renamed: string | undefined, uid: number): void {
    if (renamed === undefined || this.userLocks.has(renamed) || !lockedFor(lock, uid)) {
      closeFd(lock);
      return;
    }
    this.link.store(`lock:${renamed}`, lock);
    this.userLocks.set(renamed, lock);
    this.noteLockFile(renamed, lock);
  }

  private listen(link: KeeperLink): void {
    link.handle({
      event: (event) => {
        // A hello after the link dropped (an error: see KeeperLink.disconnected) sends
        // every stored descriptor again; this manager holds its own copies.
        if (event.kind === 'fd') closeFd(event.fd);
        // It speaks: a silence said is over, and the next is said again.
        this.keeperSilenceSaid = false;
        this.keeperHeardAt = performance.now();
        if (event.kind === 'spawned' || event.kind === 'run') this.noteRunUid(event.run);
        this.processes.handle(event);
        if (event.kind === 'spawned') this.judgeSpawnedGroups(event.run);
      },
      lost: () => {
        if (link !== this.link) return;
        // While the daemons are taken over (see begin), replaced once they all are: then,
        // those not taken over yet were taken over afterwards as the dead keeper's runs,
        // watched by nobody, their next manager starting second copies beside them (an
        // outside review, 72a, F4: 1 of 24 keeper kills 130-190 ms into a start).
        if (this.recovery !== undefined) this.keeperLostWhileTakingOver = true;
        else void this.keeperLost();
      },
    });
  }

  private noteRunUid(run: RunReport): void {
    const known = this.runUids.get(run.id);
    if (run.uid !== undefined && (known === undefined || known.run <= run.seq))
      this.runUids.set(run.id, {
        run: run.seq,
        uid: run.uid,
        ...(run.groups === undefined ? {} : { groups: [run.groups.gid, ...run.groups.list] }),
      });
  }

  /**
   * A run the keeper spawned after it was asked to (it was stopped or starved meanwhile):
   * the groups it was given were the accounts' of then, and a group taken away since is
   * dropped now. The accounts' changes seen meanwhile passed it by: it had no process yet.
   */
  private judgeSpawnedGroups(run: RunReport): void {
    const names = this.askedGroupNames.get(run.id);
    this.askedGroupNames.delete(run.id);
    const record = this.supervisor.daemons.get(run.id);
    if (record?.state.kind !== 'running' || record.state.run !== run.seq) return;
    const then = names ?? new Map<number, string>();
    this.dropRevokedGroups(record, (gid) => then.get(gid) ?? groupNameIn(this.db, gid));
  }

  waitExec(run: number): Promise<{ ok: true; pid: number } | { ok: false; error: string }> {
    return this.processes.waitExec(run);
  }

  /**
   * The keeper's answer, or what is known once it has been silent KEEPER_SILENT_MS: a
   * keeper stopped (SIGSTOP) or starved held a `start` or `kill` 30 s, until dmctl gave up
   * blaming a manager that was up and answering, with nothing in the log (an outside
   * review, 3 of 3). Logged once per silence: until the keeper says something again.
   */
  async untilKeeperSilent<T>(
    answer: Promise<T>,
    then: string,
    answered?: () => boolean,
  ): Promise<T | KeeperSilent> {
    let timer: { cancel(): void } | undefined;
    const silent = new Promise<KeeperSilent>((resolve) => {
      const judge = (): void => {
        // The keeper answered the request: what is awaited now is the program, not it.
        if (answered?.() === true) return;
        // It spoke meanwhile (a spawn done, its exec slow on a loaded machine): not silent.
        const heard = performance.now() - this.keeperHeardAt;
        if (heard < KEEPER_SILENT_MS) {
          timer = deadline(KEEPER_SILENT_MS - heard, judge);
          return;
        }
        const pid = this.processes.keeperPid;
        const text = `the keeper of daemons (dm-keeper, pid ${pid}) has not answered for ${KEEPER_SILENT_MS / 1000} s: is it stopped (kill -CONT ${pid}) or starved of CPU?`;
        if (!this.keeperSilenceSaid) this.log.warn(`${text} Requests wait for it`);
        this.keeperSilenceSaid = true;
        resolve({ keeperSilent: `${text} ${then}` });
      };
      timer = deadline(KEEPER_SILENT_MS, judge);
    });
    try {
      return await Promise.race([answer, silent]);
    } finally {
      timer?.cancel();
    }
  }

  /**
   * Did the OOM killer kill in this user's memory cgroup since last asked? (Asked at a
   * SIGKILL of one of their daemons: the count is up before the process is gone.)
   */
  private oomKilled(record: DaemonRecord): boolean {
    // Killed by lowerMemory: its user's memory, as the OOM killer would.
    if ('run' in record.state && this.memoryKilled.delete(record.state.run)) return true;
    const user = record.owner;
    // Only a user with a memory quota has daemons in a memory cgroup (a quota lifted moves
    // them out): asked at every failed exit, the read of a file that is not there cost a
    // crash storm 2% of the manager's time.
    if (this.quotas.get(user)?.memory === undefined && !this.oomCounts.has(user)) return false;
    const count = oomKills(this.cgroups, user);
    const before = this.oomCounts.get(user) ?? 0;
    this.oomCounts.set(user, count);
    return count > before;
  }

  /**
   * Resolves once the launches under way are over (each run exec'd its command, or failed
   * to) and the state that records them is saved: the work of a start-up is done.
   */
  async settled(): Promise<void> {
    await this.processes.whenLaunched();
    await this.state.saved();
  }

  /** Resolves once every change so far is in the state file (before a reply to dmctl). */
  durable(): Promise<string | undefined> {
    return this.state.durable();
  }

  shuttingDown(): boolean {
    return this.stopping;
  }

  /**
   * Lets go, for a new manager to take over (an upgrade): stops answering dmctl (callers
   * wait in the sockets, which the keeper holds), stops reading output (it waits in the
   * pipes) once what was read is written, saves the state and detaches from the keeper.
   * False, with the reason logged, if the state could not be saved: see `takeBack`.
   */
  async handOver(): Promise<boolean> {
    // The notify sockets are the keeper's too: what daemons say now waits for the next
    // manager, never read by this one on its way out. Its watchdogs and checks end here.
    this.notify.pauseAll();
    this.watchdogs.clear();
    this.healthChecks.clear();
    this.handedOver = true;
    clearTimeout(this.accountsSettle);
    this.accountsSettleSince = undefined;
    await this.control.quiesce(2_000);
    // Counts of users' lines not logged one by one are this manager's to say.
    this.userLines.tellUntold();
    this.daemonLines.tellUntold();
    // A daemon frozen for a move is thawed before the next manager takes over; the rest
    // of the quota work is called off (handedOver), the next manager's to do.
    await this.quotaWork();
    await this.logs.pause();
    this.supervisor.pause();
    // The configs starts read again, their copies' write held back (see ConfigCopies.replace).
    await this.configCopies.settled();
    await this.state.idle();
    // Saved as handed over: the next manager knew of no account changed while none ran
    // (see accountsReplaced). Said nowhere before, every upgrade read each account's
    // `.lock` as at a start after a crash.
    if (!this.state.saveNow(this.takeState(false, { pid: process.pid }))) return false;
    // The state file is the new manager's from now on: this one saves it no more.
    this.state.hold();
    this.link.detach();
    return true;
  }

  /** Why the keeper cannot take part in an upgrade: it has not answered within `ms`. */
  keeperSilence(ms: number): Promise<string | undefined> {
    return this.link.answers(ms);
  }

  /** Goes on as before: the upgrade was refused, or the new manager died before it took over. */
  async takeBack(): Promise<void> {
    this.handedOver = false;
    // The quota work the hand-over called off is done after all (below).
    const calledOff = [...this.quotasCalledOff];
    for (const user of calledOff) this.quotas.delete(user);
    this.quotasCalledOff.clear();
    this.state.release();
    if (!this.link.alive) {
      const { link, snapshot } = await this.attachPatiently();
      this.link = link;
      this.processes.replaceLink(link);
      this.listen(link);
      // A new keeper holds nothing yet: the daemons' sockets go to it before any start.
      this.sockets.storeAll(link);
      this.notify.storeAll(link);
      this.logs.storeEarlier();
      this.resync(snapshot);
      this.holdSocketsLock(
        undefined,
        [...snapshot.fds].some(([name]) => name === SOCKETS_LOCK),
      );
    }
    this.supervisor.resume();
    await this.logs.resume();
    this.notify.resumeAll();
    for (const record of this.supervisor.daemons.values()) {
      this.watchdogs.sync(record);
      this.healthChecks.sync(record);
    }
    this.control.forgetAll();
    // What changed in the users meanwhile is this manager's again.
    this.accountsStamp = '';
    this.refreshAccounts();
    await this.syncSockets();
    this.dropKeptControl();
    if (calledOff.length > 0) this.applyQuotas();
    this.state.release();
    this.state.schedule();
  }

  /**
   * Attaches to the keeper again, for as long as it does not answer: the new code of an
   * upgrade that died of a stalled keeper left this manager detached, and nothing can be
   * done for the daemons without the keeper (a failure here reached no one).
   */
  private async attachPatiently(): ReturnType<ManagerParts['newKeeper']> {
    for (;;)
      try {
        return await this.newKeeper();
      } catch (error) {
        if (!(error instanceof KeeperNotAnswering)) throw error;
        this.log.error(`${error.message} (asking it again)`);
      }
  }

  /**
   * Brings this manager's view up to date with what the keeper holds now (another manager
   * ran meanwhile): runs it knows are updated, runs it does not know are stopped, runs
   * gone from the keeper have ended.
   */
  private resync(snapshot: KeeperSnapshot): void {
    const reported = new Set(snapshot.runs.map((run) => run.seq));
    for (const run of snapshot.runs) {
      if (this.processes.held().has(run.seq)) this.processes.handle({ kind: 'run', run });
      else {
        this.processes.claim(run, undefined);
        this.processes.endStray(run.seq, this.settings.stopTimeoutMs);
      }
    }
    for (const record of this.supervisor.daemons.values()) {
      const { state } = record;
      if ((state.kind === 'running' || state.kind === 'stopping') && !reported.has(state.run))
        this.supervisor.noteExit(record, state.run, { code: null, signal: null }, true);
    }
    for (const [name, fd] of snapshot.fds)
      if (name.startsWith('ctl:')) this.keptControl.set(name.slice(4), fd);
      else if (name === SOCKETS_LOCK) this.keepSocketsLock(fd);
      else if (name.startsWith('lsn:')) this.sockets.adopt(name, fd);
      else if (this.notify.adopt(name, fd)) continue;
      else if (name.startsWith('out:') && this.pipes.has(name.slice(4))) closeFd(fd);
      // The pipes of runs before the runs now (see DaemonLogs `earlier`): this one's own.
      else if (earlierPipeOf(name) !== undefined) closeFd(fd);
      else if (name.startsWith('out:')) this.adoptPipe(name.slice(4), fd);
  }

  /**
   * Applies a new master config: new users and rights, then a rescan of everyone. Without
   * `accounts` (getent failed or ran out of time), the other sources are as last read.
   */
  async reload(config: MasterConfig, accounts: NameService | undefined): Promise<void> {
    if (this.mode.kind !== 'system') return;
    // Root's own edits of the cgroups' limits are undone: from the next start on, and at
    // once where the user's daemons run: their quotas are written again even where unchanged
    // (an outside review found a hand edit left until the daemon's next crash), in the one
    // pass applyAccounts makes, so that each user's is said once.
    this.cgroupWrites.forgetAll();
    this.rewriteQuotas = true;
    // The config's problems are said again, once: the admin asked for it to be read.
    this.policyWarned.clear();
    // An upgrade takes a new socket-dir (its control sockets made there, the old one's lock
    // let go), not a new state-dir: the handover is in the old one.
    if (config.settings.socketDir !== this.settings.socketDir)
      this.log.warn('reload: a new socket-dir applies at the next start or upgrade (SIGUSR2)');
    if (config.settings.stateDir !== this.settings.stateDir)
      this.log.warn(
        'reload: a new state-dir applies only once the manager is stopped and started (an upgrade is refused until then)',
      );
    this.settings = {
      ...config.settings,
      socketDir: this.settings.socketDir,
      stateDir: this.settings.stateDir,
    };
    this.logs.settings = this.settings;
    this.mode = { kind: 'system', config };
    // The local files as they are now, not as the full read (which took a while) saw them:
    // a change of users applied meanwhile is not undone.
    if (accounts !== undefined) this.otherAccounts = accounts.others;
    const stamp = accountFilesStamp();
    let db: AccountDb;
    try {
      db = withLocalFilesNow(this.otherAccounts);
      this.accountsStamp = stamp;
    } catch (error) {
      this.log.error(
        `reload: cannot read the local account files (${(error as Error).message}); using the users as ${accounts === undefined ? 'last read' : 'getent gave them'}`,
      );
      db = accounts?.db ?? this.db;
    }
    await this.applyAccountsJudged(db);
    await this.rescan([...this.ownerTable.keys()]);
    await this.syncSockets();
    await this.metrics.listen(this.settings.metricsListen);
  }

  /**
   * Reads the users and groups again when /etc/passwd or /etc/group changed, so that a
   * user taken out of a group loses what the group gave at once (who they may run as
   * and manage, their daemons' groups, a private group no longer private), not at the
   * next SIGHUP. Other name services (LDAP) are read again at SIGHUP: the files alone are
   * read here (see withLocalFilesNow), so that no user's chfn makes the manager wait on
   * `getent` and a slow LDAP or sssd, answering nobody meanwhile.
   */
  private refreshAccounts(): void {
    if (this.mode.kind !== 'system') return;
    const stamp = accountFilesStamp();
    if (stamp === this.accountsStamp) return;
    this.accountsStamp = stamp;
    if (this.handedOver) {
      this.log.info('users and groups changed: left to the manager taking over');
      return;
    }
    const before = this.db;
    try {
      // The rights and groups of what is asked or started now are the new ones...
      this.db = withLocalFilesNow(this.otherAccounts);
      this.currentPolicy = this.policyFor(this.mode);
      // ...and so are the quotas of groups (before a start puts one daemon under a new one)...
      this.applyQuotas();
      // ...and so are the groups the owner's files are made with: a socket made for a
      // group given a moment ago was refused by the kernel, and the daemon left down (a
      // full run, once).
      const renewed = this.renewOwners();
      this.log.info('users and groups changed: rights applied again');
      // ...and, once the request or start under way is done, the owners that come or go
      // are made or dropped (a rescan under way for an old one gives up, so that user is
      // read again) and daemons no longer allowed are stopped.
      setImmediate(() => {
        if (this.handedOver) return;
        // Only the owners whose facts changed are read again: a user's chfn rewrites
        // /etc/passwd at will, and must not make the manager read everyone's files.
        void this.applyAccountsJudged(this.db, before).then((applied) => {
          const changed = new Set([...renewed, ...applied]);
          if (changed.size > 0) void this.rescan([...changed]);
          void this.syncSockets();
        });
      });
    } catch (error) {
      this.log.error(`cannot read the users and groups again: ${(error as Error).message}`);
    }
  }

  /**
   * The socket's mode lets only its user and root connect; the kernel's record of who
   * connected is checked against the accounts as they are now too, so that a socket left
   * for an account deleted meanwhile, its uid given to someone else, lets nobody in.
   */
  private strangerOn(caller: string, peerUid: number | undefined): string | undefined {
    if (peerUid === 0) return undefined;
    const account = this.db.users.get(caller);
    if (account !== undefined && peerUid === account.uid) return undefined;
    return `uid ${peerUid ?? 'unknown'} is not ${caller}${account === undefined ? ' (no such user now)' : ` (uid ${account.uid})`}`;
  }

  /**
   * Reads the users and groups again as soon as /etc/passwd or /etc/group change (they
   * are replaced by rename, so /etc is watched for their names), not only at the next
   * request: a user given rights gets a socket at once, a deleted one loses theirs. The
   * watch costs no wake-up while nothing in /etc changes.
   */
  private watchAccounts(): void {
    if (this.mode.kind !== 'system' || this.accountsWatcher !== undefined) return;
    try {
      this.accountsWatcher = watch('/etc', { persistent: false }, (_event, name) => {
        if (name !== 'passwd' && name !== 'group') return;
        // useradd writes both, one after the other: one look once it is done, and one a
        // second at most in a burst (100 chfns in a second are one or two reads).
        const now = performance.now();
        this.accountsSettleSince ??= now;
        const wait = Math.min(
          ACCOUNTS_SETTLE_MS,
          this.accountsSettleSince + ACCOUNTS_SETTLE_MAX_MS - now,
        );
        clearTimeout(this.accountsSettle);
        this.accountsSettle = setTimeout(
          () => {
            this.accountsSettleSince = undefined;
            this.refreshAccounts();
          },
          Math.max(0, wait),
        );
      });
      this.accountsWatcher.on('error', () => this.accountsWatcher?.close());
    } catch (error) {
      this.log.warn(
        `cannot watch /etc for changes of users and groups: ${(error as Error).message}`,
      );
    }
  }

  /**
   * applyAccounts, once the uids under a new name are judged renamed or another account
   * (see accountsReplaced); [] when the accounts changed again meanwhile (that change is
   * applied in turn).
   */
  private async applyAccountsJudged(db: AccountDb, before = this.db): Promise<string[]> {
    this.db = db;
    this.currentPolicy = this.policyFor(this.mode);
    const judgement = await this.accountsReplaced();
    if (this.db !== db || this.handedOver) return [];
    const unknown = new Set(this.unknownUids.keys());
    this.takeJudgement(judgement);
    try {
      const changed = this.applyAccounts(db, before);
      // Rescanned too: the lock held is the deleted account's, to be taken anew.
      const again = this.forgetMadeAgain([...judgement.replaced].filter((uid) => unknown.has(uid)));
      // The output held back for them (see outputHeld): dropped above where the account was
      // made again, written now where it is the one this manager knew.
      if (unknown.size > 0) this.logs.release();
      return [...new Set([...changed, ...again])];
    } finally {
      this.doneReplacing();
    }
  }

  /**
   * The uids judged another account (see accountsReplaced), for the change applied now:
   * their old account's lock is forgotten at once, before the new account's is taken and
   * noted (forgotten after, at a takeover, the new account's went, and its uid given again
   * later was judged by `/etc/passwd` alone).
   */
  private takeJudgement({ replaced, undecided, unknown, read }: Judgement): void {
    this.replacedUids = replaced;
    for (const uid of replaced) {
      this.lockFiles.delete(uid);
      // The stops the deleted account made while its files were refused are not the new
      // one's: kept by name, the new account's daemon of that name stayed stopped once its
      // file was fixed (an outside review, 80a, F3: 9 of 9).
      const name = this.db.byUid.get(uid)?.name;
      if (name !== undefined) this.dropStoppedWhileBroken(name);
    }
    for (const [uid, why] of [...undecided, ...unknown])
      if ((this.undecidedUids.get(uid) ?? this.unknownUids.get(uid)) !== why) this.log.warn(why);
    for (const uid of [...this.undecidedUids.keys(), ...this.unknownUids.keys()]) {
      const name = this.db.byUid.get(uid)?.name;
      const renamed = this.undecidedUids.has(uid);
      if (read.has(uid))
        this.judgedAs.set(
          uid,
          replaced.has(uid) ? (renamed ? 'another' : 'made again') : renamed ? 'renamed' : 'same',
        );
      // Not said of an account deleted meanwhile (an outside review, 55a, F3), nor of one
      // not judged (its name no longer allowed: 56a, F6, said of a directory not readable).
      if (read.has(uid) && name !== undefined)
        this.log.info(`${name} (uid ${uid}): its daemon directory can be read, and it is judged`);
    }
    this.undecidedUids = undecided;
    this.unknownUids = unknown;
    clearTimeout(this.rejudge.timer);
    this.rejudge.timer = undefined;
    if (undecided.size === 0 && unknown.size === 0) {
      this.rejudge.tries = 0;
      return;
    }
    const delay = REJUDGE_DELAYS_MS[Math.min(this.rejudge.tries++, REJUDGE_DELAYS_MS.length - 1)];
    this.log.debug(`the accounts not known yet are judged again in ${delay} ms`);
    this.rejudge.timer = setTimeout(() => this.judgeAgain(), delay);
    this.rejudge.timer.unref();
  }

  /** Judges the uids not known yet again now (see undecidedUids, unknownUids). */
  private judgeAgain(): void {
    void this.judgeUids();
  }

  /** Judges them now, and rescans the users that changed but `askedBy` (its own rescan follows). */
  private async judgeUids(askedBy?: string): Promise<void> {
    clearTimeout(this.rejudge.timer);
    this.rejudge.timer = undefined;
    if (this.handedOver) return;
    const changed = (await this.applyAccountsJudged(this.db)).filter((user) => user !== askedBy);
    if (changed.length > 0) await this.rescan(changed);
  }

  notKnownYet(user: string): string | undefined {
    const uid = this.db.users.get(user)?.uid;
    if (uid === undefined) return undefined;
    const undecided = this.undecidedUids.has(uid);
    if (!undecided && !this.unknownUids.has(uid)) return undefined;
    // Not the log's line: that names the account the uid had, which may be another's.
    return `${user} (uid ${uid}): not known yet to be the account this manager knew by that uid, its daemon directory cannot be read; ${undecided ? 'its daemons are not loaded' : 'its daemons run on as that account’s, their output waiting in their pipes,'} until it can be, and it is judged again then, and at each rescan of yours`;
  }

  async judgeNow(user: string): Promise<string | undefined> {
    const uid = this.db.users.get(user)?.uid;
    if (uid === undefined || this.notKnownYet(user) === undefined) return undefined;
    await this.judgeUids(user);
    if (this.notKnownYet(user) !== undefined)
      return 'not known yet: its daemon directory cannot be read; judged once it can be';
    const outcome = this.judgedAs.get(uid);
    this.judgedAs.delete(uid);
    switch (outcome) {
      case 'made again':
        return 'an account made again with the name and uid of one deleted while no manager ran: what that one left is dropped, its runs stopped';
      case 'another':
        return 'a new account given the uid of another: nothing that one left is yours';
      case 'renamed':
        return 'the account this manager knew, renamed: its daemons and history are yours';
      default:
        return 'the account this manager knew: its daemons run on, what they wrote meanwhile goes into their logs';
    }
  }

  /**
   * The owners found made again with their name and uid while no manager ran once their
   * daemon directory could be read (see unknownUids): taken for the account this manager
   * knew until then, what that one left goes now: their daemons' history, last exits and
   * the stops saved before the start; and their daemons, loaded from the configs the
   * deleted account left, their runs its own: each is stopped and forgotten, and loaded
   * from the new account's files once its run is gone (`autostart` decides; an outside
   * review, 56a, F4: the new account's `kill` was sent to the old run). What those runs
   * wrote, held back while the account was not known yet (see outputHeld), is dropped with
   * what they write as they stop: their pipes are closed for writing, so that each next
   * run gets a pipe of its own. Returns the owners' names, to be rescanned.
   */
  private forgetMadeAgain(uids: readonly number[]): string[] {
    const names: string[] = [];
    for (const uid of uids) {
      const owner = [...this.ownerTable.values()].find((one) => one.account.uid === uid);
      if (owner === undefined) continue;
      const name = owner.account.name;
      names.push(name);
      this.madeAgain.add(uid);
      for (const id of [...this.leftDownByOldName, ...this.leftDownSameName])
        if (id.startsWith(`${name}/`)) {
          this.leftDownByOldName.delete(id);
          this.leftDownOldNames.delete(id);
          this.leftDownSameName.delete(id);
        }
      // Each daemon is the deleted account's: stopped and forgotten, its run as the run of
      // the account that had the name before (its pid and end never the new account's to
      // see: 57a; 61a, F5, F6), then loaded from the new account's own files once that run
      // is gone, as for an account made again while the manager runs. Restarted in place,
      // a daemon of which the new account had no file ran the deleted account's config as
      // the new account (an outside review, 61a, F3: 4 of 4).
      for (const record of [...this.supervisor.daemons.values()]) {
        if (record.owner !== name || record.formerUid !== undefined) continue;
        this.history.forget(record.id);
        record.lastExit = undefined;
        // Saved as wanted up while its run stops: saved down (disowned), a `kill -9` or an
        // upgrade meanwhile left the new account's daemon of that name stopped for good
        // (an outside review, 63a, F3: 7 of 7). Known to the next manager only by its
        // saved state, it starts once that run is gone, whatever its `autostart`.
        this.wantedBeforeDisown.set(record.id, 'up');
        this.supervisor.disown(record, true);
        if (this.supervisor.daemons.get(record.id) === record) this.replacedRuns.add(record.id);
      }
      // What its pipes hold, and what the old runs write as they stop, is the deleted
      // account's: dropped, and each next run gets a pipe of its own (see outputHeld). Also
      // the pipes of runs no config claims (61a, F4: into the new account's new log).
      for (const id of [...this.pipes])
        if (id.startsWith(`${name}/`) && this.supervisor.daemons.get(id)?.formerUid === undefined) {
          this.logs.sayDropped(id, 'its run was the deleted account’s');
          this.link.closePipe(id);
          void this.logs.discard(id);
        }
      // Judged during the takeover (a home without `~/.daemon-manager`, made by this
      // manager as it loads the account): the runs the keeper holds that no daemon has
      // claimed yet are the deleted account's too, as if judged at the start (see
      // noteFormerOwners). Left, each was stopped as the new account's left-over: its pid
      // in their `status` and `why`, its output in their log (an outside review, 63a, F2:
      // 5 of 5, 71-77 lines).
      for (const daemon of this.recovery?.heldNames(name) ?? []) {
        const id = `${name}/${daemon}`;
        if (!this.formerOwners.has(id)) this.noteFormerOwner(id, uid, uid, true);
      }
      this.log.info(
        `${name} (uid ${uid}): what the deleted account of that name and uid left (its daemons' history, last exits and stops) is dropped`,
      );
    }
    return names;
  }

  /**
   * Whether a daemon's output is held back in its pipe, its log not opened: its owner's
   * uid is not known yet to be the account this manager knew (see unknownUids), so what
   * its runs write may be the deleted account's, to be dropped once judged made again.
   * Logged meanwhile, the deleted account's output went into the new account's log (an
   * outside review, 56a, F3: 2-95 lines, 14 of 17).
   */
  private outputHeld(id: string): boolean {
    const uid = this.db.users.get(id.slice(0, id.indexOf('/')))?.uid;
    return uid !== undefined && this.unknownUids.has(uid);
  }

  /** Whether `name` owns daemons now: allowed, and not a uid whose account is not known yet. */
  private mayOwn(name: string): boolean {
    const uid = this.db.users.get(name)?.uid;
    return (
      mayRunDaemons(this.currentPolicy, name) && (uid === undefined || !this.undecidedUids.has(uid))
    );
  }

  /** The change the uids were judged for is applied. */
  private doneReplacing(): void {
    this.replacedUids = new Set();
  }

  /**
   * A new account database: owners, rights, and daemons that may no longer run stopped.
   * Returns the owners that are new or whose facts changed (see syncOwners).
   */
  private applyAccounts(db: AccountDb, before = this.db): string[] {
    this.db = db;
    this.currentPolicy = this.policyFor(this.mode);
    this.dbBefore = before;
    const changed = this.syncOwners();
    this.dbBefore = undefined;
    this.applyQuotas();
    // Running daemons' groups are read (/proc) only when membership changed: a user's
    // chfn rewrites /etc/passwd at will, and must not cost a read per daemon.
    const membership = membershipKey(db);
    const groupsChanged = membership !== this.membership;
    this.membership = membership;
    for (const record of this.supervisor.daemons.values()) {
      // A run started with another config than its file's now (read, not applied) is
      // judged as the account it runs as: stopped for a user only its file named, which
      // root took back (an outside review, 23a, F1).
      // The same when its file is refused now and its config taken from it (a run the
      // save did not know: an outside review, 28a, F1: stopped at the next change of
      // /etc/passwd for a user only the refused file named). A run the save knew keeps
      // the config it was started with: judged on it, its run-as account made again is
      // one (an outside review, 29a, F1: stopped and left down, "may no longer run as uid N").
      const judgedOnRun = runsOldConfig(record) || this.waitingForFile.has(record.id);
      if (judgedOnRun && this.runAsMadeAgain(record, before)) continue;
      const runAs =
        (judgedOnRun ? this.runAsOf(record) : undefined) ?? record.spec.runAs ?? record.owner;
      if (record.state.kind !== 'stopped' && !mayRunAs(this.currentPolicy, record.owner, runAs)) {
        this.log.warn(`${record.id}: may no longer run as ${runAs}; stopping it`);
        this.note(record, 'stop', `${record.owner} may no longer run as ${runAs}: stopping it`);
        this.supervisor.stop(record);
        continue;
      }
      // The grant names an account that is gone: nothing of that name is there to run as,
      // and its uid may be anyone's next (an outside review: the run went on as the
      // deleted uid, then as the account that uid was given to, with nothing said).
      if (
        record.state.kind !== 'stopped' &&
        runAs !== record.owner &&
        this.db.users.get(runAs) === undefined
      ) {
        const text = `its run-as account ${runAs} is gone`;
        const fix = `make the account again, or change user= in its config, then start it`;
        this.log.warn(`${record.id}: ${text}; stopping it (${fix})`);
        this.note(record, 'stop', `${text}: stopping it (${fix})`);
        this.supervisor.stop(record);
        continue;
      }
      // Before its groups: the old account's groups are not the new one's either, and
      // were said as taken away (an outside review, 16 of 16).
      // Not of a run whose config is not known (its file refused now): the file's user=
      // is not the run's (an outside review, 28a, F1: restarted "as the new one", refused).
      const again = judgedOnRun ? undefined : this.runAsAgain(record);
      if (again !== undefined)
        this.restartAnew(
          record,
          `its run-as account ${again.name} is another account now (uid ${again.was}, now ${again.now})`,
          'as the new one',
        );
      else if (groupsChanged)
        // Named as it was before the change; a gid no group had then (a change read in
        // two steps) is said as a gid, with the group that has it now: that group is not
        // the one the run was given (an outside review saw it named as such).
        this.dropRevokedGroups(record, (gid) => groupNameIn(before, gid));
    }
    return changed;
  }

  /**
   * Puts the running daemons of each user whose quota changed (given, changed, taken
   * away) under the new one, at once (see quota-changes.ts). The moves run one after the
   * other, in the background: each freezes a daemon while its processes move.
   */
  private applyQuotas(): void {
    const rewrite = this.rewriteQuotas;
    this.rewriteQuotas = false;
    const running = new Map<string, DaemonRecord[]>();
    for (const record of this.supervisor.daemons.values()) {
      if (record.state.kind === 'stopped') continue;
      const records = running.get(record.owner);
      if (records === undefined) running.set(record.owner, [record]);
      else records.push(record);
    }
    for (const [user, records] of running) {
      const limits = this.limitsOf(user);
      const quota = this.quotaOf(limits);
      const before = this.quotas.get(user);
      // Not known before (daemons taken over): moved unless there is nothing to move them
      // into. Taken as no quota, `cpu-fair-share = no` set while no manager ran was never
      // applied to them (an outside review, 19c, 4).
      const same =
        before === undefined
          ? this.cgroups === undefined && sameQuota(quota, NO_QUOTA)
          : sameQuota(quota, before);
      // Nothing to write again without cgroups (`cgroups = no`, personal mode).
      if (same && (!rewrite || this.cgroups === undefined)) continue;
      this.quotas.set(user, quota);
      const daemons: RunningDaemon[] = records.map((record) => ({ id: record.id }));
      // Runs moved under a memory quota that came while they ran: what they held then stays
      // charged where it was (see lowerMemory).
      if (quota.memory !== undefined && before?.memory === undefined) {
        this.pruneMemoryRuns();
        for (const record of records)
          if ('run' in record.state) this.memoryMovedRuns.add(record.state.run);
      }
      // Unknown before (daemons taken over from a previous manager), or written again:
      // said only if they moved.
      this.queueQuotaWork(user, quota, daemons, before === undefined || same);
    }
  }

  /**
   * Puts a user's running daemons under their quota, after the user's quota work under way.
   * A stop or a hand-over calls off what has not begun (see shutdown, handOver).
   */
  private queueQuotaWork(
    user: string,
    quota: CgroupQuota,
    daemons: readonly RunningDaemon[],
    quietIfNothingMoved: boolean,
  ): void {
    const work = (this.quotaMoves.get(user) ?? Promise.resolve()).then(() =>
      this.quotaHalted() !== undefined
        ? this.quotaCalledOff(user)
        : this.applyQuota(user, quota, daemons, quietIfNothingMoved),
    );
    this.quotaMoves.set(user, work);
    void work.then(() => {
      if (this.quotaMoves.get(user) === work) this.quotaMoves.delete(user);
    });
  }

  /** Every user's quota work under way, done. */
  private async quotaWork(): Promise<void> {
    while (this.quotaMoves.size > 0) await Promise.all([...this.quotaMoves.values()]);
  }

  /** Why quota work is called off now (the manager stops or hands over), if it is. */
  private quotaHalted(): string | undefined {
    if (this.stopping) return 'the manager stops';
    if (this.handedOver) return 'the manager hands over to new code (an upgrade)';
    return undefined;
  }

  private quotaCalledOff(user: string): void {
    if (this.handedOver) this.quotasCalledOff.add(user);
  }

  /**
   * The quota a user's cgroups apply: their `[limits]`, and `cpu-fair-share` where there is
   * a cpu hierarchy (elsewhere it does nothing, said once at the start: not a quota the
   * running daemons miss, to be warned of at each SIGHUP).
   */
  private quotaOf(limits: UserLimits): CgroupQuota {
    const { memory, cpu, tasks, cpuWeight } = limits;
    const fairShare =
      this.mode.kind === 'system' &&
      this.settings.cpuFairShare &&
      this.cgroups?.cpuBase !== undefined;
    return { memory, cpu, tasks, cpuWeight, fairShare };
  }

  private async applyQuota(
    user: string,
    quota: CgroupQuota,
    daemons: readonly RunningDaemon[],
    quietIfNothingMoved: boolean,
  ): Promise<void> {
    const memoryWritten =
      quota.memory === undefined || (await this.lowerMemory(user, quota.memory, daemons));
    // Changed again meanwhile (a raise that called the lowering off): the next work is its.
    if (this.quotas.get(user) !== quota) return;
    // A newer quota's work (queued behind this one) moves them: this one, whose moves
    // would take them out of the user's cpu cgroup (the fair share turned off, then on
    // again), stops. Done to the end, it left the daemons of an outside review's respawn
    // storm outside the fair share the last SIGHUP gave (19c, 5 runs in 37).
    const superseded = (): boolean => this.quotas.get(user) !== quota;
    const { line, warn, moved, restart, joins } = await applyQuotaToRunning(
      this.cgroups,
      user,
      quota,
      daemons,
      () => this.quotaHalted() ?? (superseded() ? 'a newer quota came' : undefined),
      !memoryWritten,
    );
    if (this.quotaHalted() !== undefined) this.quotaCalledOff(user);
    else if (superseded()) {
      this.log.debug(`the quota of '${user}': ${line} (a newer one came; its work goes on)`);
      return;
    }
    // A check its run starts from now on goes where its processes are now, not where they
    // were at its start (an outside review: checks forked outside the user's cpu cgroup).
    for (const [id, cgroups] of joins) this.processes.rejoin(id, cgroups);
    if (warn) this.log.warn(line);
    // The moves write the limit too: in force by then (what held more gone meanwhile), it
    // is said, and not tried again (an outside review, 23b, 4: written without a word).
    if (!memoryWritten && quota.memory !== undefined && this.memoryInForce(user, quota.memory)) {
      this.memoryUnwritten.delete(user);
      this.log.info(
        `the quota of '${user}': its memory limit of ${mebibytes(quota.memory)} is in force now (written as their daemons were moved: what held more is gone)`,
      );
    } else if (!warn && (moved > 0 || !quietIfNothingMoved)) this.log.info(line);
    if (this.stopping && restart.size > 0)
      this.log.info(`the quota of '${user}': the manager stops, so none of them is restarted`);
    for (const [id, why] of restart) {
      // Nothing is started again once the manager stops.
      if (this.stopping) break;
      const record = this.supervisor.daemons.get(id);
      if (record === undefined || record.state.kind === 'stopped') continue;
      this.note(
        record,
        'refused',
        `restarted inside the quota of '${user}' (${describeQuota(quota)}): its processes could not all be moved into it (${why})`,
      );
      this.supervisor.restart(record);
    }
  }

  /** Forgets the moved and killed runs that are no daemon's run any more. */
  private pruneMemoryRuns(): void {
    const current = new Set<number>();
    for (const record of this.supervisor.daemons.values())
      if ('run' in record.state) current.add(record.state.run);
    for (const runs of [this.memoryMovedRuns, this.memoryKilled])
      for (const run of runs) if (!current.has(run)) runs.delete(run);
  }

  /**
   * Writes a user's memory quota where their running daemons hold more than it: the
   * kernel refused it and kept the old, higher one (see memory-lowering.ts), so the runs
   * holding the most are killed, as cgroup2's OOM killer would, and said so.
   */
  private async lowerMemory(
    user: string,
    limit: number,
    daemons: readonly RunningDaemon[],
  ): Promise<boolean> {
    const base = this.cgroups?.memoryBase;
    if (base === undefined) return true;
    this.pruneMemoryRuns();
    const runs: MemoryRun[] = [];
    for (const { id } of daemons) {
      const record = this.supervisor.daemons.get(id);
      const state = record?.state;
      if (record === undefined || state?.kind !== 'running') continue;
      const leaf = this.processes.leafOf(state.run);
      const unkilled = (): boolean => record.unkilled.some((left) => left.run === state.run);
      if (leaf !== undefined)
        runs.push({
          id,
          leaf,
          kill: () => {
            this.memoryKilled.add(state.run);
            return this.processes.signal(state.run, 9);
          },
          movedIn: this.memoryMovedRuns.has(state.run),
          killedBefore: this.memoryKilled.has(state.run) || unkilled(),
          // Stopped since (a `dmctl stop`), or another run now: not this lowering's to kill.
          live: () =>
            record.wanted === 'up' &&
            record.state.kind === 'running' &&
            record.state.run === state.run,
          stuck: () => {
            if (unkilled()) return;
            // Shown as for a stop's SIGKILL (an outside review, 20a: `running`, uptime
            // growing, nothing said); gone with the run's end.
            record.unkilled.push({ run: state.run, pid: state.pid });
            this.note(
              record,
              'refused',
              `pid ${state.pid} still there 5 s after its SIGKILL for the memory quota (uninterruptible sleep, as on a hung file system?): it ends when it wakes`,
            );
          },
        });
    }
    // Stopped runs whose processes SIGKILL has not ended: what they hold stays charged. And
    // a stop's run (SIGTERM or SIGKILL sent, not carried out yet): not this lowering's to
    // kill, and what it holds goes when it ends. Left out, healthy daemons were killed for
    // what it held (outside reviews, 22b: in its 5 s wait after SIGKILL; 23b: before).
    const stuckLeaves: string[] = [];
    const stoppingLeaves: string[] = [];
    for (const record of this.supervisor.daemons.values()) {
      if (record.owner !== user) continue;
      const { state } = record;
      if (state.kind === 'stopping') {
        const leaf = this.processes.leafOf(state.run);
        // Its stop ends (or is given up on, 5 s after its SIGKILL, and counted as stuck).
        if (leaf !== undefined) stuckLeaves.push(leaf);
        if (leaf !== undefined) stoppingLeaves.push(leaf);
      }
      for (const { run } of record.unkilled) {
        const leaf = this.processes.leafOf(run);
        if (leaf !== undefined && !('run' in state && state.run === run)) stuckLeaves.push(leaf);
      }
    }
    const refused = await lowerMemoryLimit(
      join(base, user, 'memory.limit_in_bytes'),
      limit,
      runs,
      (kill, held) => {
        const text = `killed (SIGKILL) to bring its user's memory under their quota, lowered to ${mebibytes(limit)}: their daemons held ${mebibytes(held)}, ${mebibytes(kill.bytes)} of it this one's, which the kernel cannot take back (cgroup v1 refused the lower limit: EBUSY); it comes back by its restart=, inside the quota`;
        this.log.warn(`${kill.id}: ${text}`);
        const record = this.supervisor.daemons.get(kill.id);
        if (record !== undefined) this.note(record, 'refused', text);
      },
      () =>
        this.quotaHalted() ??
        (this.quotas.get(user)?.memory === limit ? undefined : 'their quota changed since'),
      stuckLeaves,
      () => stoppingLeaves.some((leaf) => runMembers(leaf).length > 0) || this.stopUnderWay(user),
    );
    if (refused !== undefined) this.log.warn(`the quota of '${user}': ${refused}`);
    // Given up (not called off): tried again once processes SIGKILL had not ended are gone
    // (see stuckGone). The daemons it killed came back under the old limit, never under
    // the new one (an outside review, 20a).
    const givenUp =
      refused !== undefined &&
      this.quotaHalted() === undefined &&
      this.quotas.get(user)?.memory === limit;
    if (givenUp) this.memoryUnwritten.set(user, limit);
    else this.memoryUnwritten.delete(user);
    return refused === undefined;
  }

  /** Whether a daemon of the user's is being stopped (not yet seen stopped). */
  private stopUnderWay(user: string): boolean {
    for (const record of this.supervisor.daemons.values())
      if (record.owner === user && record.state.kind === 'stopping') return true;
    return false;
  }

  /**
   * A daemon that waits for its file to be accepted (see waitingForFile), or is being taken
   * over with its file refused (see refusedAtTakeover), is not respawned with that file.
   */
  respawnHeld(record: DaemonRecord): string | undefined {
    if (this.refusedAtTakeover.has(record.id)) return 'its config file is refused now';
    if (!this.waitingForFile.has(record.id)) return undefined;
    return 'its config file is refused, and the config its run was started with is not known here: it starts once its file is accepted';
  }

  /**
   * Processes SIGKILL had not ended, or a stop's SIGKILL ended, are gone: a memory quota
   * a lowering gave up on, or a start could not write (they held what kept it from being
   * written), is tried again.
   */
  formerOf(record: DaemonRecord): string {
    return this.formerAccount(record.id, record.formerUid ?? this.formerRunOwners.get(record.id));
  }

  /**
   * The uid of the account whose run a daemon stops at a takeover (see noteFormerOwners),
   * until that stop is over: said with that run's end in the log.
   */
  private readonly formerRunOwners = new Map<string, number>();

  stuckGone(record: DaemonRecord): void {
    const user = record.owner;
    const limit = this.memoryUnwritten.get(user);
    if (limit === undefined || this.quotaHalted() !== undefined) return;
    // At each end, not only the last: what is left may fit (an outside review, 22b: one
    // stuck process of 1 MiB kept a limit from being written while the user held far less,
    // as long as it stayed). The lowering kills nothing for what the others still hold
    // (see lowerMemoryLimit): at the first end, healthy daemons were killed for it (21b).
    const quota = this.quotas.get(user);
    this.memoryUnwritten.delete(user);
    if (quota?.memory !== limit) return;
    this.log.info(
      `the quota of '${user}': the processes of a run of ${record.id} being stopped or that SIGKILL had not ended are gone; trying their memory limit of ${mebibytes(limit)} again`,
    );
    this.queueQuotaWork(user, quota, this.runningOf(user), false);
  }

  /**
   * A start writes its user's memory limit too (prepareCgroup): refused (EBUSY: more
   * held than it), the limit is one not in force, tried again as a lowering given up is;
   * written where one was not in force, it is said. A start wrote it without a word after
   * a kill -9 of the manager and its keeper, the log's last word that the limit before
   * stayed (an outside review, 21b).
   */
  private memoryAtStart(record: DaemonRecord, limit: number, placed: DaemonCgroups): void {
    const user = record.owner;
    if (placed.memoryNotWritten) {
      this.memoryUnwritten.set(user, limit);
      return;
    }
    if (this.memoryUnwritten.get(user) !== limit) return;
    this.memoryUnwritten.delete(user);
    this.log.info(
      `the quota of '${user}': its memory limit of ${mebibytes(limit)} is in force now (written at the start of ${record.id}: what held more is gone)`,
    );
  }

  /**
   * A daemon the saved state knew, loaded only once its directory could be read (see
   * savedUnread): wanted, ended and counted as saved. What ran of it was stopped at the
   * takeover, no config claiming it then: started again if it was wanted up.
   */
  private async loadAsSaved(
    owner: Owner,
    record: DaemonRecord,
    loaded: LoadedConfig,
    saved: SavedDaemon,
  ): Promise<void> {
    if (saved.lastExit !== undefined) record.lastExit = saved.lastExit;
    record.respawns = saved.respawns;
    record.wanted = saved.wanted;
    if (saved.state === 'stopped' && saved.ended !== undefined)
      record.state = { kind: 'stopped', ended: saved.ended };
    const text =
      saved.wanted === 'up'
        ? 'its config file can be read again: started, as it was wanted up'
        : `its config file can be read again: ${saved.ended === undefined ? 'left stopped, as it was' : `left ${saved.ended}, as it was`}`;
    this.log.info(`${record.id}: ${text}`);
    this.history.note(record.id, 'config', text);
    if (saved.wanted !== 'up') return;
    await this.sockets.hold(owner, record, loaded);
    this.supervisor.start(record);
  }

  /**
   * At a takeover, the config a live run (or what survives of it, its keeper killed too)
   * was started with, from the configs as last read (`copies`), when they hold it (the
   * digest saved with the run says) and it is still allowed to `user`: its file refused now. (A file broken meanwhile stops its run, as
   * documented: no config claims it.)
   */
  private runConfigOf(
    id: string,
    copies: readonly LoadedConfig[],
    user: string,
    judge = true,
  ): LoadedConfig | undefined {
    if (this.recovery === undefined) return undefined;
    const source = this.recovery.savedSource(id);
    const name = id.slice(id.indexOf('/') + 1);
    const copy = copies.find((config) => config.name === name);
    if (copy?.spec === undefined || source === undefined || copy.source !== source)
      return undefined;
    if (judge && hasErrors(this.judged(user, copy))) return undefined;
    return copy;
  }

  /**
   * The config as last read of a daemon the save knew with no run (cooling down, stopped),
   * from the configs kept: what it starts with next, its file not loading now.
   */
  private lastReadConfigOf(id: string, copies: readonly LoadedConfig[]): LoadedConfig | undefined {
    const saved = this.recovery?.savedEntryOf(id);
    if (saved === undefined || saved.run !== undefined) return undefined;
    const name = id.slice(id.indexOf('/') + 1);
    return copies.find((config) => config.name === name && config.spec !== undefined);
  }

  /**
   * What of a config a daemon runs with (its file does not load now) root does not give
   * now (a port, a user= grant, a group), formatted; undefined if it is all given.
   */
  private runRefusalOf(user: string, file: string, spec: DaemonSpec): string | undefined {
    const loaded: LoadedConfig = {
      name: spec.name,
      file,
      spec,
      problems: [],
      runAsLine: undefined,
    };
    const error = this.judged(user, loaded).find((problem) => problem.severity === 'error');
    return error === undefined ? undefined : formatProblem(error);
  }

  /**
   * What a complete reading of a user's directory is kept as (see ConfigCopies): a file
   * refused now whose daemon goes on with the config it was started with is kept as that
   * config, for a manager that takes the run over after this one. Kept as the file, a
   * kill -9 after a read of it (a rescan, `dmctl start` of the running daemon) had the
   * next manager stop the run it would have left going.
   */
  private copiesToKeep(
    user: string,
    configs: readonly LoadedConfig[],
    copiesBefore: readonly LoadedConfig[],
  ): LoadedConfig[] {
    return configs.map((loaded) => {
      const id = `${user}/${loaded.name}`;
      const existing = this.supervisor.daemons.get(id);
      const runs =
        existing === undefined
          ? this.recovery?.savedSource(id) !== undefined
          : existing.state.kind !== 'stopped' && existing.source !== loaded.source;
      // A file that does not load (broken, or refused for its mode) as one refused.
      if (!runs || (loaded.spec !== undefined && !hasErrors(this.judged(user, loaded))))
        return loaded;
      if (existing === undefined) return this.runConfigOf(id, copiesBefore, user) ?? loaded;
      // Its config taken from a file it was not started with (read, not applied): not
      // the run's, which is not known here.
      if (
        existing.source === undefined ||
        (existing.runSource !== undefined && existing.runSource !== existing.source)
      )
        return loaded;
      return {
        name: loaded.name,
        file: loaded.file,
        spec: existing.spec,
        source: existing.source,
        problems: [],
        runAsLine: undefined,
      };
    });
  }

  /** Whether the user's memory cgroup has `limit` as its limit now (the kernel rounds to pages). */
  private memoryInForce(user: string, limit: number): boolean {
    const base = this.cgroups?.memoryBase;
    if (base === undefined) return false;
    try {
      const now = Number(readFileSync(join(base, user, 'memory.limit_in_bytes'), 'latin1').trim());
      return Math.abs(now - limit) < 4096;
    } catch {
      return false;
    }
  }

  /** The daemons of a user that run (or cool down), for quota work. */
  private runningOf(user: string): RunningDaemon[] {
    const daemons: RunningDaemon[] = [];
    for (const record of this.supervisor.daemons.values())
      if (record.owner === user && record.state.kind !== 'stopped') daemons.push({ id: record.id });
    return daemons;
  }

  /**
   * A daemon runs with the groups its user had when it started: one its user was taken
   * out of since is dropped by starting it again, as a revoked listen= grant stops it
   * (a right root took back is gone for what runs too, not only for the next start).
   * Judged on what the run was given (see givenGroups), named by `nameThen` (see
   * revokedGroups): when the accounts change, when a run is taken over, and when the
   * keeper reports a spawn it carried out late.
   */
  private dropRevokedGroups(
    record: DaemonRecord,
    nameThen: (gid: number) => string | undefined,
  ): void {
    const { state } = record;
    // A personal manager switches no user: its daemons have the groups it has.
    if (state.kind !== 'running' || this.mode.kind !== 'system') return;
    // The account the run is of: its run-as name's, unless the keeper switched it to
    // another uid (a run taken over whose file named another user then).
    const uid = this.recordedRunUid(record.id, state.run);
    const named = this.db.users.get(record.spec.runAs ?? record.owner);
    const runAs = uid === undefined || named?.uid === uid ? named : this.db.byUid.get(uid);
    if (runAs === undefined || runAs.uid === 0) return;
    const runAsName = runAs.name;
    const given = this.givenGroups(record.id, state.run, state.pid, runAs.uid);
    if (given === undefined) return;
    const said = revokedGroups(given, runAs, this.db, nameThen);
    if (said.length === 0) return;
    const text = said.join('; ');
    this.log.warn(`${record.id}: ${text}; restarting it with the groups ${runAsName} has now`);
    // Any daemon's run has its user's groups, listen_group= or not: the note says which.
    this.note(record, 'refused', `${text}: restarted with the groups ${runAsName} has now`);
    this.supervisor.restart(record);
  }

  /** The names the groups `gids` have now (those that have one). */
  private namesOf(gids: readonly number[]): ReadonlyMap<number, string> {
    const names = new Map<number, string>();
    for (const gid of gids) {
      const name = groupNameIn(this.db, gid);
      if (name !== undefined) names.set(gid, name);
    }
    return names;
  }

  /**
   * The gid and groups a run was given: the keeper's record of its spawn, else (a keeper
   * before version 4, a survivor of another keeper) what its main process holds now. The
   * record is what counts: a daemon may change its own groups (a root one, or one a
   * setgid program left with another real gid), and a run whose main process is gone but
   * whose other processes go on has no /proc to read, or another process's. /proc is
   * read only once the process has `uid`: the keeper's child sets its groups before its
   * uid, and until then holds the keeper's (root's), which are no group taken away.
   */
  private givenGroups(
    id: string,
    run: number,
    pid: number,
    uid: number,
  ): readonly number[] | undefined {
    const known = this.runUids.get(id);
    if (known?.run === run && known.groups !== undefined) return known.groups;
    const recorded = this.snapshot.runs.find((report) => report.seq === run)?.groups;
    if (recorded !== undefined) return [recorded.gid, ...recorded.list];
    if (pid <= 0 || realUid(pid) !== uid) return undefined;
    return heldGids(pid);
  }

  /** Every daemon's status row, as root sees them (for the metrics). */
  statusRows(): DaemonStatus[] {
    const now = Date.now();
    return [...this.supervisor.daemons.values()]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((record) => statusOf(record, now, undefined, this.runAsOf(record)));
  }

  /** Stops every daemon, writes their last output, closes the sockets, ends the keeper. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.metrics.close();
    // A daemon frozen for a move is thawed (and moved) before it is stopped; the rest of
    // the quota work is called off (stopping).
    await this.quotaWork();
    this.accountsWatcher?.close();
    this.stopLookingNow();
    // No user is looked at again (their home, their lock held by another manager).
    for (const waiting of this.homeWaits.values()) clearTimeout(waiting.timer);
    this.homeWaits.clear();
    for (const user of this.control.users()) this.link.drop(`ctl:${user}`);
    // dmctl is answered while the daemons stop (status, stop, kill); nothing new starts.
    // What no daemon wants (survivors no config claims) is given the rest of its stop.
    // The stops are saved (each daemon as wanted before, to start again) before any SIGTERM
    // goes out: a kill -9 of the manager between the two left the daemons saved running,
    // the ends that SIGTERM brought taken for their own, a `restart=on-failure` daemon or
    // a `restart=no` task left down for good and the others counted as respawns (an
    // outside review, 72a, F1, F2: 3 of 10 kills 0-1 ms after the SIGTERM).
    // A save that cannot come (the saver held by an upgrade under way) holds them no
    // longer than STOPS_SAVED_MS. The history is saved with them: saved up to a second
    // later, a kill -9 meanwhile lost every "stopping ... the manager is shutting down"
    // from `why` (found with an outside review's test, 74b, F3).
    // A save that fails (a full disk) holds them no longer either: told at its first failure
    // (the saves go on being tried), they went out only after STOPS_SAVED_MS (an outside
    // review, 75b, F1: a 1 s stop took 2-4 s).
    const saved = new Promise<void>((resolve) => {
      void this.state.saveAllNow(() => resolve()).then(resolve);
    });
    this.processes.holdSignalsUntil(
      Promise.race([saved, delay(STOPS_SAVED_MS, undefined, { ref: false })]),
    );
    await Promise.all([this.supervisor.stopAll(), this.processes.straysEnded(KILL_GRACE_MS)]);
    // Checks still under way (a command's health_timeout may be long) go too, so that the
    // keeper holds nothing and ends with the manager.
    this.healthChecks.clear();
    await this.processes.endAllChecks(2_000);
    // Every daemon is wanted down now: its sockets are closed and their files removed.
    await this.sockets.settled();
    this.notify.releaseAll();
    // The daemons are gone: their pipes end once the keeper lets go of them too, and
    // what they wrote last reaches the logs.
    for (const id of this.pipes) this.link.closePipe(id);
    // Logs that could not be opened (their owner's files out of reach) are tried once more.
    const unlogged = await this.logs.openWaiting(STOP_LOG_OPEN_MS);
    // Not the pipes of runs given up on after SIGKILL: their processes hold them open, and
    // their end never came; what is in them is read for a moment. The stop waited 5 s more
    // for them (an outside review, 20a: 13 s with a stop-timeout of 2 s).
    const stuck = new Set(this.processes.held().values());
    await Promise.all([
      this.logs.drain(
        [...this.pipes].filter((id) => !stuck.has(id)),
        5_000,
      ),
      this.logs.drain(
        [...this.pipes].filter((id) => stuck.has(id)),
        STUCK_PIPE_DRAIN_MS,
      ),
    ]);
    for (const { id, bytes, error } of unlogged)
      if (bytes > 0)
        this.log.warn(`${id}: ${bytes} bytes of its output are dropped at the stop: ${error}`);
    // Tails through the manager read what the daemons wrote as they stopped, now in their
    // logs, before the sockets close: closed first, a tail missed the last 13-66 lines of
    // its daemon (an outside review, 67b, F3: 5 of 10 tails).
    await this.tailsCatchUp();
    this.control.closeAll();
    this.userLines.tellUntold();
    // The kernel waits for a FUSE call its server has read, even on SIGKILL, and a process
    // ends only with its last thread: the admin is told what holds it, and what ends it.
    const unanswered = this.logs.unanswered();
    if (unanswered.length > 0)
      this.log.warn(
        `the manager's process ends only when ${unanswered.join(', ')} answers: the log pump is inside a call to it, which the kernel does not interrupt (a FUSE server that never answers: killing it, or umount -l, ends the call)`,
      );
    if (this.cgroups) removeTree(this.cgroups);
    await this.configCopies.settled();
    await this.state.idle();
    // Saved as not clean yet: said clean only once the manager says it exits (see
    // finishCleanly). A kill -9 between the two was taken for a clean stop, the log saying
    // nothing of an end: what the user had started stayed down, what they had stopped ran
    // (an outside review, 73a, F1: 10 of 38 kills in those 7-40 ms).
    this.state.hold();
    this.state.saveNow(this.takeState(false));
    // A clean stop leaves no process: what is still there (given up on after SIGKILL) is
    // killed by the keeper as it quits (cgroup.kill, else its process group's pidfd).
    const left = [...new Set(this.processes.held().values())];
    if (left.length > 0)
      this.log.warn(
        `${left.length} daemons still had processes after their stop (${left.slice(0, 10).join(', ')}${left.length > 10 ? ', ...' : ''}): the keeper kills what is left as it quits`,
      );
    this.daemonLines.tellUntold();
    this.link.quit();
  }

  /** After `shutdown`, once the manager says it exits: the state is saved as a clean stop. */
  finishCleanly(): void {
    const saved = this.state.saveNow(this.takeState(true));
    // Saved or not (a full disk): the mark going says the stop was clean.
    const kept = unmarkRunning(this.settings.stateDir);
    if (kept !== undefined && !saved)
      this.log.error(
        `${kept}, and the state could not be saved either: the next manager will take this clean stop for a crash (what ran runs again, autostart=no daemons too)`,
      );
  }

  /** The owner's other daemons not stopped, counted up to `enough`. */
  private othersActive(record: DaemonRecord, enough: number): number {
    let active = 0;
    for (const other of this.supervisor.daemons.values())
      if (other.owner === record.owner && other !== record && other.state.kind !== 'stopped')
        if (++active >= enough) break;
    return active;
  }

  /** A daemon's back-off under the current settings (a reload may change them). */
  backoff(record: DaemonRecord): BackoffPolicy {
    const { cooldownStepMs, cooldownMaxMs, stableUptimeMs } = this.settings;
    return {
      firstMs: FIRST_COOLDOWN_MS,
      stepMs: cooldownStepMs,
      maxMs: cooldownMaxMs,
      stableMs: stableUptimeMs,
      delayMs: restartDelayOf(record.spec.restartDelayMs, this.delayBounds()),
    };
  }

  /** The admin's bounds of `restart_delay=`. */
  private delayBounds(): DelayBounds {
    return { minMs: this.settings.restartDelayMinMs, maxMs: this.settings.restartDelayMaxMs };
  }

  policy(): Policy {
    return this.currentPolicy;
  }

  owners(): readonly string[] {
    return [...new Set([...this.ownerTable.keys(), ...this.problems.users()])];
  }

  /**
   * Reads these users' daemon configs again (as each user, off the event loop): new
   * daemons are loaded, changed ones restarted, deleted ones forgotten once stopped.
   * One user's rescans run one after the other; different users' at once. What reading
   * cost is charged to `askedBy`, the user who asked (a manager of others pays for
   * theirs); what root, a reload or a change of accounts starts is charged to nobody.
   */
  async rescan(
    users: readonly string[],
    askedBy?: string,
    automatic = false,
  ): Promise<RescanReport> {
    const tally = new RescanTally(askedBy);
    await Promise.all(
      users.map((user) => {
        const previous = this.scans.get(user) ?? Promise.resolve();
        const next = previous.then(async () => {
          // Users and groups may change while the files are read (the owner is made anew):
          // the scan is done again with the new rights, so the answer tells what holds now.
          for (let attempt = 0; attempt < SCAN_ATTEMPTS; attempt++) {
            const owner = this.ownerTable.get(user);
            if (owner === undefined || (await this.scanOwner(owner, tally, automatic))) return;
          }
          this.log.warn(`rescan of ${user}: users and groups kept changing; scanned again later`);
        });
        // A rescan that failed is said to whoever asked (and in the audit), not taken
        // for "nothing changed".
        const settled = next.catch((error: unknown) => {
          this.log.error(`rescan of ${user} failed: ${(error as Error).stack ?? error}`);
          tally.refuse(`the files of ${user} (the rescan failed; see the manager's log)`);
        });
        this.scans.set(user, settled);
        void settled.then(() => {
          if (this.scans.get(user) === settled) this.scans.delete(user);
        });
        return settled;
      }),
    );
    if (askedBy !== undefined && askedBy !== ROOT)
      this.rescanBudget.charge(askedBy, tally.cost, performance.now());
    const held = tally.heldBack();
    if (askedBy !== undefined && held > 0) {
      tally.explain(this.startBudget.heldBack(askedBy, held, performance.now()));
      this.userLines.info(
        askedBy,
        `${automatic ? `the manager's own look at the daemons of ${askedBy}` : `${askedBy}'s rescan`}: ${held} starts and restarts held back (the start budget): changed daemons run with the config they were started with, new ones are not loaded, until a rescan`,
      );
    }
    return tally.report();
  }

  rescanRefusal(user: string, what = 'rescan'): string | undefined {
    return this.rescanBudget.refusal(user, performance.now(), what);
  }

  takeStart(user: string): string | undefined {
    const spent = user === ROOT ? undefined : this.startBudget.take(user, performance.now());
    return spent === undefined ? undefined : `refused: ${spent}`;
  }

  /**
   * Takes one start (of a new daemon, or the restart of a changed one) from the start
   * budget of whoever asked for the rescan; false if they have none left. Root's rescans
   * and reloads take none.
   */
  private takeStartFor(tally: RescanTally): boolean {
    const { askedBy } = tally;
    if (askedBy === undefined || askedBy === ROOT) return true;
    return this.startBudget.take(askedBy, performance.now()) === undefined;
  }

  async refresh(record: DaemonRecord): Promise<Refreshed> {
    const owner = this.ownerTable.get(record.owner);
    if (!owner) return { ok: false, error: `${record.owner} may no longer run daemons` };
    const loaded = await loadConfig(owner, record.spec.name);
    // Judged, as a rescan does: a refusal (user=, listen=) stays among the problems.
    const judged = this.judged(record.owner, loaded);
    this.setProblems(record.owner, loaded.file, judged);
    this.broken.note(record.owner, record.spec.name, loaded.file, judged);
    // In its history as a rescan puts it (an outside review, 26a, F4: a start that read a
    // refused file said nothing there).
    this.noteConfigProblem(record.id, judged);
    if (loaded.spec === undefined) {
      const first = loaded.problems.find((problem) => problem.severity === 'error');
      return {
        ok: false,
        error: `cannot start ${record.id}: ${first ? formatProblem(first) : 'invalid config'}`,
      };
    }
    // Its file changed into one refused now (a port, a user or a group root does not
    // give), read while a run goes on: the run keeps the config it was started with, as a
    // rescan leaves it. Taken, a restart the manager made (a group taken from the owner)
    // applied the refused file and left the daemon down (an outside review, 25a, F2).
    const refusal = judged.find((problem) => problem.severity === 'error');
    if (refusal !== undefined && loaded.source !== record.source && record.state.kind === 'running')
      return { ok: true, message: '', refused: formatProblem(refusal) };
    // Nothing runs to go on with: the start is refused for the file, and nothing of the
    // daemon changes. Taken, the refused file was tried, and the daemon left wanted down,
    // its wait for the file's acceptance gone (an outside review, 32a, F2).
    if (refusal !== undefined && record.state.kind !== 'running') {
      const waits = this.waitingForFile.has(record.id)
        ? '; it starts once its file is accepted'
        : '';
      return { ok: false, error: `cannot start ${record.id}: ${formatProblem(refusal)}${waits}` };
    }
    this.waitingForFile.delete(record.id);
    takeConfig(record, loaded.spec, loaded.source);
    await this.configCopies.replace(record.owner, owner.account.uid, loaded);
    await this.openLog(owner, record, true);
    // A running daemon keeps the sockets it was given until a restart applies its file
    // (see begin's takeover: an outside review, 23a, F5).
    if (!runsOldConfig(record)) await this.sockets.hold(owner, record, loaded);
    return { ok: true, message: '' };
  }

  startRefusal(record: DaemonRecord): string | undefined {
    if (record.spec.output !== 'log') return undefined;
    const readiness = this.logs.readinessToStart(record.id);
    return !('checking' in readiness) && !readiness.ok && readiness.refused
      ? readiness.error
      : undefined;
  }

  async forgetIfGone(record: DaemonRecord): Promise<void> {
    const owner = this.ownerTable.get(record.owner);
    if (owner === undefined) return;
    if (!(await isConfigGone(owner, record.spec.name))) return;
    this.broken.note(record.owner, record.spec.name, configPathOf(owner, record.spec.name), []);
    this.supervisor.forget(record);
  }

  problemsOf(users: readonly string[]): string[] {
    return this.problems.formatted(users);
  }

  problemCount(user: string): number {
    return this.problems.count(user);
  }

  brokenConfigs(): readonly BrokenConfig[] {
    return this.broken.all();
  }

  runsDaemons(user: string): boolean {
    return this.ownerTable.has(user);
  }

  async readConfig(user: string, name: string): Promise<ConfigCopy | { error: string }> {
    const owner = this.ownerTable.get(user);
    if (owner === undefined) return { error: `'${user}' may not run daemons` };
    const copy = await readConfigAsOwner(owner, name);
    if ('error' in copy) return copy;
    return {
      id: `${user}/${name}`,
      file: copy.file,
      ...(copy.text === undefined ? {} : { text: copy.text }),
    };
  }

  async saveConfig(
    caller: string,
    user: string,
    name: string,
    source: string,
    expect: string,
  ): Promise<Response> {
    const owner = this.ownerTable.get(user);
    const account = this.db.users.get(caller);
    if (owner === undefined || account === undefined)
      return { ok: false, error: `'${user}' may not run daemons` };
    // Saving rescans the owner's files, charged to the caller: past the budget, refused.
    const refusal = caller === ROOT ? undefined : this.rescanRefusal(caller, 'save');
    if (refusal !== undefined) return { ok: false, error: refusal };
    const edited = await readEditedCopy(source, account, groupIdsOf(this.db, account));
    if ('error' in edited) return { ok: false, error: edited.error };
    // The same checks as loading: a copy the manager would refuse is never saved.
    const file = configPathOf(owner, name);
    const problems = this.judged(user, {
      name,
      file,
      ...parseDaemonConfig(edited.text, file, name),
    });
    if (hasErrors(problems))
      return {
        ok: false,
        error: `${file} not saved: the edited copy has errors`,
        problems: problems.map(formatProblem),
      };
    const written = await writeConfigAsOwner(owner, name, edited.text, expect);
    if ('error' in written) return { ok: false, error: written.error };
    this.log.info(`${user}/${name}: ${file} saved by ${caller}`);
    return {
      ok: true,
      message: `saved ${file}`,
      rescan: await this.rescan([user], caller),
      problems: problems.map(formatProblem),
    };
  }

  infoOf(record: DaemonRecord): DaemonInfo {
    const owner = this.ownerTable.get(record.owner);
    return {
      id: record.id,
      owner: record.owner,
      configFile: this.configFiles.get(record.id) ?? '',
      logFile:
        owner && record.spec.output === 'log' ? DaemonLogs.pathOf(owner, record.spec) : undefined,
    };
  }

  /**
   * A piece of a daemon's log, for someone allowed to see it but not to open it (a
   * help-desk user of [manages]): read as its owner, refused when what is there is not
   * the owner's own regular file (a link planted in place of the log). With `file`, the
   * file read before, read on across rotations (see readLogPiece).
   */
  async readLog(
    record: DaemonRecord,
    offset: number,
    file?: string,
  ): Promise<LogChunk | { error: string }> {
    const owner = this.ownerTable.get(record.owner);
    if (!owner || record.spec.output !== 'log')
      return { error: `${record.id} has no log (output=discard)` };
    const source: LogSource = {
      path: DaemonLogs.pathOf(owner, record.spec),
      ownerUid: owner.account.uid,
      ...this.logs.filesOf(record.id, record.spec),
      read: (path, at, length) => owner.files.readChunk(path, at, length),
    };
    this.lastLogReadAt = Date.now();
    const piece = await readLogPiece(source, offset, file);
    return this.stopping && !('error' in piece) ? { ...piece, stopping: true } : piece;
  }

  /**
   * At a clean stop, once the daemons' last output is in their logs: if a log was read
   * through the manager lately (a tail at the end of its log looks every 500 ms), the tails get
   * the time to look once more.
   */
  private async tailsCatchUp(): Promise<void> {
    if (Date.now() - this.lastLogReadAt > TAILING_MS) return;
    await delay(TAIL_CATCH_UP_MS);
  }

  audit(caller: string, request: Request, outcome: string): void {
    const target = request.id === undefined ? '' : ` ${printableJson(request.id)}`;
    const signal = request.signal === undefined ? '' : ` ${printableJson(request.signal)}`;
    this.userLines.info(
      caller,
      `audit: ${caller}: ${request.command}${target}${signal}: ${outcome}`,
    );
  }

  /**
   * What a start of the daemon needs, or why it cannot start; `starting` false: the plan
   * of a run taken over from the keeper, which started before (its log is not looked at).
   */
  prepare(record: DaemonRecord, starting = true): Prepared {
    this.refreshAccounts();
    const owner = this.ownerTable.get(record.owner);
    if (!owner) return { ok: false, error: `${record.owner} may not run daemons`, retry: false };
    const runAsName = record.spec.runAs ?? record.owner;
    const runAs = this.db.users.get(runAsName);
    const refusal = runAsRefusal(this.currentPolicy, record.owner, runAsName, runAs !== undefined);
    if (refusal !== undefined || runAs === undefined)
      return { ok: false, error: refusal ?? `no such user '${runAsName}'`, retry: false };
    const delayRefusal = restartDelayRefusal(record.spec.restartDelayMs, this.delayBounds());
    if (delayRefusal !== undefined) return { ok: false, error: delayRefusal, retry: false };
    const limits = this.limitsOf(record.owner);
    // Counted only under a limit: every respawn comes here, and the count looks at every
    // daemon (a crash storm of 1,000 daemons spent a third of the manager's time on it).
    const active =
      limits.maxDaemons === undefined ? 0 : this.othersActive(record, limits.maxDaemons);
    if (limits.maxDaemons !== undefined && active >= limits.maxDaemons)
      return {
        ok: false,
        error: `'${record.owner}' already has ${active} daemons running (max-daemons = ${limits.maxDaemons})`,
        retry: false,
      };
    const daemonLimits = limitsForDaemon(limits, record.spec.limits);
    const quota = this.quotaOf(limits);
    const missing = missingControllers(this.cgroups, quota);
    if (missing.length > 0)
      return {
        ok: false,
        error: `the quota of '${record.owner}' needs the cgroup controllers ${missing.join(', ')}, which the manager does not have here (cgroups = no, or not mounted)`,
        retry: false,
      };
    const cgroups =
      this.cgroups &&
      prepareCgroup(
        this.cgroups,
        record.id,
        daemonLimits.nproc,
        quota,
        this.cgroupWrites,
        // A lower memory limit waits for the user's stops under way: written at a start,
        // the kernel's OOM killer killed their healthy daemons again and again for what a
        // stopping run still held (an outside review, 45a, F3). Written when it ends.
        quota.memory !== undefined && this.stopUnderWay(record.owner),
      );
    // The quota the user's running daemons are under changes with the work that moves
    // them (applyQuotas): set here only while none of theirs runs. Set by every start, a
    // respawn right after a SIGHUP made the SIGHUP's quota look applied, and the running
    // daemons were never moved (an outside review, 19c: left outside the fair share).
    if (
      cgroups !== undefined &&
      !('error' in cgroups) &&
      (!this.quotas.has(record.owner) ||
        !sameQuota(quota, this.quotas.get(record.owner) ?? NO_QUOTA)) &&
      this.othersActive(record, 1) === 0
    )
      this.quotas.set(record.owner, quota);
    // Kills the OOM killer made before this manager looked are not this daemon's.
    if (quota.memory !== undefined && !this.oomCounts.has(record.owner))
      this.oomCounts.set(record.owner, oomKills(this.cgroups, record.owner));
    // Its name taken by a file of the kernel's: refused until renamed.
    if (cgroups !== undefined && 'nameTaken' in cgroups)
      return { ok: false, error: cgroups.error, retry: false };
    // No daemon starts without its cgroup where cgroups are used: what it forks would be
    // found by nothing at its stop. A quota that cannot be applied is no quota either.
    if (cgroups !== undefined && 'error' in cgroups) {
      const quoted = [quota.memory, quota.cpu, quota.tasks, quota.cpuWeight].some(
        (value) => value !== undefined,
      );
      return {
        ok: false,
        error: `${cgroups.error}: ${quoted ? "its user's quota cannot be applied" : 'it does not start without its cgroup'}`,
        retry: true,
      };
    }
    const placed = cgroups !== undefined && !('error' in cgroups) ? cgroups : undefined;
    if (placed !== undefined && quota.memory !== undefined)
      this.memoryAtStart(record, quota.memory, placed);
    const sockets = this.sockets.forRun(owner, record, this.configFiles.get(record.id) ?? '');
    if (sockets !== undefined && 'error' in sockets) return { ok: false, ...sockets };
    const notify = this.notifyEnvironment(record, runAs.uid, runAs.gid);
    if ('error' in notify) return { ok: false, error: notify.error, retry: true };
    if (record.spec.output === 'log') {
      // Opened (as the owner, off the event loop) when its config was loaded, and looked
      // at again by its path before a start (a user's FUSE mount may have come over it).
      const readiness = starting
        ? this.logs.readinessToStart(record.id)
        : (this.logs.readiness(record.id) ?? NOT_OPEN);
      if ('checking' in readiness) {
        // Tried again as soon as it is looked at (a respawn waited 50 ms more than it had to).
        void readiness.checking.then(() => this.supervisor.tryWaitingNow(record));
        return { ok: false, error: 'its log is being opened', retry: true, soon: true };
      }
      // Not opened yet (the pipe of the run of another account that had the name before,
      // dropped with its log's entry as it ended): opened now, and tried again then. A
      // failed start, it cooled down and counted a respawn of a daemon that never ran (an
      // outside review, 64a, F4: 14 of 14 after a takeover as such a run stopped).
      if (readiness === NOT_OPEN) {
        void this.openLog(owner, record).then(() => this.supervisor.tryWaitingNow(record));
        return { ok: false, error: 'its log is being opened', retry: true, soon: true };
      }
      if (!readiness.ok) {
        // A passing fault (a full disk, a missing directory): tried again for the retry.
        if (!readiness.refused) void this.openLog(owner, record);
        // Its owner not known yet (see outputHeld): its output waits in its pipe for the
        // judgement, and its log is opened then. Refused meanwhile, a survivor replaced
        // after a kill -9 of the keeper failed its starts with back-off while the home
        // could not be read (an outside review, 61a, F7: down 63 s, 13 s past its return).
        if (readiness.refused || !this.outputHeld(record.id))
          return { ok: false, error: readiness.error, retry: !readiness.refused };
      } else this.logs.reopenBeforeStart(record.id, record.respawns > 0);
    }
    const groups = groupIdsOf(this.db, runAs);
    this.askedGroupNames.set(record.id, this.namesOf(groups));
    const banner = startBanner(new Date(), record.id, runAsName, record.spec.start).trimEnd();
    // Before the keeper writes it: the pump makes it begin a line of its own.
    if (record.spec.output === 'log') this.logs.expectBanner(record.id, bannerLine(banner));
    return {
      ok: true,
      plan: {
        start: record.spec.start,
        dir: record.spec.dir,
        uid: runAs.uid,
        gid: runAs.gid,
        owner: owner.account.uid,
        groups,
        env: {
          ...buildEnvironment(runAs, record.spec.env),
          ...listenEnvironment(record, sockets),
          ...notify.env,
        },
        output: record.spec.output === 'log' ? 'pipe' : 'ignore',
        banner,
        cgroup: placed?.cgroup,
        joins: placed?.joins ?? [],
        limits: daemonLimits,
        umask: record.spec.umask,
        ...(sockets === undefined ? {} : { sockets }),
      },
    };
  }

  /** Reopens every log file, for an external logrotate. */
  reopenLogs(): void {
    this.logs.reopenAll();
  }

  stopTimeoutMs(record: DaemonRecord): number {
    // The admin bounds what a daemon may ask for: a shutdown never waits longer.
    const asked = record.spec.stopTimeoutMs ?? this.settings.stopTimeoutMs;
    return Math.min(asked, this.settings.maxStopTimeoutMs);
  }

  /** Saves the state soon after each change; a daemon stopped for good lets its sockets go. */
  saveSoon(): void {
    void this.state.durable();
  }

  stopSaved(): Promise<void> {
    return new Promise<void>((resolve) => {
      void this.state.saveAllNow(() => resolve()).then(resolve);
    });
  }

  changed(record?: DaemonRecord): void {
    this.state.schedule();
    if (record === undefined) return;
    // A daemon left down (restart=no, on-failure, a stop) is saved at once, not with the
    // batch of respawns: the keeper forgets its run, and a manager that took over from a
    // state a second old would start it again (a review ran a restart=no task twice).
    if (record.state.kind === 'stopped') void this.state.durable();
    this.sockets.noteChange(record, this.ownerTable.get(record.owner));
    // The old account's run of a name done with: a daemon of a renamed account may load.
    if (this.renameWaits.size > 0) this.renamedRunGone(record.id);
    const { state } = record;
    if (this.formerRunOwners.size > 0 && (state.kind !== 'stopping' || state.former !== true))
      this.formerRunOwners.delete(record.id);
    const run = state.kind === 'running' || state.kind === 'stopping' ? state.run : undefined;
    // What a run said of itself, and its health, are that run's: a new run starts afresh.
    if (record.notified !== undefined && record.notified.run !== run) record.notified = undefined;
    if (record.health !== undefined && record.health.run !== run) record.health = undefined;
    this.readiness.settle(record);
    // A run taken over from the keeper (an upgrade) is checked as it would be started now.
    if (record.spec.health !== undefined && run !== undefined && !this.processes.hasPlan(run)) {
      const prepared = this.prepare(record, false);
      if (prepared.ok) this.processes.notePlan(run, prepared.plan);
    }
    this.watchdogs.sync(record);
    this.healthChecks.sync(record);
    if (state.kind === 'running' && state.pid > 0) this.notify.replay(record.id);
  }

  /**
   * $NOTIFY_SOCKET (and $WATCHDOG_USEC) for a daemon with `ready=notify` or `watchdog=`,
   * its socket made for the run-as user; a daemon without them has none (any it had goes).
   */
  private notifyEnvironment(
    record: DaemonRecord,
    uid: number,
    gid: number,
  ): { readonly env: Record<string, string> } | { readonly error: string } {
    const { ready, watchdogMs } = record.spec;
    if (ready?.kind !== 'notify' && watchdogMs === undefined) {
      this.notify.release(record.id);
      return { env: {} };
    }
    const path = this.notify.socketFor(record, uid, gid);
    if (typeof path !== 'string') return path;
    return {
      env: {
        NOTIFY_SOCKET: path,
        ...(watchdogMs === undefined ? {} : { WATCHDOG_USEC: String(watchdogMs * 1000) }),
      },
    };
  }

  /**
   * Takes back the sockets the keeper kept for daemons that run on (an upgrade, a crash
   * of the manager): they keep the $NOTIFY_SOCKET they were given. The others go.
   */
  private claimNotifySockets(): void {
    for (const record of this.supervisor.daemons.values()) {
      const { ready, watchdogMs } = record.spec;
      if (ready?.kind !== 'notify' && watchdogMs === undefined) continue;
      const runAs = this.db.users.get(record.spec.runAs ?? record.owner);
      if (runAs === undefined) continue;
      const made = this.notify.socketFor(record, runAs.uid, runAs.gid);
      if (typeof made !== 'string') this.log.warn(`${record.id}: ${made.error}`);
    }
    this.notify.releaseUnclaimed();
  }

  watchReady(record: DaemonRecord, run: number): void {
    // A run taken over from the keeper (an upgrade) is checked as it would be started now.
    if (!this.processes.hasPlan(run)) {
      const prepared = this.prepare(record, false);
      if (prepared.ok) this.processes.notePlan(run, prepared.plan);
    }
    // Its ready_timeout counts from when its program began, across a takeover too.
    this.readiness.watch(record, run, record.begunAt);
  }

  note(record: DaemonRecord, kind: EventKind, text: string, at?: number): void {
    this.history.note(record.id, kind, text, at);
    this.state.schedule();
    // Someone stopped it: it waits for its file no more (see waitingForFile). A start ends
    // the wait once it reads the file accepted (see refresh); one refused for the file
    // changes nothing, the wait included (an outside review, 32a, F2: left down for good).
    if (isWantedChange({ kind, text }) && text.endsWith(' stop'))
      this.waitingForFile.delete(record.id);
  }

  /** The pid of the keeper of daemons (dm-keeper) this manager speaks to. */
  get keeperPid(): number {
    return this.processes.keeperPid;
  }

  /**
   * The account a daemon id's history is of now: the old account's while its record stops
   * under the id (see syncOwners), else the account of that name.
   */
  private historyUid(id: string): number | undefined {
    const record = this.supervisor.daemons.get(id);
    if (record?.formerUid !== undefined) return record.formerUid;
    return this.db.users.get(id.slice(0, id.indexOf('/')))?.uid;
  }

  historyOf(id: string): readonly HistoryEvent[] {
    return this.history.of(id);
  }

  forgotten(record: DaemonRecord): void {
    // Not the user's quota cgroups while a run of theirs is being launched into them: its
    // child found them gone and failed its start ("cannot join cgroup ...": a full run,
    // once, as the deleted account's run ended while the new account's daemon started).
    if (this.cgroups)
      removeCgroup(this.cgroups, record.id, this.processes.launchingOf(record.owner));
    this.notify.release(record.id);
    // The run of an account renamed away and back meanwhile: its history is the daemon's
    // still, loaded again under the name (see moveRenamePending).
    const renamedBack =
      record.formerUid !== undefined &&
      this.db.users.get(record.owner)?.uid === record.formerUid &&
      !this.deletedUids.has(record.formerUid);
    // Of an account renamed, its daemon waiting under the new name: what this run noted
    // since the rename (why it was stopped, its end) goes there too, after what was carried
    // at the rename. Forgotten here, the daemon's `why` showed a start after a start (an
    // outside review, 52a, F6).
    const renamedTo = [...this.renameWaits].find(([, oldId]) => oldId === record.id)?.[0];
    // Kept by uid at the rename (see syncOwners), and read back here by what it noted since:
    // kept so again, for the daemon under the new name. Forgotten, the owner of a daemon
    // stopped before a swap of names lost its `why`; added to the daemon under the new name,
    // where the other account's run had not ended yet, the two accounts' histories were
    // mixed (outside reviews, 58b, F1; 59a, F1: 11 of 11, both daemons running).
    const parkedAtRename = this.parkedAtRename.delete(record.id);
    const carriedOn =
      !parkedAtRename &&
      renamedTo !== undefined &&
      !renamedBack &&
      record.formerUid !== undefined &&
      this.db.users.get(renamedTo.slice(0, renamedTo.indexOf('/')))?.uid === record.formerUid;
    if (carriedOn) this.history.addMissing(record.id, renamedTo);
    const parked = parkedAtRename && !renamedBack;
    // Its owner there still, but no longer allowed to run daemons: its history waits for
    // them under its id (see begin), as what they stopped does (see leftDownByUid). Forgotten,
    // a `[can_run_as]` round trip emptied every `why` of theirs (an outside review, 54b, F2).
    const away =
      record.formerUid === undefined &&
      this.mode.kind === 'system' &&
      !mayRunDaemons(this.currentPolicy, record.owner) &&
      this.db.users.has(record.owner);
    // Of an account under a name not allowed, its old name another's: kept by uid (47c, F3).
    if (
      record.formerUid !== undefined &&
      ((this.leftDownByUid.has(record.formerUid) && !renamedBack) || parked)
    )
      this.keepHistoryByUid(record.id, record.formerUid);
    else if (!renamedBack && !away) this.history.forget(record.id);
    this.runUids.delete(record.id);
    this.waitingForFile.delete(record.id);
    void this.sockets.release(record.id, this.ownerTable.get(record.owner));
    this.configFiles.delete(record.id);
    void this.logs.forget(record.id);
    if (this.pipes.has(record.id)) this.link.closePipe(record.id);
    // Said as what it is: its file may be there (an outside review, 54b, F3).
    this.log.info(
      away
        ? `${record.id}: stopped, its owner no longer allowed to run daemons; forgotten until they are again`
        : this.replacedRuns.has(record.id) && record.formerUid === undefined
          ? `${record.id}: the run of the deleted account of that name and uid is gone; loaded from the new account's files now`
          : record.formerUid !== undefined
            ? `${record.id}: stopped, its owner (uid ${record.formerUid}) no longer called ${record.owner}; forgotten under this name`
            : `${record.id}: config file gone and daemon stopped; forgotten`,
    );
    this.wantedBeforeDisown.delete(record.id);
    // The new account's daemon of that name waited for the old account's to be gone.
    if (this.replacedRuns.delete(record.id)) void this.rescan([record.owner]);
    this.renamedRunGone(record.id);
  }

  /**
   * Whether daemon `id` (of a name an account had before) still runs for that account:
   * its record, being stopped; a run of it stopped as a stray; at a takeover, a run of it
   * the keeper holds, or processes in its cgroup (the keeper killed too), stopped once
   * every user is loaded (see Recovery.finish, endUnclaimedCgroups). `waiter`: the uid of
   * the account whose daemon waits for it, if known.
   */
  private runsOn(id: string, waiter: number | undefined): boolean {
    // The old account's: its record (see syncOwners), or a run of it taken by the daemon
    // of that name of the account that has the name now (two accounts that swapped names).
    const record = this.supervisor.daemons.get(id);
    const user = id.slice(0, id.indexOf('/'));
    // At a takeover, not a run the keeper started for the account of the name now: the
    // manager before, the old run gone, started the daemon of that name (two accounts that
    // swapped names, killed before its next save). Taken for the old run, each daemon
    // waited for the other's, and both were stopped as no config's (a full test run).
    // A run of the account that waits (renamed away and back, the same uid: its own old
    // run) is one, whatever the name's account now.
    const ownerNow = this.db.users.get(user)?.uid;
    const another = (run: RunReport): boolean =>
      run.id === id &&
      (waiter === undefined
        ? ownerNow !== undefined && run.ownerUid === ownerNow
        : run.ownerUid !== undefined && run.ownerUid !== waiter);
    const oldRun = (run: RunReport): boolean =>
      run.id === id && (run.alive || !run.empty) && !another(run);
    // Nor is the cgroup of such a run something left behind (a run's is named by its
    // number): taken for the old run, each daemon of two accounts that swapped names
    // waited for the other's new run, and both were stopped as no config's, and started
    // again (under load, a run of the tests).
    const others = new Set(this.snapshot.runs.filter(another).map((run) => String(run.seq)));
    const leftBehind = (): boolean =>
      (this.leftBehind(user).get(id) ?? []).some((cgroup) => !others.has(basename(cgroup)));
    return (
      record?.formerUid !== undefined ||
      (record?.state.kind === 'stopping' && record.state.former === true) ||
      this.processes.stopsStrayOf(id) ||
      (this.recovery !== undefined &&
        (this.snapshot.runs.some(oldRun) || leftBehind() || this.recovery.savedRunLives(id)))
    );
  }

  /**
   * What waits under a name from an earlier rename (its daemons not loaded yet, their old
   * runs still stopping) goes on under the name it has now: renamed again meanwhile (a to
   * z, then z to y within the old run's stop), the daemon was loaded under y at once,
   * beside its old run, started though its owner had stopped it, its history gone (an
   * outside review, 42b, F1: 7 of 7).
   */
  private moveRenamePending(from: string, to: string): void {
    this.moveRenamesPending(new Map([[from, to]]));
  }

  /**
   * moveRenamePending of several renames at once (old name to new): what waits under each
   * old name is taken first, then put under the new names, so that a swap moves each
   * account's to the other's name, not both to one.
   */
  private moveRenamesPending(renames: ReadonlyMap<string, string>): void {
    const nameOf = (id: string): string => id.slice(0, id.indexOf('/'));
    const moved = (id: string): string =>
      `${renames.get(nameOf(id))}/${id.slice(nameOf(id).length + 1)}`;
    const waits = [...this.renameWaits].filter(([newId]) => renames.has(nameOf(newId)));
    const lefts = [...this.leftDownByOldName]
      .filter((id) => renames.has(nameOf(id)))
      .map((id) => ({ id, oldName: this.leftDownOldNames.get(id) }));
    for (const [newId] of waits) this.renameWaits.delete(newId);
    for (const { id } of lefts) {
      this.leftDownByOldName.delete(id);
      this.leftDownOldNames.delete(id);
    }
    // Their histories through a place no daemon has, then on: carried one by one, a swap
    // carried the first onto the second's id before the second was carried.
    const parked = (id: string): string => `\u0000moving/${id}`;
    for (const [newId] of waits) this.history.merge(newId, parked(moved(newId)));
    // So do those of daemons left stopped not loaded yet (a refused file): left under the
    // name between, a second rename lost who had stopped it (an outside review, 79b, F4).
    const unloaded = lefts.filter(
      ({ id }) => !this.supervisor.daemons.has(id) && !waits.some(([newId]) => newId === id),
    );
    for (const { id } of unloaded) this.history.merge(id, parked(moved(id)));
    for (const [newId, oldId] of waits) {
      // Renamed back to the old name too: loaded under it once its old run is gone.
      this.renameWaits.set(moved(newId), oldId);
      this.history.carry(parked(moved(newId)), moved(newId));
      this.history.forget(parked(moved(newId)));
    }
    for (const { id } of unloaded) {
      this.history.carry(parked(moved(id)), moved(id));
      this.history.forget(parked(moved(id)));
    }
    // Still left stopped under the name it had then (never loaded under the one between).
    for (const { id, oldName } of lefts) this.leaveDown(moved(id), oldName);
  }

  /** What waits under `name` from earlier renames (see moveRenamesPending), taken away. */
  private takePending(name: string): { waits: Record<string, string>; leftDown: string[] } {
    const waits: Record<string, string> = {};
    for (const [newId, oldId] of [...this.renameWaits])
      if (newId.startsWith(`${name}/`)) {
        this.renameWaits.delete(newId);
        waits[newId.slice(name.length + 1)] = oldId;
      }
    const leftDown: string[] = [];
    for (const id of [...this.leftDownByOldName])
      if (id.startsWith(`${name}/`)) {
        this.leftDownByOldName.delete(id);
        this.leftDownOldNames.delete(id);
        leftDown.push(id.slice(name.length + 1));
      }
    return { waits, leftDown };
  }

  /** The uid of each name something waits under (see SavedState.pendingNames), for the save. */
  private pendingNames(): { pendingNames?: Record<string, number> } {
    const names = new Set<string>();
    for (const id of [
      ...this.leftDownByOldName,
      ...this.renameWaits.keys(),
      ...this.stoppedWhileBroken,
    ])
      names.add(id.slice(0, id.indexOf('/')));
    const uids: Record<string, number> = {};
    for (const name of names) {
      const uid = this.db.users.get(name)?.uid;
      if (uid !== undefined) uids[name] = uid;
    }
    return Object.keys(uids).length === 0 ? {} : { pendingNames: uids };
  }

  /**
   * What waited under a name renamed again while no manager ran (a to z with the manager,
   * z to y without) goes on under the name its uid has now: left under z, a daemon its
   * owner had stopped was started under y (an outside review, 43a, F2: two accounts that
   * swapped names with a kill -9 after each step).
   */
  private renamePending(saved: Readonly<Record<string, number>>): void {
    for (const [name, uid] of Object.entries(saved)) {
      if (this.db.users.get(name)?.uid === uid) continue;
      const now = this.accountNow(uid)?.name;
      const allowed = now !== undefined && now !== name && this.mayOwn(now);
      if (allowed) this.moveRenamePending(name, now);
      this.moveStoppedWhileBroken(name, uid, allowed ? now : undefined);
    }
  }

  /**
   * The daemons an account stopped while their files were refused (see stopWhileBroken),
   * under `name`, which is no longer its account's (uid `uid`), found at a takeover: as a
   * rename seen live does (see syncOwners), they are left stopped under the name `now`
   * (allowed), or kept by uid while it has none allowed, or dropped with the account.
   * Kept by name, a rename while no manager ran (or a kill -9 just after one) had such a
   * daemon started once its file was fixed, and a new account given the old name had its
   * own daemon of that name left stopped by the other's stop (an outside review, 79b, F1:
   * 6 of 6; F2: 2 of 2).
   */
  private moveStoppedWhileBroken(name: string, uid: number, now: string | undefined): void {
    const lives = this.accountNow(uid) !== undefined;
    for (const id of [...this.stoppedWhileBroken]) {
      if (!id.startsWith(`${name}/`)) continue;
      this.stoppedWhileBroken.delete(id);
      const daemon = id.slice(name.length + 1);
      if (now !== undefined) this.leaveDown(`${now}/${daemon}`, name);
      else if (lives) this.keepLeftByUid(uid, name, daemon, true, undefined);
      // Its history waits by uid, for the daemon under an allowed name, which takes it as
      // it is noted to (see History): never under the old name, maybe another account's.
      if (lives) this.keepHistoryByUid(id, uid);
      else this.history.forget(id);
    }
  }

  /** The uid of the account of daemon `id`'s user now, if there is one. */
  private uidOfIdOwner(id: string): number | undefined {
    return this.db.users.get(id.slice(0, id.indexOf('/')))?.uid;
  }

  /** `id`'s run may be gone: a daemon of its owner's new name waiting for it is loaded. */
  private renamedRunGone(id: string): void {
    for (const [newId, oldId] of this.renameWaits)
      if (oldId === id && !this.runsOn(id, this.uidOfIdOwner(newId))) {
        this.renameWaits.delete(newId);
        if (this.renameStopsSaid.delete(newId))
          this.history.note(newId, 'stop', `its run under its owner's old name is gone`);
        void this.rescan([newId.slice(0, newId.indexOf('/'))]);
      }
  }

  /** Opens a daemon's log if its output is logged, or stops logging it if not any more. */
  private async openLog(owner: Owner, record: DaemonRecord, fresh = false): Promise<void> {
    if (record.spec.output === 'log') await this.logs.open(owner, record.id, record.spec, fresh);
    else await this.logs.close(record.id);
  }

  /** The keeper attached now, as saved (see SavedState `keeper`): its start time read once. */
  private keeperIdentity(): { pid: number; startTicks: number } | undefined {
    const pid = this.link.keeperPid;
    if (this.keeperSeen?.pid !== pid) {
      const startTicks = readStat(pid)?.startTime;
      this.keeperSeen = startTicks === undefined ? undefined : { pid, startTicks };
    }
    return this.keeperSeen;
  }

  private takeState(clean: boolean, upgrade?: { pid: number }): SavedState {
    const strays = this.processes.strayStops();
    const state = snapshot(
      this.supervisor.daemons.values(),
      {
        runTicks: (run) => this.processes.startTicksOf(run),
        runUid: (run) => this.processes.runUidOf(run),
        stopTimeoutMs: (record) => this.stopTimeoutMs(record),
        runLeaf: (id, run) => {
          const leaf = this.processes.leafOf(run);
          return this.cgroups === undefined || leaf === join(this.cgroups.base, id, String(run))
            ? undefined
            : leaf;
        },
        fileBroken: (id) => this.broken.get(id) !== undefined,
        outputGap: (id) => this.logs.gapOf(id),
        ownerUid: (user) => this.ownerTable.get(user)?.account.uid,
        savedWanted: (record) =>
          this.wantedBeforeDisown.get(record.id) ?? this.supervisor.savedWanted(record),
        waitsForFile: (id) => this.waitingForFile.has(id),
      },
      this.processes.seq,
      clean,
      upgrade,
    );
    // Of those still refused: one whose file was deleted meanwhile is forgotten.
    const stoppedBroken = [...this.stoppedWhileBroken].filter((id) => this.broken.get(id));
    const keeper = this.keeperIdentity();
    const deletedUids = this.deletedStill();
    const boot = bootId();
    return {
      ...state,
      ...(this.marked ? { marked: true as const } : {}),
      ...(keeper === undefined ? {} : { keeper }),
      ...(boot === undefined ? {} : { boot }),
      ...(Object.keys(strays).length === 0 ? {} : { strays }),
      ...(stoppedBroken.length === 0 ? {} : { stoppedBroken }),
      ...(this.leftDownByOldName.size === 0
        ? {}
        : { leftDownByOldName: [...this.leftDownByOldName] }),
      ...(this.leftDownOldNames.size === 0
        ? {}
        : { leftDownOldNames: Object.fromEntries(this.leftDownOldNames) }),
      ...(this.leftDownByUid.size === 0
        ? {}
        : { leftDownByUid: Object.fromEntries(this.leftDownByUid) }),
      ...(this.renameWaits.size === 0 ? {} : { renameWaits: Object.fromEntries(this.renameWaits) }),
      ...(this.lockFiles.size === 0 ? {} : { lockFiles: Object.fromEntries(this.lockFiles) }),
      ...(deletedUids.length === 0 ? {} : { deletedUids }),
      ...this.pendingNames(),
    };
  }

  /**
   * The uids of deletedUids a run of the deleted account is still stopped for; the others
   * are let go of, once the takeover has loaded every daemon.
   */
  private deletedStill(): number[] {
    if (this.deletedUids.size === 0 || this.recovery !== undefined) return [...this.deletedUids];
    const stopping = new Set<number>();
    for (const record of this.supervisor.daemons.values()) {
      if (record.formerUid !== undefined) stopping.add(record.formerUid);
      const { state } = record;
      const uid = this.db.users.get(record.owner)?.uid;
      if (state.kind === 'stopping' && state.former === true && uid !== undefined)
        stopping.add(uid);
    }
    for (const uid of this.deletedUids) if (!stopping.has(uid)) this.deletedUids.delete(uid);
    return [...this.deletedUids];
  }

  /** The stops made under `name` while files were refused (see stopWhileBroken), and their histories, dropped. */
  private dropStoppedWhileBroken(name: string): void {
    for (const id of [...this.stoppedWhileBroken])
      if (id.startsWith(`${name}/`)) {
        this.stoppedWhileBroken.delete(id);
        this.history.forget(id);
      }
  }

  /**
   * Someone stopped a daemon whose file is refused and was never loaded (its mode, its
   * owner): it stays stopped once its file is accepted. That stop was answered "not
   * running" and forgotten, and the fix of the file started it (an outside review, 36a, F3).
   */
  stopWhileBroken(id: string, caller: string): void {
    if (this.stoppedWhileBroken.has(id)) return;
    this.stoppedWhileBroken.add(id);
    this.history.note(
      id,
      'command',
      `${caller} ran dmctl stop while its file was refused: it stays stopped once its file is accepted`,
    );
    this.changed();
  }

  /**
   * The output pipe the keeper kept for a daemon of the account that had the owner's name
   * before: what is in it is dropped, and it is closed for writing before anything starts,
   * so that the new account's daemon of that name gets a pipe of its own. Given this one
   * (its old run had ended), its output was emptied into /dev/null with the old account's.
   * Discarded, not merely unlogged: the new account's daemon of that name opens its log
   * as the start-up loads it, and a pipe only waiting in /dev/null was moved into that log
   * (an outside review found the old run's lines in the new account's log, 4 of 4).
   */
  private dropFormerPipe(id: string, former: number): void {
    this.link.closePipe(id);
    const fd = this.snapshot.fds.get(`out:${id}`);
    if (fd !== undefined) {
      this.log.warn(
        `${id}: the output of the old account's run (uid ${former}) is dropped: the account of that name is gone, or another one now`,
      );
      this.pipes.add(id);
      this.logs.pipe(id, fd, false);
    }
    // Even with no pipe kept: the count of what was dropped of the old account's output,
    // saved with the state, was said in the new account's log at its first run.
    void this.logs.discard(id);
  }

  /**
   * The pipes of runs before a daemon's run now (see DaemonLogs `earlier`), before that
   * run's pipe: written into its log first. One of the account that had the name before,
   * or of a daemon not loaded now, is let go of, what waited in it said.
   */
  private adoptEarlierPipes(): void {
    for (const [name, fd] of this.snapshot.fds) {
      const id = earlierPipeOf(name)?.id;
      if (id === undefined) continue;
      const record = this.supervisor.daemons.get(id);
      const former = this.formerOwners.has(id) || record?.formerUid !== undefined;
      if (record !== undefined && !former) {
        this.logs.addEarlier(id, fd, name);
        continue;
      }
      this.log.warn(
        `${id}: ${this.logs.waitingIn(fd)} bytes a run before its last one wrote are dropped: ${former ? 'its run was the account’s that had the name before' : 'no daemon of that id is loaded'}`,
      );
      this.link.drop(name);
      closeFd(fd);
    }
  }

  /**
   * A daemon's output pipe, from the keeper: pumped into its log for as long as it lasts.
   * A pipe no daemon wants (its output is discarded now, it was forgotten) is emptied
   * until it ends, so no writer ever blocks on it, and the keeper lets go of it.
   */
  private adoptPipe(id: string, fd: number): void {
    this.pipes.add(id);
    const record = this.supervisor.daemons.get(id);
    // The run of the account that had the name before (see DaemonState `former`), still
    // stopping at a takeover: nobody's to log. Logged, a `kill -9` or upgrade while the
    // deleted account's run stopped put what it wrote into the log of the account made
    // again with its name and uid (an outside review, 61a, F1: 14 of 14).
    if (record?.state.kind === 'stopping' && record.state.former === true) {
      this.logs.pipe(id, fd, false);
      this.link.closePipe(id);
      void this.logs.discard(id);
      return;
    }
    if (record === undefined && this.logLeftOver(id, fd)) return;
    const logged = record !== undefined && record.spec.output === 'log';
    this.logs.pipe(id, fd, logged);
    if (!logged) this.link.closePipe(id);
  }

  /**
   * The pipe of a run no config claims any more (its file deleted or broken while no
   * manager was there), being stopped: what it wrote meanwhile, and as it stops, goes
   * into its log, as its owner, until the pipe ends (an outside review: 190-210 lines of
   * each such daemon were lost). Only for an owner still allowed: an account gone, or
   * made again under the same name, is not the one whose daemon wrote it. False when
   * the pipe is to be emptied instead.
   */
  private logLeftOver(id: string, fd: number): boolean {
    const user = id.slice(0, id.indexOf('/'));
    const name = id.slice(user.length + 1);
    const owner = this.ownerTable.get(user);
    if (owner === undefined) return false;
    // The deleted account's run, its owner made again with the name and uid: saved as
    // stopping for the account that had the name before, or being stopped as such a run
    // no config claims, or the owner judged made again since this manager started (outside
    // reviews, 63a, F1, F2: 28-77 lines in the new account's logs; 64a, F1, F2: 16-60).
    const uid = owner.account.uid;
    if (
      this.savedAtStart?.daemons[id]?.former === true ||
      this.processes.stopsFormerOf(id) ||
      this.madeAgain.has(uid) ||
      this.replacedUids.has(uid)
    )
      return false;
    // Its config is gone: the log's place and options are those it had as last read, else
    // the defaults.
    const kept = this.leftOverSpecs.get(id);
    this.leftOverSpecs.delete(id);
    const spec =
      kept?.output === 'log'
        ? kept
        : parseDaemonConfig('start=true\noutput=log\n', `${owner.daemonDir}/${name}.conf`, name)
            .spec;
    if (spec === undefined) return false;
    this.logs.pipe(id, fd, true);
    void this.logs.open(owner, id, spec).then((readiness) => {
      // No log to go to (its home gone): dropped, never kept for a log of that id later.
      if (readiness.ok || this.supervisor.daemons.has(id)) return;
      this.logs.sayDropped(id, readiness.error);
      void this.logs.discard(id);
    });
    this.link.closePipe(id);
    return true;
  }

  /** A daemon's pipe is read to its end: the keeper forgets it, if it is still the one it keeps. */
  private pipeEnded(id: string, inode: number): void {
    this.pipes.delete(id);
    this.link.dropPipe(id, inode);
    // A left-over run's log (see logLeftOver) is done with, and its journal with it.
    if (!this.supervisor.daemons.has(id)) void this.logs.forget(id);
  }

  /**
   * The keeper died (killed): its daemons are orphans now, reparented to this manager (a
   * subreaper), their output pipes still read here until they end. A new keeper takes the
   * control sockets, and each daemon is stopped through it (pidfd and cgroup, adopted) and
   * started afresh if it is wanted up: never two copies.
   */
  private async keeperLost(): Promise<void> {
    const dead = this.link.keeperPid;
    this.processes.failWaits('the keeper of daemons is gone');
    this.log.error(
      `the keeper of daemons (pid ${dead}) died; starting a new one and replacing its daemons`,
    );
    let attached: { link: KeeperLink; snapshot: KeeperSnapshot };
    try {
      attached = await this.newKeeper();
    } catch (error) {
      this.log.error(
        `cannot start a new keeper: ${(error as Error).message}; daemons are not supervised`,
      );
      return;
    }
    this.link = attached.link;
    this.processes.replaceLink(attached.link);
    this.listen(attached.link);
    for (const [user, fd] of Object.entries(this.control.listeningFds()))
      attached.link.store(`ctl:${user}`, fd);
    // The users' locks never lapsed (this manager holds them too): the new keeper keeps them.
    for (const [user, fd] of this.userLocks) attached.link.store(`lock:${user}`, fd);
    this.holdSocketsLock(undefined, false);
    this.sockets.storeAll(attached.link);
    this.notify.storeAll(attached.link);
    this.logs.storeEarlier();
    const { orphans, strays } = this.processes.forgetAll();
    // Runs with no cgroup the dead keeper spawned whose pid it never said (killed right
    // after the fork): its record of them names them (see withUnsavedRuns). Adopted by pid
    // 0, such a run was left running unlisted beside the daemon started again (an outside
    // review, 69a, F4: 1 of 5 cold starts with the keeper killed 170 ms in).
    const recorded = new Map(
      readRunRecords(this.settings.stateDir)
        .filter((run) => run.keeper === dead)
        .map((run) => [run.seq, run]),
    );
    for (const record of this.supervisor.daemons.values()) {
      const { state } = record;
      if (state.kind !== 'running' && state.kind !== 'stopping') continue;
      const { leaf, uid } = orphans.get(state.run) ?? {};
      const unsaid = state.pid > 0 || leaf !== undefined ? undefined : recorded.get(state.run);
      const pid = unsaid?.pid ?? state.pid;
      const startTicks = unsaid?.startTicks ?? orphans.get(state.run)?.startTicks;
      const seq = this.processes.claimNew(record.id, leaf, startTicks, uid);
      // With no cgroup, its main process perhaps gone: what is left of its group, as its uid.
      const groupUid = leaf === undefined ? uid : undefined;
      attached.link.adopt(seq, record.id, pid, startTicks ?? 0, leaf ?? '', groupUid);
      // A `restart=no` task cut short is not run again (see runsAgainAfterUnseenEnd).
      if (state.kind === 'running' && record.wanted === 'up')
        this.supervisor.runsAgainAfterUnseenEnd(record, pid, false);
      const next = record.wanted === 'up' ? 'replacing it' : 'stopping it (it is wanted down)';
      // Its main process ended already (what it left is being stopped): said so, not as
      // a process that outlived the keeper (an outside review, 79a, F1: 25 of 25).
      const what =
        state.kind === 'stopping' && !state.mainAlive
          ? `what pid ${pid} left behind`
          : `pid ${pid}`;
      this.log.warn(`${record.id}: ${what} outlived its keeper; ${next}`);
      // Said in `why` too (an outside review, 69a, F2: a stop and start there with no reason).
      const theirs = !(state.kind === 'stopping' && state.former === true);
      if (theirs) this.note(record, 'stop', `${what} outlived its keeper (which died); ${next}`);
      this.sockets.bindAfterStop(record.id);
      // A stop under way whose SIGTERM was carried out goes on to its own deadline.
      const stop =
        state.kind === 'stopping' && state.termedAt !== undefined && state.killed === false
          ? state
          : undefined;
      // Its main process's end said already: not said again when the new keeper reports it.
      const mainGone =
        state.kind === 'stopping' && !state.mainAlive && state.mainExit !== undefined;
      this.supervisor.resumeStopping(
        record,
        { seq, pid, alive: !mainGone, empty: false },
        stop?.deadline ?? Date.now() + this.stopTimeoutMs(record),
        record.wanted === 'up' ? 'start' : 'stay-stopped',
        {
          former: state.kind === 'stopping' && state.former === true,
          termedAt: stop?.termedAt,
          mainExit: mainGone ? state.mainExit : undefined,
        },
      );
    }
    for (const stray of strays) {
      this.log.warn(
        `${stray.id}: ${stray.unclaimed === undefined ? 'what is left of a run' : `pid ${stray.unclaimed.pid}`}, being stopped as no daemon's, outlived its keeper; its stop goes on`,
      );
      this.processes.adoptStray(stray);
    }
    this.forgetOthersRunRecords();
  }

  /**
   * The runs other keepers recorded (see withUnsavedRuns), gone with them, are let go of
   * once the state saved says what became of them: taken over, stopped, or ended. Kept
   * until then, a kill of this manager meanwhile leaves them for the next one.
   */
  private forgetOthersRunRecords(): void {
    const keeper = this.link.keeperPid;
    void this.state.saved().then((failure) => {
      if (failure === undefined && this.link.keeperPid === keeper)
        removeOthersRunRecords(this.settings.stateDir, keeper);
    });
  }

  private closeQuietly(fd: number): void {
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
  }

  /** The admin's limits for a user: `[settings]` defaults, then `[limits]` lines. */
  private limitsOf(user: string): UserLimits {
    if (this.mode.kind === 'personal') return this.settings.limits;
    return limitsForUser(
      user,
      (group) => membersOf(this.db, group)?.includes(user) ?? false,
      this.settings.limits,
      this.mode.config.limits,
    );
  }

  /**
   * The master config's problems said since the last SIGHUP: each is said when it appears,
   * not again at every change of /etc/passwd (an outside review, 40a, F3: two warnings at
   * each of 52 useradds on the host in a minute).
   */
  private policyWarned = new Set<string>();

  private policyFor(mode: Mode): Policy {
    if (mode.kind === 'personal') return personalPolicy(mode.user);
    const { policy, problems } = resolvePolicy(mode.config, {
      hasUser: (name) => this.db.users.has(name),
      membersOf: (group) => membersOf(this.db, group),
    });
    const said = problems.map(formatProblem);
    for (const line of said) if (!this.policyWarned.has(line)) this.log.warn(line);
    this.policyWarned = new Set(said);
    return policy;
  }

  /**
   * Owners are root (system mode) and every user allowed to run daemons. An owner whose
   * facts are the same keeps its object (a rescan of it under way goes on); returns the
   * owners that are new or changed.
   */
  private syncOwners(): string[] {
    const wanted = new Map<string, Owner>();
    const candidates =
      this.mode.kind === 'personal' ? [this.mode.user] : [ROOT, ...this.currentPolicy.runAs.keys()];
    for (const name of candidates) {
      const account = this.db.users.get(name);
      if (!account || !this.mayOwn(name)) continue;
      wanted.set(name, this.ownerOf(account));
    }
    // An account deleted: saved at once, the history with the state (see saveAllNow). Saved
    // up to a second later, a `kill -9` within it, then a new account given the uid under
    // another name, and the takeover took that for a rename: the deleted account's stops
    // and history went to the new account (an outside review, 52a, F1: 7 of 7 at 0.3 s).
    const deleted = new Map<number, string>();
    // Renamed (`usermod -l`): the same uid under a new name, allowed too. Its daemons are
    // new ones (ids are by name), but the same person stopped them: a daemon left stopped
    // stays so under the new name (an outside review, 19b, 8: started again). Its old name
    // may be another account's now (two accounts that swapped names, a new account given
    // the old name): still a rename of this uid (an outside review, 26b, F1: the daemon each
    // had stopped was started, taken for an account gone).
    const renamedOf = (name: string, before: Owner): string | undefined =>
      this.accountNow(before.account.uid) === undefined
        ? undefined
        : [...wanted.values()].find(
            (owner) =>
              owner.account.uid === before.account.uid &&
              owner.account.name !== name &&
              this.ownerTable.get(owner.account.name)?.account.uid !== before.account.uid,
          )?.account.name;
    const changedOwners = [...this.ownerTable].filter(
      ([name, before]) => wanted.get(name)?.account.uid !== before.account.uid,
    );
    // Every rename of this change at once, before anything is added under a name: read in
    // one change (names swapped or one given up and taken in one write of /etc/passwd, as
    // `vipw` makes; or `usermod`s while the manager stalled), one account's stop, added
    // under its new name, was moved on with the other account's rename, or taken by its
    // deletion: the daemon each had stopped was started, the other's left stopped (an
    // outside review, 58b, F1: 17 of 17; F2: 6 of 6).
    const renames = new Map<string, string>();
    for (const [name, before] of changedOwners) {
      const renamed = renamedOf(name, before);
      if (renamed !== undefined) renames.set(name, renamed);
    }
    const pendingGone = new Map<string, { waits: Record<string, string>; leftDown: string[] }>();
    for (const [name] of changedOwners)
      if (!renames.has(name)) pendingGone.set(name, this.takePending(name));
    this.moveRenamesPending(renames);
    for (const [name, before] of changedOwners) {
      const after = wanted.get(name);
      // The uid another account's now, not this one renamed (see accountsReplaced): gone.
      const lives = this.accountNow(before.account.uid) !== undefined;
      if (!lives) deleted.set(before.account.uid, name);
      const renamed = renames.get(name);
      // An account deleted and made again under the same name (another uid) is someone
      // else: what ran for the old one is stopped, never handed to the new one.
      const nameNow = after === undefined ? '' : ` (the name is uid ${after.account.uid}'s now)`;
      // Under a new name not known yet to be it (see undecidedUids): not a right taken away
      // (an outside review, 60b, F4: "may no longer run daemons" said of a rename).
      const undecidedAs = this.undecidedUids.has(before.account.uid)
        ? this.db.byUid.get(before.account.uid)?.name
        : undefined;
      this.log.warn(
        renamed !== undefined
          ? `${name} is now called ${renamed} (uid ${before.account.uid})${nameNow}; stopping the daemons of the old name (those left stopped stay so under the new one; each is loaded under the new name once its old run is gone)`
          : undecidedAs !== undefined
            ? `${name}: its uid ${before.account.uid} is called ${undecidedAs} now, not known yet to be the same account${nameNow}; stopping the daemons of the old name (what it left is kept)`
            : after === undefined
              ? `${name} may no longer run daemons; stopping theirs`
              : `${name} is another account now (uid ${before.account.uid}, now ${after.account.uid}); stopping the daemons of the old one`,
      );
      // This account's records under the name: not the run of an account that had it before,
      // still being stopped (its record, under the name, is that account's). A new account
      // given a renamed owner's name, itself renamed away, had the owner's stop, pid and
      // history taken for its own, its daemon left stopped for good (an outside review,
      // 48a, F0: 5 of 5).
      const records = [...this.supervisor.daemons.values()].filter(
        (record) =>
          record.owner === name &&
          (record.formerUid === undefined || record.formerUid === before.account.uid),
      );
      // Not one that waits for its file to be accepted (down, but nobody stopped it): taken
      // for left stopped, renamed again before its file was read as the new name's (a run-as
      // of the old name), it stayed stopped for good (an outside review, 77a, F4: 2 of 6).
      const leftDown = records
        .filter((record) => record.wanted === 'down' && !this.waitingForFile.has(record.id))
        .map((record) => record.spec.name);
      // Stopped by their owner while their file was refused, never loaded (see
      // stopWhileBroken): kept by name, a deleted account's stop went to the account given
      // its name, and a renamed one's was lost, the daemon started against it (an outside
      // review, 78b, F1, F2: 5 of 5, 10 of 10). Their account's now, as those loaded.
      const stoppedBroken = [...this.stoppedWhileBroken].filter((id) => id.startsWith(`${name}/`));
      for (const id of stoppedBroken) {
        this.stoppedWhileBroken.delete(id);
        const daemon = id.slice(name.length + 1);
        if (!leftDown.includes(daemon)) leftDown.push(daemon);
        if (renamed === undefined && lives) this.keepHistoryByUid(id, before.account.uid);
      }
      if (renamed !== undefined) {
        for (const daemon of leftDown) this.leaveDown(`${renamed}/${daemon}`, name);
        for (const id of stoppedBroken) {
          if (after !== undefined || this.ownerTable.has(renamed))
            this.keepHistoryByUid(id, before.account.uid);
          else {
            this.history.carry(id, `${renamed}/${id.slice(name.length + 1)}`);
            this.history.forget(id);
          }
        }
        // Their history goes with them: the owner saw no more who stopped their daemon
        // (an outside review, 27b, F3). Where the old name is another account's now, or the
        // new one was another's, kept by uid until the daemon under the new name reads it
        // (see History): carried by name, the other account's rename in the same change
        // carried it on, and that account read it (58b, F1).
        const crossed = after !== undefined || this.ownerTable.has(renamed);
        for (const record of records)
          if (crossed) {
            this.keepHistoryByUid(record.id, before.account.uid);
            this.parkedAtRename.add(record.id);
          } else this.history.carry(record.id, `${renamed}/${record.spec.name}`);
      }
      // Gone under this name, maybe for a moment: a rename done in steps (two accounts
      // swapping names go through a third name, not allowed) was read step by step, and
      // the daemons left stopped were started under the new name (a full run, 26b F1's test).
      else {
        // With what still waits under this name from an earlier rename (see
        // moveRenamesPending): a to z, z to a name not allowed, then to y.
        const pending = pendingGone.get(name) ?? { waits: {}, leftDown: [] };
        const waits = pending.waits;
        leftDown.push(...pending.leftDown);
        // Renamed to a name not allowed (its uid still there): each daemon of theirs with a
        // run waits for that run, back under an allowed name. A new account given this
        // name meanwhile took the run's id for its own daemon, and the renamed account's
        // was loaded at once beside it (an outside review, 47b, F2b: 35 s of two copies).
        if (lives)
          for (const record of records)
            if (record.state.kind === 'running' || record.state.kind === 'stopping')
              waits[record.spec.name] ??= record.id;
        // Kept for a uid still there only: an account deleted is gone for good, and a new
        // account given its uid (useradd gives a freed one back) is someone else. Taken for
        // the rename's last step, it had its daemon left stopped and read the deleted
        // account's history (an outside review, 50a, F1: 3 of 3).
        if ((leftDown.length > 0 || Object.keys(waits).length > 0) && lives)
          this.leftDownByUid.set(before.account.uid, {
            name,
            daemons: leftDown,
            ...(Object.keys(waits).length === 0 ? {} : { waits }),
          });
      }
      const lock = this.userLocks.get(name);
      if (lock !== undefined) {
        this.userLocks.delete(name);
        this.link.drop(`lock:${name}`);
        this.keepLockAs(lock, renamed, before.account.uid);
      }
      this.lockRefusals.delete(name);
      this.lockKeepers.delete(name);
      // Another account now, or none: what the old one's runs write is nobody's to log
      // (their pipes, by daemon id, would go into the log of the new account's daemon).
      const gone = after !== undefined || !this.db.users.has(name);
      for (const record of records)
        if (this.supervisor.daemons.get(record.id) === record) {
          if (gone) {
            // Its wanted state as its owner left it: saved so, a takeover meanwhile took the
            // stop below for the owner's, and a renamed account's daemon stayed stopped for
            // good (an outside review, 40a, F2).
            this.wantedBeforeDisown.set(record.id, record.wanted);
            void this.logs.discard(record.id);
            // Its run, while it stops, is nothing the account of that name now may see or
            // signal (it saw its pid and could kill it: a review).
            record.formerUid = before.account.uid;
            // Renamed to a name not allowed, the account is not gone, nor its history: it is
            // kept by uid (an outside review, 46a, F4: "is gone ... forgotten", then back).
            const away = this.accountNow(before.account.uid)?.name;
            this.note(
              record,
              'stop',
              renamed !== undefined
                ? `its owner is called ${renamed} now (uid ${before.account.uid}): stopped under this name, and loaded under the new one once its processes are gone`
                : away !== undefined && away !== name
                  ? this.undecidedUids.has(before.account.uid)
                    ? `its owner is called ${away} now (uid ${before.account.uid}), not known yet to be the same account (its daemon directory cannot be read): stopped; known so, what its owner left stopped stays so`
                    : `its owner is called ${away} now (uid ${before.account.uid}), a name not allowed to run daemons: stopped; back under an allowed name, what its owner left stopped stays so`
                  : `the account of uid ${before.account.uid} that had this name is gone: stopped, and forgotten once its processes are gone`,
            );
            this.supervisor.disown(record);
          } else {
            this.supervisor.stop(record);
            this.supervisor.forget(record);
          }
          // Still stopping: the record is the old account's until it is gone (see rescan).
          if (this.supervisor.daemons.get(record.id) === record) {
            this.replacedRuns.add(record.id);
            if (renamed !== undefined)
              this.renameWaits.set(`${renamed}/${record.spec.name}`, record.id);
          }
        }
      this.problems.clear(name);
      this.broken.clear(name);
      this.loggedProblems.delete(name);
    }
    // What was kept aside by uid (histories, see History) for an account deleted since,
    // and what it left (see leftDownByUid). Saved at once, the history with the state: kept
    // in memory only, a `kill -9` of the manager seconds later brought the account deleted
    // back, and a new account given its uid got its stops and history (an outside review,
    // 51a, F2: 4 of 4; with the history saved a second later, once in a test).
    for (const id of this.history.idsStartingWith('#')) {
      const uid = Number(id.slice(1, id.indexOf('/')));
      if (this.accountNow(uid) !== undefined) continue;
      this.history.forget(id);
      if (!deleted.has(uid)) deleted.set(uid, '');
    }
    for (const [uid, left] of [...this.leftDownByUid])
      if (this.accountNow(uid) === undefined) {
        this.leftDownByUid.delete(uid);
        deleted.set(uid, deleted.get(uid) || left.name);
      }
    // The histories kept for an account there but not allowed to run daemons (see
    // forgotten), of one deleted since: a new account given its name would have them kept
    // aside by that uid, found by the next account given the uid.
    for (const id of this.history.idsStartingWith('')) {
      const uid = this.history.accountOf(id);
      if (uid === undefined || id.startsWith('#') || this.supervisor.daemons.has(id)) continue;
      if (this.accountNow(uid) !== undefined) continue;
      this.history.forget(id);
      if (!deleted.has(uid)) deleted.set(uid, id.slice(0, id.indexOf('/')));
    }
    // Said by the name the account had when it was deleted, where known: one deleted under
    // a name not allowed was said by its last allowed name, and an admin waiting for the
    // line by the name given to `userdel` waited for good (an outside review, 54a, F5).
    for (const [uid, name] of deleted) {
      const last = this.dbBefore?.byUid.get(uid)?.name;
      if (
        last !== undefined &&
        last !== name &&
        this.accountNow(uid) === undefined &&
        !this.replacedUids.has(uid)
      )
        deleted.set(uid, last);
    }
    for (const [uid, name] of deleted) this.saveDeletion(uid, name);
    const changed: string[] = [];
    for (const [name, owner] of wanted) {
      const before = this.ownerTable.get(name);
      if (before !== undefined && sameOwner(before, owner)) wanted.set(name, before);
      else changed.push(name);
      // A uid back under another name (the last step of a rename done in steps).
      // Or under the same name, allowed again (taken out of [can_run_as] for a while, or
      // renamed to a name not allowed and back): what its owner stopped stays stopped (an
      // outside review, 27b, F4: started again, the stop forgotten).
      // Another uid under a name what an account left is kept by (it was renamed to a name
      // not allowed, or deleted): that history is the other account's, never this one's
      // to see (an outside review, 45b, F4: its pid and its stop, read as this one's).
      // Not while the old account's record stops under the id: its history is root's to
      // read (`why` of it refuses the account of the name now), and goes with the record
      // (see forgotten), before the new account's daemon of that id is loaded.
      // It is kept by uid, for that account's return under an allowed name (47c, F3: its
      // daemons' `why` emptied, who had stopped them forgotten); never this account's own,
      // carried there as it got this name back (see keepHistoryByUid).
      if (before?.account.uid !== owner.account.uid)
        for (const [uid, kept] of this.leftDownByUid)
          if (uid !== owner.account.uid && kept.name === name)
            for (const daemon of new Set([...kept.daemons, ...Object.keys(kept.waits ?? {})]))
              if (this.supervisor.daemons.get(`${name}/${daemon}`)?.formerUid === undefined)
                this.keepHistoryByUid(`${name}/${daemon}`, uid);
      const left = this.leftDownByUid.get(owner.account.uid);
      if (before?.account.uid !== owner.account.uid && left !== undefined) {
        this.leftDownByUid.delete(owner.account.uid);
        for (const daemon of left.daemons) {
          this.leaveDown(`${name}/${daemon}`, left.name);
          if (left.name === name) this.leftDownSameName.add(`${name}/${daemon}`);
        }
        // Loaded once their old runs are gone, as before the detour; their history with them.
        for (const [daemon, oldId] of Object.entries(left.waits ?? {}))
          this.renameWaits.set(`${name}/${daemon}`, oldId);
        // From where it was kept by uid, while its old name was another account's: never
        // from that name then, whose history is the other account's daemon's.
        const nameTaken =
          (this.db.users.get(left.name)?.uid ?? owner.account.uid) !== owner.account.uid;
        const byUid = historyKeptByUid(owner.account.uid, '');
        for (const kept of this.history.idsStartingWith(byUid))
          this.history.merge(kept, `${name}/${kept.slice(byUid.length)}`);
        if (left.name !== name && !nameTaken)
          for (const daemon of new Set([...left.daemons, ...Object.keys(left.waits ?? {})])) {
            this.history.carry(`${left.name}/${daemon}`, `${name}/${daemon}`);
            this.history.forget(`${left.name}/${daemon}`);
          }
        this.log.info(
          left.name === name
            ? `${name} may run daemons again (uid ${owner.account.uid}); the daemons left stopped before stay so`
            : `${left.name} is now called ${name} (uid ${owner.account.uid}); the daemons left stopped under the old name stay so`,
        );
      }
    }
    this.ownerTable.clear();
    for (const [name, owner] of wanted) this.ownerTable.set(name, owner);
    return changed;
  }

  /**
   * Owners that stay (same name, same uid, still allowed) but whose facts changed (their
   * groups, a private group no longer private, their home) are made anew at once, stopping
   * nothing; returns their names.
   */
  private renewOwners(): string[] {
    const renewed: string[] = [];
    for (const [name, before] of this.ownerTable) {
      const account = this.db.users.get(name);
      if (account?.uid !== before.account.uid || !mayRunDaemons(this.currentPolicy, name)) continue;
      const after = this.ownerOf(account);
      if (sameOwner(before, after)) continue;
      this.ownerTable.set(name, after);
      renewed.push(name);
    }
    return renewed;
  }

  /** The owner an account is now (in personal mode, with the users' paths even for root). */
  private ownerOf(account: Account): Owner {
    const settings =
      this.mode.kind === 'personal'
        ? {
            ...this.settings,
            daemonPathDaemonRoot: this.settings.daemonPathDaemon,
            daemonPathLogRoot: this.settings.daemonPathLog,
          }
        : this.settings;
    return makeOwner(account, this.db, settings);
  }

  /**
   * Lets go of the control sockets the keeper kept for users who have none now (deleted,
   * taken out of the master config), and of their files: left in the socket-dir, a file
   * made for a deleted account was listed as the new account's given its uid (an outside
   * review, 51a, F4). Only a file the kernel says the socket is bound at: this manager
   * holds the socket-dir's lock, so nobody else's socket is there.
   */
  private dropKeptControl(): void {
    const bound = this.keptControl.size === 0 ? undefined : unixSocketPaths();
    for (const [user, fd] of this.keptControl) {
      const path = this.socketPathFor(user);
      if (bound?.get(inodeOf(fd)) === path) rmSync(path, { force: true });
      this.link.drop(`ctl:${user}`);
      this.closeQuietly(fd);
    }
    this.keptControl.clear();
    this.removeStaleSockets();
  }

  /**
   * Removes the socket files in the socket-dir of users who have no control socket now:
   * left by a manager killed with its keeper (nothing kept them), a deleted user's file
   * was listed as the account's given its uid (an outside review, 52a, F3: 4 of 4). This
   * manager holds the socket-dir's lock: no other manager's socket is there.
   */
  private removeStaleSockets(): void {
    if (this.mode.kind === 'personal') return;
    const wanted = this.controlUsers();
    let names: string[];
    try {
      names = readdirSync(this.settings.socketDir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.endsWith('.sock') || wanted.has(name.slice(0, -5))) continue;
      const path = join(this.settings.socketDir, name);
      if (this.socketPathFor(name.slice(0, -5)) !== path) continue;
      try {
        if (!lstatSync(path).isSocket()) continue;
        rmSync(path, { force: true });
        this.log.info(`removed ${path}: its user has no control socket now`);
      } catch {
        // Gone meanwhile.
      }
    }
  }

  /** Opens and closes control sockets, one sync at a time (a reload and a change of users may overlap). */
  private syncSockets(): Promise<void> {
    this.socketSync = this.socketSync.then(() => this.syncSocketsNow());
    return this.socketSync;
  }

  /** The users who have a control socket: root, and those the master config names. */
  private controlUsers(): Set<string> {
    const users =
      this.mode.kind === 'personal'
        ? [this.mode.user]
        : [ROOT, ...this.currentPolicy.runAs.keys(), ...this.currentPolicy.manages.keys()];
    return new Set(
      users.filter(
        (user) =>
          this.db.users.has(user) && (user === ROOT || mayUseManager(this.currentPolicy, user)),
      ),
    );
  }

  private async syncSocketsNow(): Promise<void> {
    if (this.handedOver) return;
    const wanted = this.controlUsers();
    // A user gone, or whose uid changed (an account deleted and made again): their socket
    // goes, and a new one is made for the uid they have now.
    for (const user of this.control.users())
      if (!wanted.has(user) || this.control.uidOf(user) !== this.db.users.get(user)?.uid) {
        this.control.close(user);
        this.link.drop(`ctl:${user}`);
      }
    let unixPaths: Map<number, string> | undefined;
    for (const user of wanted) {
      const account = this.db.users.get(user);
      if (!account || this.control.users().includes(user)) continue;
      let kept = this.keptControl.get(user);
      this.keptControl.delete(user);
      // One kept that is bound elsewhere (the socket-dir changed while no manager ran):
      // taken as this one's, the user's dmctl found a stale file or none, and was told the
      // manager was not running (an outside review, 46a, F1). It is made anew here.
      const path = this.socketPathFor(user);
      // Read once for all the kept sockets (an upgrade takes over one per user).
      if (kept !== undefined) unixPaths ??= unixSocketPaths();
      const bound = kept === undefined ? undefined : unixPaths?.get(inodeOf(kept));
      if (kept !== undefined && bound !== undefined && bound !== path) {
        this.log.info(`the control socket of ${user} was kept at ${bound}; making it at ${path}`);
        this.link.drop(`ctl:${user}`);
        this.closeQuietly(kept);
        kept = undefined;
      }
      // Its socket-dir deleted since: whatever file is at its path now is not its socket.
      // Another config's manager that started there and was killed left its own, and
      // nobody could reach this manager after the upgrade (an outside review, 49a, F4).
      if (kept !== undefined && this.socketDirDeleted && fileUid(path) !== undefined) {
        this.log.warn(
          `the control socket of ${user} was in a socket-dir deleted since, and the file at ${path} is another's (left by a manager that ran there meanwhile); making it anew`,
        );
        this.link.drop(`ctl:${user}`);
        this.closeQuietly(kept);
        kept = undefined;
      }
      // One kept for an account made again under the name since (another uid) is the old
      // account's file: the new one could not connect to it. It is made anew.
      const owner = kept === undefined ? undefined : fileUid(path);
      if (kept !== undefined && owner !== account.uid) {
        // Or gone: its socket-dir deleted, maybe made again, while no manager ran (an
        // outside review, 47a, F5, read "made for another uid" of a uid that never changed).
        this.log.warn(
          owner === undefined
            ? `the control socket of ${user} is gone from ${path} (its socket-dir deleted or made again meanwhile); making it anew`
            : `the control socket of ${user} was made for another uid; making it anew`,
        );
        this.link.drop(`ctl:${user}`);
        this.closeQuietly(kept);
        kept = undefined;
      }
      try {
        const fd = await this.control.open(account, kept);
        // The keeper holds a copy: the socket outlives an upgrade or a crash of the manager.
        if (kept === undefined && fd !== undefined) this.link.store(`ctl:${user}`, fd);
      } catch (error) {
        this.log.error(`cannot open the control socket of ${user}: ${(error as Error).message}`);
      }
    }
  }

  /**
   * The socket-dir's lock as the keeper handed it on: this manager's copy (one is enough).
   * One of another socket-dir (the setting changed while no manager ran) is let go.
   */
  private keepSocketsLock(fd: number): void {
    if (!locksSocketDir(fd, this.settings.socketDir)) {
      const held = socketsLockHeld(fd);
      if (held.endsWith(' (deleted)')) this.socketDirDeleted = true;
      this.log.info(
        held.endsWith(' (deleted)')
          ? `the keeper held the lock of a socket-dir deleted since (${held}): let go`
          : `the keeper held the lock of another socket-dir (${held}), the one before socket-dir was changed: let go`,
      );
      this.link.drop(SOCKETS_LOCK);
      closeFd(fd);
    } else if (this.socketsLock === undefined) this.socketsLock = fd;
    else closeFd(fd);
  }

  /**
   * Holds the socket-dir's lock and has the keeper hold it too, unless it does already
   * (`keeperHas`): the one `taken` at a fresh start, the one held already (for a new
   * keeper), or one taken now where neither is (taken over from a version that held none).
   */
  private holdSocketsLock(taken: number | undefined, keeperHas: boolean): void {
    let store = !keeperHas;
    if (taken !== undefined) {
      this.keepSocketsLock(taken);
      store = true;
    }
    if (this.socketsLock === undefined) {
      const lock = this.socketsLockParts?.take();
      if (lock === undefined || lock === 'kept') return;
      if ('refusal' in lock) {
        this.log.warn(`${lock.refusal} (found while taking over: this manager runs on)`);
        return;
      }
      this.socketsLock = lock.fd;
      store = true;
    }
    if (store) this.link.store(SOCKETS_LOCK, this.socketsLock);
  }

  /** Why a user's daemons are not run here (another manager runs them), if they are not. */
  lockRefusal(user: string): string | undefined {
    return this.lockRefusals.get(user);
  }

  /**
   * Takes the user's daemon directory for this manager (flock, as the user), unless it
   * holds it already; the refusal when another manager does. The keeper keeps the lock,
   * so that it lasts as long as the daemons it keeps, across upgrades and crashes.
   * `short`: the refusal in a few words, for a rescan's reply.
   */
  private async lockOwner(owner: Owner): Promise<{ message: string; short: string } | undefined> {
    const user = owner.account.name;
    // Handed over: the new manager takes the locks it has not been given.
    if (this.userLocks.has(user) || this.handedOver) return undefined;
    const locked = await owner.files.lockDir(owner.daemonDir);
    if (!locked.ok) {
      // A `.lock` that is not a regular file of the user's (a FIFO, a directory: their own
      // doing, or root's) cannot be held: their daemons, loaded anyway, could be run by
      // another manager too (an outside review: silently, with a FIFO).
      // A symbolic link too (ELOOP: it is opened without following one): loaded without
      // their lock, another manager loaded them as well (an outside review, 2 of 2).
      const code = locked.error.code;
      // Said as what it is, not as another manager's (an outside review, 40a, F3).
      // A unix socket too (ENXIO: it cannot be opened as a file): loaded with no lock held,
      // and a personal manager ran every daemon again (an outside review, 54a, F4).
      if (code === 'EPERM' || code === 'EISDIR' || code === 'ELOOP' || code === 'ENXIO')
        return {
          message: `the daemons of ${user} are not loaded: ${join(owner.daemonDir, '.lock')} is not a regular file of theirs, so the lock that keeps another manager from running them too cannot be taken (remove it, then rescan)`,
          short: `the daemons of ${user} (their .lock is not a regular file of theirs)`,
        };
      if (locked.error.code !== 'EAGAIN') {
        // No directory (nothing to run), or one that cannot be opened: said by the listing.
        return undefined;
      }
      // Root's manager, or the user's own personal one; gone, the keeper left holding the
      // lock (see keeperHolding), looked for once while the refusal lasts: a rescan of a
      // refused user reads no /proc again.
      const uids = [0, owner.account.uid];
      const holder = managerHolding(locked.error.holderPid, uids);
      let kept = '';
      if (holder === undefined) {
        kept = this.lockKeepers.get(user) ?? this.keeperOfLock(owner, uids);
        this.lockKeepers.set(user, kept);
      }
      return {
        message: `the daemons of ${user} are run by another manager${holder ? ` (pid ${holder})` : ''} (${owner.daemonDir} is locked${kept}): not loaded here`,
        short: `the daemons of ${user} (run by another manager)`,
      };
    }
    if (this.ownerTable.get(user) !== owner || this.handedOver) {
      closeFd(locked.value.fd);
      return undefined;
    }
    this.link.store(`lock:${user}`, locked.value.fd);
    this.userLocks.set(user, locked.value.fd);
    this.noteLockFile(user, locked.value.fd);
    return undefined;
  }

  /** What a lock no manager holds is held by, said after the locked directory: '' if unknown. */
  private keeperOfLock(owner: Owner, uids: readonly number[]): string {
    let exe: string;
    try {
      exe = realpathSync(findBuilt('dm-keeper'));
    } catch {
      return '';
    }
    const keeper = keeperHolding(
      join(owner.daemonDir, '.lock'),
      join(this.settings.stateDir, 'keeper.sock'),
      uids,
      exe,
    );
    if (keeper === undefined) return '';
    const stateDir = dirname(keeper.socket);
    const manager = managerOf(stateDir, uids);
    return manager !== undefined
      ? `; the manager of state directory ${stateDir} holds it (pid ${manager}, through its keeper, pid ${keeper.pid})`
      : `; no manager holds it now: the keeper of another state directory does (pid ${keeper.pid}, ${stateDir}), its daemons left to it until a manager of that state directory takes them over`;
  }

  /**
   * Whether the `.lock` this manager holds for the user is no longer the one in their
   * daemon directory (deleted, or the directory renamed and made again): then it is let
   * go, to be taken again. An outside review renamed the directory: a personal manager
   * took the new one's lock and ran a second copy of every daemon, and root's manager
   * went on reading the new directory, saying nothing had changed.
   */
  private async lockLost(owner: Owner): Promise<boolean> {
    const user = owner.account.name;
    const fd = this.userLocks.get(user);
    if (fd === undefined) return false;
    const path = join(owner.daemonDir, '.lock');
    const now = await owner.files.readChunk(path, 0, 0);
    // Not answering (a hung NFS home) says nothing: the listing will say so. Gone, or a
    // symbolic link in its place, it is not the file locked.
    // A unix socket in its place (ENXIO) too (an outside review, 54a, F4: "nothing changed").
    const gone = ['ENOENT', 'ELOOP', 'ENXIO'];
    if (!now.ok && !gone.includes(now.error.code)) return false;
    let held: { dev: number; ino: number };
    try {
      held = fstatSync(fd);
    } catch {
      return false;
    }
    if (now.ok && now.value.stat.dev === held.dev && now.value.stat.ino === held.ino) return false;
    // Not known yet to be the account that held it (see unknownUids): judged first, now
    // that its directory can be read. Locked again, the new file was noted as the
    // account's own and the judgement found nothing changed.
    if (this.lockFiles.get(owner.account.uid)?.unknown === true) {
      this.judgeAgain();
      return false;
    }
    this.log.warn(
      `${path} is not the file this manager locked for ${user} any more (deleted, or the directory replaced): locking it again`,
    );
    this.userLocks.delete(user);
    this.link.drop(`lock:${user}`);
    closeFd(fd);
    return true;
  }

  /** This manager's daemons of a user whose directory another manager took: stopped, and forgotten. */
  private stopCopies(user: string, why: string): void {
    for (const record of [...this.supervisor.daemons.values()])
      if (record.owner === user) {
        this.log.warn(`${record.id}: ${why}; stopping this manager's copy`);
        this.supervisor.stop(record);
        this.supervisor.forget(record);
      }
  }

  /**
   * Processes of `user`'s daemons left in this manager's cgroups by its previous run, gone
   * with its keeper (killed together), when the user is loaded only after the start (their
   * lock was another manager's then, a personal one's): left alone, they ran beside the
   * daemons started again (an outside review: 40 of 40 doubled). This manager holding the
   * user's lock proves nothing else runs that directory's daemons. Another config's cgroups
   * are not looked into: its manager may be alive and run the user's daemons from another
   * directory (root's own always are), and a first version that looked stopped them.
   * By daemon id, each cgroup with members.
   */
  private leftBehind(user: string): Map<string, string[]> {
    const found = new Map<string, string[]>();
    if (!this.cgroups) return found;
    // This manager's own runs (a user taken out and back in while theirs still stop).
    const known = this.processes.knownCgroups();
    for (const daemon of cgroupChildren(join(this.cgroups.base, user))) {
      const id = `${user}/${basename(daemon)}`;
      for (const cgroup of [...cgroupChildren(daemon), daemon])
        if (!known.has(cgroup) && cgroupMembers(cgroup).length > 0)
          found.set(id, [...(found.get(id) ?? []), cgroup]);
    }
    return found;
  }

  /**
   * At a takeover, what survives in the cgroup of a daemon nothing claimed: no daemon
   * loaded for it, no run of the keeper's (its keeper killed with the manager): its file
   * deleted, or its user no longer allowed, while no manager ran. It ran on unseen, past
   * the manager's SIGTERM (found hunting an outside review's finding, 33a, F1).
   */
  private endUnclaimedCgroups(): void {
    if (!this.cgroups) return;
    for (const userDir of cgroupChildren(this.cgroups.base)) {
      const user = basename(userDir);
      if (this.lockRefusals.has(user)) continue;
      for (const [id, cgroups] of this.leftBehind(user)) {
        if (this.supervisor.daemons.has(id)) continue;
        for (const cgroup of cgroups)
          this.endLeftBehind(id, cgroup, 'no config claims it', this.savedStopIn(id, cgroup));
      }
    }
  }

  /**
   * Stops what survives of a daemon from this manager's previous run; the daemon itself
   * starts once it is gone, if it is to run.
   */
  private replaceLeftBehind(record: DaemonRecord, cgroups: readonly string[]): boolean {
    const [first, ...rest] = cgroups;
    for (const cgroup of rest) this.endLeftBehind(record.id, cgroup, 'a copy');
    if (first === undefined) return false;
    this.log.warn(
      `${record.id}: processes in ${first} survive from a manager that is gone; replacing them`,
    );
    const seq = this.processes.claimNew(record.id, first);
    this.link.adopt(seq, record.id, 0, 0, first);
    this.sockets.bindAfterStop(record.id);
    // A stop of that run begun before goes on to its deadline, its SIGTERM not sent again.
    const begun = this.savedStopIn(record.id, first);
    const former = this.formerOwners.has(record.id);
    // A `restart=no` task cut short is not run again (see runsAgainAfterUnseenEnd): its
    // run survives its keeper, and run again, its work was done twice. Found hunting an
    // outside review's finding (69a, F3); the old account's run, or a stop under way, is
    // no run of this task's cut short.
    const again =
      record.spec.autostart &&
      (former || begun !== undefined || this.supervisor.runsAgainAfterUnseenEnd(record, 0, false));
    // Its total counts from the start that follows, not from a start saved of the old run.
    if (again) record.startedAt = undefined;
    this.supervisor.resumeStopping(
      record,
      { seq, pid: 0, alive: false, empty: false },
      begun?.deadline ?? Date.now() + this.stopTimeoutMs(record),
      again ? 'start' : 'stay-stopped',
      // The old account's (see endLeftBehind): nothing of the new one's to signal.
      { former, termedAt: strayTermedAt(begun) },
    );
    if (again) record.wanted = 'up';
    return true;
  }

  /**
   * The stop of the daemon's saved run under way, if `cgroup` is that run's and its SIGTERM
   * was carried out: it goes on to its deadline (its file deleted and its keeper killed
   * too, it was sent a second SIGTERM and the admin's stop-timeout: an outside review, 37a, F1).
   */
  private savedStopIn(id: string, cgroup: string): StrayStop | undefined {
    if (this.cgroups === undefined) return undefined;
    const base = this.cgroups.base;
    // A run no daemon wanted, being stopped (its file deleted, its owner renamed away):
    // not looked for here, it was stopped again, a second SIGTERM and a new deadline, at
    // each kill -9 of the manager and its keeper (an outside review, 47a, F2).
    for (const [seq, stop] of Object.entries(this.savedAtStart?.strays ?? {}))
      if ((stop.leaf ?? join(base, id, seq)) === cgroup)
        return { since: stop.since, deadline: stop.deadline };
    const saved = this.savedAtStart?.daemons[id];
    if (saved?.state !== 'stopping' || saved.termedAt === undefined) return undefined;
    if (saved.deadline === undefined) return undefined;
    // A run taken back from such survivors is in the cgroup they were found in (47a, F1).
    if (cgroup !== (saved.leaf ?? join(base, id, String(saved.run)))) return undefined;
    return { since: saved.termedAt, deadline: saved.killed ? Date.now() : saved.deadline };
  }

  /**
   * A daemon loaded again (its file back, its user allowed again) while its run, claimed by
   * no config at a takeover, is still being stopped: the stop is its own again, shown and
   * waited for, and the daemon starts once that run is gone, as when the manager saw it
   * all (an outside review, 36a, F4: two copies at once, the old one unseen).
   */
  private takeBackStray(record: DaemonRecord): boolean {
    const stray = this.processes.claimStray(record.id);
    if (stray === undefined) return false;
    const { seq, pid, former, stop } = stray;
    // Its main process may be gone already (its end said to no one): the stop then waits
    // for the rest of the run only.
    const ticks = this.processes.startTicksOf(seq);
    const stat = pid > 0 ? readStat(pid) : undefined;
    const alive =
      stat !== undefined && stat.state !== 'Z' && (ticks === undefined || stat.startTime === ticks);
    const text = `its run before (${pid > 0 ? `pid ${pid}` : `run ${seq}`}), which no config claimed at the takeover, is still being stopped: ${record.spec.autostart ? 'it starts once that run is gone' : 'it stays stopped'}`;
    this.log.info(
      `${record.id}: ${text}${former ? ` (it ran for ${this.formerAccount(record.id)})` : ''}`,
    );
    // The old account's run is nothing of the new one's to see (see Recovery.replaceFormer).
    if (!former) this.history.note(record.id, 'config', text);
    // Its sockets are bound once the old run, which may hold them, is gone.
    this.sockets.bindAfterStop(record.id);
    if (record.spec.autostart) {
      record.wanted = 'up';
      record.startedAt = undefined;
    }
    this.supervisor.resumeStopping(
      record,
      { seq, pid, alive, empty: false },
      stop.deadline,
      record.spec.autostart ? 'start' : 'stay-stopped',
      { termedAt: strayTermedAt(stop), former },
    );
    return true;
  }

  /**
   * The account that had daemon `id`'s owner name before (uid `uid`, or as noted at the
   * takeover), said by uid and its name now: "the account that had this name before",
   * said of an account's own run after it was renamed, read as someone else's (an outside
   * review, 77a, F5).
   */
  private formerAccount(id: string, uid = this.formerOwners.get(id)): string {
    if (uid === undefined) return 'the account that had this name before';
    const now = this.accountNow(uid)?.name;
    const user = id.slice(0, id.indexOf('/'));
    return now === undefined
      ? `the account that had this name before (uid ${uid}, deleted since)`
      : now === user
        ? `the account of uid ${uid} deleted since, and made again with this name`
        : `the account that had this name before (uid ${uid}, called ${now} now)`;
  }

  /** Stops the processes in a cgroup of a manager that is gone (a stop `begun` before goes on). */
  private endLeftBehind(id: string, cgroup: string, why: string, begun?: StrayStop): void {
    const formerUid = this.formerOwners.get(id);
    this.log.warn(
      `${id}: processes in ${cgroup} survive from a manager that is gone (${formerUid === undefined ? why : `they ran for ${this.formerAccount(id, formerUid)}`}); ${begun === undefined ? 'stopping them' : `their stop goes on (sent SIGTERM ${formatElapsed(Math.max(0, Date.now() - begun.since))} ago)`}`,
    );
    const seq = this.processes.claimNew(id, cgroup);
    this.link.adopt(seq, id, 0, 0, cgroup);
    // Of the account that had this name before (see noteFormerOwners): a new account
    // given the name, its daemon loaded meanwhile, could signal it through its daemon's
    // `kill` (an outside review, 45b, F3: after a kill -9 of the manager and its keeper).
    // The account that had the name before: with its own stop_timeout, as saved (47b, F2c).
    const former = this.formerOwners.get(id);
    const saved = this.savedAtStart?.daemons[id];
    const own =
      former !== undefined && saved?.ownerUid === former ? saved.stopTimeoutMs : undefined;
    this.processes.endStray(seq, own ?? this.settings.stopTimeoutMs, begun, {
      pid: 0,
      former: former !== undefined,
    });
  }

  /**
   * A user seen before their home exists is read again a few times (1, 3, 10 and 30 s
   * later): `useradd -m` writes /etc/passwd before it makes the home, and the manager,
   * which reads the accounts as soon as /etc/passwd changes, found no home to make
   * `~/.daemon-manager` in, and said so until the next rescan. The same for a home whose
   * file system did not answer in time (an outside review, 19b: a home slow at the
   * account's creation was never read once it answered). A home still missing (or slow)
   * after that waits for a rescan (no timer runs for ever).
   */
  private awaitHome(user: string, homeGone: boolean): void {
    const waiting = this.homeWaits.get(user);
    if (!homeGone) {
      if (waiting !== undefined) clearTimeout(waiting.timer);
      this.homeWaits.delete(user);
      return;
    }
    if (waiting === undefined) this.lookLater(user, 0);
  }

  /**
   * The look `step` (see awaitHome) at a user's directory, after `delayMs` (by default the
   * step's own delay). Daemons taken over while their directory could not be read wait for
   * it (their logs with it: one whose pipe fills waits on it), so theirs are looked at on,
   * every 10 s. They stayed blocked until a rescan (an outside review, 20c), then up to a
   * minute after the directory was back (21a).
   */
  private lookLater(user: string, step: number, delayMs?: number): void {
    const unread = this.keptUnread.has(user) ? UNREAD_LOOK_MS : undefined;
    const delay = delayMs ?? Math.min(HOME_LOOKS_MS[step] ?? Infinity, unread ?? Infinity);
    if (delay === Infinity) {
      this.homeWaits.delete(user);
      return;
    }
    const timer = setTimeout(() => {
      if (this.homeWaits.get(user)?.timer !== timer || this.handedOver) return;
      if (!this.ownerTable.has(user)) {
        this.homeWaits.delete(user);
        return;
      }
      // Kept while this look's rescan runs, so that it does not start the looks again. What
      // it starts is the user's doing (their directory made unreadable, then readable; their
      // `.lock` a FIFO, then removed): it takes from their start budget (an outside review,
      // 40a, F1: 2,583-3,000 starts a minute of new files that way, none counted).
      void this.rescan([user], user, true).then(() => {
        if (this.homeWaits.get(user)?.timer === timer) this.lookLater(user, step + 1);
      });
    }, delay);
    timer.unref();
    this.homeWaits.set(user, { timer, step });
  }

  /**
   * A call into the files of `uid` that passed its deadline has returned: their file
   * system answers again, and a look waiting for it is made now, not at its time (up to
   * a minute later, their daemons' pipes unread meanwhile: an outside review, 21a).
   */
  private lookNow(uid: number): void {
    for (const [user, waiting] of this.homeWaits)
      if (this.ownerTable.get(user)?.account.uid === uid) {
        this.log.info(`${user}: their files answer again; looking at them now`);
        clearTimeout(waiting.timer);
        this.lookLater(user, waiting.step, 0);
      }
  }

  private readonly homeWaits = new Map<string, { timer: NodeJS.Timeout; step: number }>();
  /** Stops `lookNow` being called. */
  private readonly stopLookingNow: () => void;

  /** At a takeover, the configs (as last read) of runs no file claims any more, for their last lines. */
  private readonly leftOverSpecs = new Map<string, DaemonSpec>();

  /** Users whose daemons were taken over while their directory could not be read (see unreadConfigs). */
  private readonly keptUnread = new Set<string>();

  /** Records whose history was kept by uid at a rename, their old name another's (see forgotten). */
  private readonly parkedAtRename = new Set<string>();

  /** Daemons (by their new id) their owner left stopped under the name they had before a rename. */
  private readonly leftDownByOldName = new Set<string>();
  /** Daemons stopped while their file was refused and never loaded (see stopWhileBroken). */
  private readonly stoppedWhileBroken = new Set<string>();

  /** Of those left stopped, the daemons of a name allowed again, not renamed (see leftDownText). */
  private readonly leftDownSameName = new Set<string>();

  /**
   * Of those left stopped under an old name, that name. Unsaid, an account renamed twice
   * in a moment (a to c, b to a, c to b) had `why` say "left stopped under its owner's old
   * name" twice, as a line doubled (an outside review, 78b, F3).
   */
  private readonly leftDownOldNames = new Map<string, string>();

  /** Daemon `id` (of a renamed account) was left stopped under `oldName` (if known). */
  private leaveDown(id: string, oldName: string | undefined): void {
    this.leftDownByOldName.add(id);
    if (oldName === undefined) this.leftDownOldNames.delete(id);
    else this.leftDownOldNames.set(id, oldName);
  }

  /** Why a daemon left stopped by its owner stays so, said as it happened. */
  private leftDownText(id: string): string {
    const oldName = this.leftDownOldNames.get(id);
    this.leftDownOldNames.delete(id);
    if (this.leftDownSameName.delete(id))
      return 'left stopped by its owner before they could no longer run daemons: stays stopped';
    return oldName === undefined
      ? "left stopped under its owner's old name: stays stopped"
      : `left stopped under its owner's old name ${oldName}: stays stopped`;
  }

  /**
   * The daemons an owner had left stopped, by uid, when its name went or was no longer
   * allowed: the uid back under an allowed name (another, the rename's last step; or the
   * same, allowed again) finds them stopped. Saved with the state: kept only while the
   * manager ran, a kill -9 or an upgrade meanwhile had them started when the uid came back
   * (an outside review, 42b, F5). `waits`: what waited for an old run (see renameWaits).
   */
  private readonly leftDownByUid = new Map<
    number,
    { name: string; daemons: string[]; waits?: Record<string, string> }
  >();

  /** The lock the keeper kept was of a socket-dir deleted since (see keepSocketsLock). */
  private socketDirDeleted = false;

  /**
   * Daemons of the saved state not loaded at the start: their directory could not be read
   * and no copy of their config was kept. Loaded once it can be read, they are as saved
   * (wanted down, a task that ended), not new: a daemon its owner had stopped was started,
   * a one-shot task run again (an outside review, 26b, F2).
   */
  private readonly savedUnread = new Map<string, SavedDaemon>();

  /**
   * Daemons whose run went on at a takeover, its config not known and its file refused
   * (see unknownRun): once that run ends they cannot start, and they start when their
   * file is accepted, unless someone starts or stops them meanwhile. Left down, a fixed
   * file never brought it back (an outside review, 27a, F1).
   */
  private readonly waitingForFile = new Set<string>();

  /**
   * Daemons being introduced at a takeover, their file refused and the config of their run
   * not known: a run that ended meanwhile is not respawned with that file (see respawnHeld).
   */
  private readonly refusedAtTakeover = new Set<string>();

  /** What survives of a user's daemons from a manager that is gone, not yet dealt with. */
  private readonly unclaimedLeft = new Map<string, Map<string, string[]>>();

  /** Scans one user's daemons; false when their rights changed meanwhile (nothing done). */
  /**
   * `automatic`: a look nobody asked for (see awaitHome): a file changed while it could not
   * be read is taken, not applied to a running daemon by a restart (an outside review, 21a:
   * the same edit with the directory readable waits for a rescan).
   */
  private async scanOwner(owner: Owner, tally: RescanTally, automatic = false): Promise<boolean> {
    const user = owner.account.name;
    const dirs = await createOwnerDirs(owner);
    const dirProblems = dirs.problems;
    const lost = await this.lockLost(owner);
    const fresh = !this.userLocks.has(user);
    const refused = await this.lockOwner(owner);
    if (refused !== undefined) {
      const refusal = refused.message;
      if (lost) this.stopCopies(user, refusal);
      if (this.lockRefusals.get(user) !== refusal) this.log.warn(refusal);
      this.lockRefusals.set(user, refusal);
      this.problems.clear(user);
      this.problems.set(user, owner.daemonDir, [
        { file: owner.daemonDir, severity: 'error', message: refusal },
      ]);
      tally.refuse(refused.short);
      // Looked at again (1, 3, 10 and 30 s): a lock held for a moment (the keeper letting
      // go of its copy for an account renamed just then) left them unloaded until a
      // rescan (an outside review, 27b, F5).
      this.awaitHome(user, true);
      return true;
    }
    this.lockRefusals.delete(user);
    this.lockKeepers.delete(user);
    // At the start, Recovery does it. Kept until a scan of the user ends: one called off
    // half-way (their rights changed) is done again.
    const left =
      fresh && this.recovery === undefined
        ? this.leftBehind(user)
        : (this.unclaimedLeft.get(user) ?? new Map<string, string[]>());
    this.unclaimedLeft.set(user, left);
    // Judged in slices: another user's request or respawn waits one slice, not the rescan.
    const slicer = new Slicer();
    // Past the count, the files of the daemons loaded are read first; at start, of those
    // the previous manager ran.
    const loadedNames = new Set<string>();
    for (const record of this.supervisor.daemons.values())
      if (record.owner === user) loadedNames.add(record.spec.name);
    for (const name of this.recovery?.savedNames(user) ?? [])
      if (loadedNames.size < MAX_DAEMONS_PER_USER) loadedNames.add(name);
    const listing = await scanDaemonDir(
      owner,
      slicer,
      (files) => this.log.debug(`rescan of ${user}: ${files} config files read; judging them`),
      [...loadedNames],
    );
    tally.cost += listing.cost;
    // A listing that failed, or was cut short, says nothing of deleted files: running
    // daemons stay until the directory can be read again (an NFS home back, a mode fixed).
    // Nor does a directory missing where it could not be made (a home not mounted yet: the
    // bare mount point, or nothing at its path): read as empty, it stopped every daemon of
    // its user at a takeover, and wrote their configs as last read as none (an outside
    // review, 20c). One the manager could make again (only it gone) is empty.
    const complete =
      !listing.failed && !listing.partial && !(listing.missing && dirProblems.length > 0);
    // Read again after its daemons were taken over unread: said (why said "until it can
    // be" for good: an outside review, 21a).
    if (complete && this.keptUnread.has(user))
      for (const record of this.supervisor.daemons.values())
        if (record.owner === user)
          this.history.note(record.id, 'config', 'its config file can be read again');
    // At the start, a listing that failed: looked at again until it can be read (their
    // daemons, taken over or not, come back without a rescan: an outside review, 21a).
    if (!complete && this.recovery !== undefined) this.keptUnread.add(user);
    // At a takeover, the configs as last read before this listing replaces them: the one
    // a run was started with, for a run whose file is refused now (see runConfigOf).
    const copiesBefore =
      this.recovery !== undefined ? await this.configCopies.read(user, owner.account.uid) : [];
    if (complete) {
      // At a takeover, the config a run no file claims any more had (its file deleted
      // while no manager ran): its last lines go into its log as that config says (with
      // its time stamps: an outside review, 20c, found them without). Read before the
      // copies are written anew without it.
      if (this.recovery !== undefined) {
        const listed = new Set(listing.configs.map((loaded) => loaded.name));
        const unclaimed = this.recovery.heldNames(user).filter((name) => !listed.has(name));
        if (unclaimed.length > 0)
          for (const copy of copiesBefore)
            if (unclaimed.includes(copy.name) && copy.spec !== undefined)
              this.leftOverSpecs.set(`${user}/${copy.name}`, copy.spec);
      }
      tally.cost += this.configCopies.keep(
        user,
        owner.account.uid,
        this.copiesToKeep(user, listing.configs, copiesBefore),
      );
      this.keptUnread.delete(user);
    }
    // At the start, those the previous manager ran go on with their configs as last read.
    const configs =
      complete || this.recovery === undefined
        ? listing.configs
        : [
            ...listing.configs,
            ...(await this.unreadConfigs(
              owner,
              listing,
              listing.problems[0]?.message ?? dirProblems[0]?.message ?? 'cannot list directory',
            )),
          ];
    // And a directory that could not be made or read at all (a home at mode 000, or
    // root's, while the account is set up): it was never read again until a rescan, the
    // user's daemons down (outside reviews 22a, F5, and 22c, 5).
    this.awaitHome(
      user,
      dirs.homeGone ||
        dirs.unanswered ||
        dirProblems.length > 0 ||
        listing.failed ||
        this.keptUnread.has(user),
    );
    // Logs are opened (as the owner) before a daemon may start: its output is never lost.
    await Promise.all(
      configs.map((loaded) =>
        loaded.spec?.output === 'log'
          ? this.logs.open(owner, `${user}/${loaded.name}`, loaded.spec)
          : undefined,
      ),
    );
    // The user's rights may have changed while their files were read.
    if (this.ownerTable.get(user) !== owner) return false;
    this.problems.clear(user);
    this.problems.set(user, owner.daemonDir, [...dirProblems, ...listing.problems]);
    // Said to whoever asked: "nothing changed" hid a directory that could not be read
    // (an outside review, out of descriptors).
    if (listing.failed)
      tally.refuse(
        `the files of ${user} (${listing.problems[0]?.message ?? 'cannot list directory'}: ${owner.daemonDir})`,
      );
    if (listing.missing && !complete)
      tally.refuse(
        `the files of ${user} (${dirProblems[0]?.message ?? 'cannot create directory'}: ${owner.daemonDir})`,
      );
    if (listing.badNames > 0)
      tally.refuse(`${listing.badNames} *.conf files of ${user} (names a daemon cannot have)`);
    if (listing.ignored > 0)
      tally.refuse(
        `${listing.ignored} *.conf files of ${user} (past the ${MAX_DAEMONS_PER_USER} daemons a user may have)`,
      );
    if (complete) this.listedAtStart?.add(user);
    const present = new Set(configs.map((loaded) => loaded.name));
    // Read whole: a saved daemon whose file is not there any more is gone.
    if (complete)
      for (const id of [...this.savedUnread.keys()])
        if (id.startsWith(`${user}/`) && !present.has(id.slice(user.length + 1)))
          this.savedUnread.delete(id);
    // A file that never loaded, deleted: its daemon and its history go (an outside review
    // filled the history's 1 MiB with names that came and went, and every save with it).
    if (complete)
      for (const id of this.broken.keepOnly(user, present))
        if (!this.supervisor.daemons.has(id)) {
          this.history.forget(id);
          tally.remove(id);
        }
    for (const record of [...this.supervisor.daemons.values()])
      if (record.owner === user && complete && !present.has(record.spec.name)) {
        if (!record.orphaned) tally.remove(record.id);
        this.supervisor.forget(record);
      }
    // A daemon whose file went runs on until it stops (as in the original), and counts:
    // renaming every file and rescanning, again and again, ran 1,000 more each time.
    let held = 0;
    for (const record of this.supervisor.daemons.values()) if (record.owner === user) held++;
    const gone =
      held -
      configs.filter((loaded) => this.supervisor.daemons.has(`${user}/${loaded.name}`)).length;
    let overCap = 0;
    for (const loaded of configs) {
      await slicer.pause();
      // The user's rights may have changed during the pause: the next attempt applies them.
      if (this.ownerTable.get(user) !== owner) return false;
      const { name } = loaded;
      const id = `${user}/${name}`;
      const existing = this.supervisor.daemons.get(id);
      // The old account's daemon of that name, stopping: given the new account's file, it
      // went on as theirs, with its history and last exit, left down. (One started again
      // by hand meanwhile is taken as it is, as before.)
      if (existing?.state.kind === 'stopping' && this.replacedRuns.has(id)) continue;
      this.replacedRuns.delete(id);
      // Its owner renamed: loaded once its run under the old name is gone (see renameWaits).
      const oldId = this.renameWaits.get(id);
      if (oldId !== undefined && existing === undefined && this.runsOn(oldId, owner.account.uid))
        continue;
      this.renameWaits.delete(id);
      const over =
        existing === undefined &&
        loaded.spec !== undefined &&
        this.recovery === undefined &&
        held >= MAX_DAEMONS_PER_USER;
      const problems = over
        ? [...this.judged(user, loaded), capProblem(loaded.file, gone)]
        : this.judged(user, loaded);
      this.problems.set(user, loaded.file, problems);
      // A file that breaks keeps its daemon listed, as broken, with why.
      this.broken.note(user, name, loaded.file, problems);
      // Listed once: as refused (the problems say why), not also as added or changed.
      const refused = hasErrors(problems);
      if (refused && !over) tally.refuse(id);
      this.noteConfigProblem(id, problems);
      if (over) {
        overCap++;
        continue;
      }
      if (loaded.spec === undefined) {
        // Taking over (an upgrade, a crash) a daemon whose file is broken, or refused for
        // what the file is (its mode, its owner): it goes on with the config it was running
        // with, as it would have here: saved with the state, or the one its run was started
        // with among the configs kept. Its run was stopped when the file broke (or was made
        // world-writable) after the last save, the config kept at hand (an outside review,
        // 32b, F4).
        const saved = existing === undefined ? this.recovery?.lastGoodSpec(id) : undefined;
        const ran =
          existing === undefined && saved === undefined
            ? this.runConfigOf(id, copiesBefore, user, false)
            : undefined;
        // With no run (cooling down, stopped), its config as last read: it was left broken,
        // wanted down, where a live manager goes on with it (an outside review, 34a, F2).
        const read =
          existing === undefined && saved === undefined && ran === undefined
            ? this.lastReadConfigOf(id, copiesBefore)
            : undefined;
        const kept = saved ?? ran?.spec ?? read?.spec;
        if (kept !== undefined) {
          // Its log opened first: what it wrote from the takeover on was read and dropped
          // (an outside review, 20c: 25 s of lines, nothing said).
          if (kept.output === 'log') await this.logs.open(owner, id, kept);
          if (this.ownerTable.get(user) !== owner) return false;
          this.configFiles.set(id, loaded.file);
          const error = problems.find((problem) => problem.severity === 'error');
          const cannot = `its config file cannot be used now (${error === undefined ? 'see its problems' : formatProblem(error)})`;
          const record = newRecord(user, kept, ran?.source ?? read?.source);
          // What root took back meanwhile (a port, a user= grant), judged on that config.
          const refusal = this.runRefusalOf(user, loaded.file, kept);
          if ((ran ?? read) !== undefined && refusal === undefined) {
            const text = `${cannot}: it goes on with ${ran === undefined ? 'its config as last read' : 'the config it was started with'}`;
            this.log.warn(`${id}: ${text}`);
            this.history.note(id, 'config', text);
          }
          this.recovery?.introduce(record);
          if (
            refusal === undefined &&
            record.state.kind === 'coolingdown' &&
            record.wanted === 'up'
          )
            this.sockets.retryWhileCooling(owner, record);
          // Claimed, and stopped: not claimed, a run with its keeper killed too survived,
          // unseen, as what root took back (an outside review, 33a, F1), and one stopped as
          // claimed by no config was said to have no config saved (F3).
          if (refusal !== undefined) {
            const text = `${cannot}, and the config its run was started with is refused now (${refusal}): its run is stopped`;
            this.log.warn(`${id}: ${text}`);
            this.history.note(id, 'config', text);
            this.recovery?.cancelStart(record);
            this.supervisor.stop(record);
            void this.sockets.release(id, owner);
          }
        } else if (existing !== undefined && existing.state.kind !== 'stopped') {
          // Going on with the config it was started with: what root takes back (a port,
          // a user= grant) is judged on that config, as for a file that loads. A port
          // taken back by a SIGHUP was kept for the life of the run (an outside review,
          // 33a, F4).
          const refusal = this.runRefusalOf(user, loaded.file, existing.spec);
          if (refusal !== undefined && existing.wanted === 'up') {
            const text = `its config file cannot be used, and the config it runs with is refused now (${refusal}): stopping it`;
            this.log.warn(`${id}: ${text}`);
            this.history.note(id, 'config', text);
            this.supervisor.stop(existing);
            void this.sockets.release(id, owner);
          }
        }
        continue;
      }
      // Root took back a port (a reload), or the owner left listen_group's group.
      // Judged on what its run was given when its file says something else (read and not
      // applied): stopped for a port or group only the file named (an outside review,
      // 24a, F2 and F3).
      if (
        existing !== undefined &&
        this.sockets.inUse(existing) &&
        (runsOldConfig(existing) || existing.source !== loaded.source || refused
          ? this.sockets.runRefusal(existing, (gid) => this.isMember(user, gid)) !== undefined
          : this.sockets.refused(user, loaded))
      ) {
        this.log.warn(`${id}: its sockets are no longer allowed; stopping it`);
        this.supervisor.stop(existing);
        void this.sockets.release(id, owner);
      }
      // A start a user's rescan makes of a new daemon is one they asked for too (an outside
      // review, 39b, F1: 200 new files, rescanned and deleted in a loop, made 3,000-4,200
      // starts a minute). Past their budget it is not loaded: a later rescan loads it.
      if (
        existing === undefined &&
        this.recovery === undefined &&
        !refused &&
        loaded.spec?.autostart === true &&
        !this.leftDownByOldName.has(id) &&
        !this.stoppedWhileBroken.has(id) &&
        !this.takeStartFor(tally)
      ) {
        tally.holdBack(id, 'new');
        // Said where its owner looks too: held back by a look nobody asked for, it was
        // nowhere, `unknown daemon` (an outside review, 42a, F2).
        this.problems.set(user, loaded.file, [
          ...problems,
          {
            file: loaded.file,
            severity: 'warning',
            message:
              'not loaded: the start budget held its start back; a rescan loads it once the budget allows (dmctl rescan says when)',
          },
        ]);
        continue;
      }
      this.configFiles.set(id, loaded.file);
      if (existing === undefined) {
        held++;
        // Taking over a run whose file was changed into one refused now (a port, a user or
        // a group root does not give): it goes on with the config it was started with, as
        // a live manager leaves it (an outside review, 25a, F1: stopped at the takeover).
        const runConfig = refused ? this.runConfigOf(id, copiesBefore, user) : undefined;
        // Asked before the run is introduced (the recovery lets go of it then).
        const liveRun = this.recovery?.hasLiveRun(id) === true;
        const record =
          runConfig?.spec !== undefined
            ? newRecord(user, runConfig.spec, runConfig.source)
            : newRecord(user, loaded.spec, loaded.source);
        if (runConfig !== undefined) {
          const error = problems.find((problem) => problem.severity === 'error');
          const goesOn = liveRun
            ? 'it goes on with the config it was started with'
            : 'its run is gone (or what survives of it is stopped), and it is started again with the config that run was started with';
          const text = `its config file is refused now (${error === undefined ? 'see its problems' : formatProblem(error)}): ${goesOn}`;
          this.log.warn(`${id}: ${text}`);
          this.history.note(id, 'config', text);
        }
        // Its sockets first (those the keeper kept are held already): a daemon started at
        // the manager's start would otherwise fail once, waiting for them.
        // What its run holds is judged before: the hold lets go of what the file no
        // longer asks for, while the run keeps its own copy.
        const isMember = (gid: number): boolean => this.isMember(user, gid);
        const heldRefusal = this.recovery && this.sockets.heldRefusal(record, isMember);
        // Its listen_group= made again under its name meanwhile: no refusal either.
        const groupAgain = this.recovery && this.sockets.groupAgain(record, isMember);
        // Not for a run taken over: what it holds stays as it is until a restart applies
        // its file (bound now, a changed listen_group= or listen_mode= replaced its unix
        // socket's file by one nobody accepted on: an outside review, 23a, F5).
        if (
          this.recovery &&
          record.spec.autostart &&
          record.spec.listen.addresses.length > 0 &&
          !this.recovery.hasLiveRun(id)
        )
          await this.sockets.hold(owner, record, loaded);
        if (this.recovery) {
          // Its run ended while no manager ran, its file refused and that run's config not
          // known: it is not respawned with the refused file (it was, and refused, and
          // left down: an outside review, 31a, F1); wanted up, it waits for its file (below).
          const holdRespawn = refused && runConfig === undefined && !liveRun;
          if (holdRespawn) this.refusedAtTakeover.add(id);
          this.recovery.introduce(record);
          this.refusedAtTakeover.delete(id);
          // Left stopped under its owner's old name, renamed while no manager ran; or
          // stopped while its file was refused.
          const leftDown = this.leftDownByOldName.delete(id)
            ? this.leftDownText(id)
            : this.stoppedWhileBroken.delete(id)
              ? 'stopped while its file was refused: stays stopped'
              : undefined;
          if (leftDown !== undefined) {
            record.wanted = 'down';
            this.recovery.cancelStart(record);
            this.log.info(`${id}: ${leftDown}`);
            this.history.note(id, 'config', leftDown);
          }
          this.noteOldConfig(record);
          // Its run-as account made again meanwhile is no refusal: the name is still
          // allowed, and the daemon starts again as the account of that name now, with the
          // config its run was started with when its file is refused now (an outside
          // review, 29a, F1: stopped and left down). Not when that config is not known.
          const again = refused && runConfig === undefined ? undefined : this.runAsAgain(record);
          const runRefusal =
            heldRefusal ||
            (again ? undefined : this.runUserRefusal(record)) ||
            this.groupRefusal(record, groupAgain);
          // Its file refused now, and the config its run was started with not known here
          // (started after the last save, or the copies could not be written: a full
          // state directory): the run goes on, judged on what it is, and is not started
          // again until its file is accepted. Stopped, it was left down for a grant only
          // the file named (an outside review, 26a, F1).
          const unknownRun =
            refused && runConfig === undefined && runRefusal === undefined && liveRun;
          if (unknownRun) {
            const error = problems.find((problem) => problem.severity === 'error');
            const text = `its config file is refused now (${error === undefined ? 'see its problems' : formatProblem(error)}), and the config its run was started with is not known here (it started after the last save, or the state directory could not be written): the run goes on, and is not started again until its file is accepted`;
            this.log.warn(`${id}: ${text}`);
            this.history.note(id, 'config', text);
            this.waitingForFile.add(id);
          }
          // What survives of its run (its keeper killed too) is stopped, or its run is
          // gone, or the account its run runs as is gone (deleted, or made again under its
          // name: which, the config its run was started with would say): wanted up, it
          // starts once its file is accepted (an outside review, 30b, F1 and F2: left
          // down, or shown stopped and wanted up, never started). A run refused for an
          // account that is there (root took its grant back) stays stopped.
          const accountGone = liveRun && runRefusal !== undefined && this.runAccountGone(record);
          // The manager before waited for its file already: the wait goes on, or ends now
          // (an outside review, 31a, F1: lost at a kill -9 or an upgrade, left down).
          const savedEntry = this.recovery.savedEntryOf(id);
          const waited = savedEntry?.waitsForFile === true;
          // Its file as the manager before last read it, and the daemon known to it: the
          // refusal is root's, of a grant taken back meanwhile, and the daemon stays
          // stopped, as a SIGHUP leaves it. It waited for its file, and started when the
          // grant came back (an outside review, 33b, F1 and F2: a daemon cooling down).
          const revoked =
            !waited &&
            savedEntry !== undefined &&
            copiesBefore.some((copy) => copy.name === name && copy.source === loaded.source);
          if (
            refused &&
            runConfig === undefined &&
            (!liveRun || accountGone) &&
            revoked &&
            record.state.kind === 'stopped' &&
            record.wanted === 'up'
          ) {
            const error = problems.find((problem) => problem.severity === 'error');
            const text = `refused now (${error === undefined ? 'see its problems' : formatProblem(error)}): it stays stopped`;
            this.log.warn(`${id}: ${text}`);
            this.history.note(id, 'config', text);
            record.wanted = 'down';
          } else if (
            refused &&
            runConfig === undefined &&
            (!liveRun || accountGone) &&
            !revoked &&
            (record.wanted === 'up' || waited)
          ) {
            const text = waited
              ? 'its config file is still refused: it starts once its file is accepted'
              : `its config file is refused now, and the config its ${accountGone ? 'run' : 'last run'} was started with is not known here${accountGone ? `: ${runRefusal}, and its run is stopped` : ''}; it starts again once its file is accepted`;
            this.log.warn(`${id}: ${text}`);
            this.history.note(id, 'config', text);
            this.waitingForFile.add(id);
          } else if (waited && !refused && !liveRun && record.state.kind === 'stopped') {
            const text = 'its config file is accepted now: started, as it waited for it';
            this.log.info(`${id}: ${text}`);
            this.history.note(id, 'config', text);
            record.wanted = 'up';
            this.recovery.startLater(record);
          }
          if (refused && runConfig === undefined && !unknownRun) this.stopRefused(record, problems);
          else if (runRefusal) this.stopRefused(record, [], runRefusal);
          else if (again)
            this.restartAnew(
              record,
              `its run-as account ${again.name} is another account now (uid ${again.was}, now ${again.now})`,
              'as the new one',
            );
          else if (groupAgain)
            this.restartAnew(
              record,
              `its listen_group ${groupAgain.group} is another group now (gid ${groupAgain.was}, now ${groupAgain.now})`,
              'with a socket of the new one',
            );
          // What the run was given is judged against the groups of now, as a change seen
          // live is: one made while no manager ran (a kill -9, an upgrade) was kept, with
          // nothing said (an outside review, 13 of 18), and its gid may be another group's.
          // Who named it then is not known here: its gids are said as gids.
          else this.dropRevokedGroups(record, () => undefined);
        } else this.supervisor.register(record);
        // Cooling down for a port another process held: its bind goes on being tried.
        if (this.recovery && record.state.kind === 'coolingdown' && record.wanted === 'up')
          this.sockets.retryWhileCooling(owner, record);
        const survivors = left.get(id);
        left.delete(id);
        if (survivors !== undefined && this.replaceLeftBehind(record, survivors)) {
          // Started once what survives of it is gone, if it is to run.
        } else if (this.leftDownByOldName.delete(id)) {
          const text = this.leftDownText(id);
          this.log.info(`${id}: ${text}`);
          this.history.note(id, 'config', text);
        } else if (this.stoppedWhileBroken.delete(id)) {
          const text = 'stopped while its file was refused: stays stopped';
          this.log.info(`${id}: ${text}`);
          this.history.note(id, 'config', text);
        } else if (!this.recovery && this.takeBackStray(record)) {
          // Started, if it is to run, once its old run is gone.
        } else if (!this.recovery && this.savedUnread.has(id)) {
          await this.loadAsSaved(owner, record, loaded, this.savedUnread.get(id) as SavedDaemon);
          this.savedUnread.delete(id);
        } else if (!this.recovery && record.spec.autostart && refused) {
          // A new file refused: not tried, it starts once accepted, as the same file read
          // at the manager's start does. Tried, it was left down, wanted down, for good
          // once fixed (an outside review, 32a, F2).
          const text = 'its config file is refused: it starts once its file is accepted';
          this.log.warn(`${id}: ${text}`);
          this.history.note(id, 'config', text);
          this.waitingForFile.add(id);
        } else if (!this.recovery && record.spec.autostart) {
          await this.sockets.hold(owner, record, loaded);
          record.wanted = 'up';
          this.supervisor.start(record);
        }
        if (!refused) tally.add(id);
      } else if (
        existing.orphaned &&
        !runsOldConfig(existing) &&
        sameSpec(existing.spec, loaded.spec)
      ) {
        // Its file back as it was (a home restored, or gone for a moment): kept as it runs.
        // It was restarted as "config changed" (an outside review, 19b, 7).
        existing.orphaned = false;
        takeConfig(existing, loaded.spec, loaded.source);
        this.log.info(`${id}: its config file is back, unchanged; kept`);
        this.history.note(id, 'config', 'its config file is back, unchanged: kept as it is');
        if (!refused) tally.add(id);
      } else if (
        !existing.orphaned &&
        runsOldConfig(existing) &&
        loaded.source !== undefined &&
        loaded.source === existing.runSource
      ) {
        // Its file put back as its run was started with (changed while no manager ran, or
        // while it could not be read): nothing to apply. It was restarted as "changed"
        // (outside reviews 22a, F3, and 22c, 6).
        takeConfig(existing, loaded.spec, loaded.source);
        const text = 'its config file is back as its run was started with: kept as it runs';
        this.log.info(`${id}: ${text}`);
        this.history.note(id, 'config', text);
      } else if (
        existing.orphaned ||
        runsOldConfig(existing) ||
        !sameSpec(existing.spec, loaded.spec)
      ) {
        const before = runsOldConfig(existing) ? ' since its run began' : '';
        existing.orphaned = false;
        const running = existing.state.kind === 'running' || existing.state.kind === 'coolingdown';
        // Changed into a config refused now (a port or group root does not give): its run
        // goes on as it was started, as one whose file broke does; restarted, it could not
        // start again, and a daemon whose own grants stood was left down (an outside
        // review, 24a, F2). What its run holds is judged above and by the reload. The same
        // for a run on its way (a restart the manager makes, a respawn): it comes back with
        // the config it had, not the refused one (an outside review, 25a, F2). Read when it
        // could not be before, it is not taken either: a restart would apply it.
        // Not one being stopped for good (root took back what its run is: said "goes on"
        // just after its stop, an outside review, 26a, F7): it takes the file as it is.
        const comesBack =
          existing.state.kind === 'stopping'
            ? existing.state.afterwards !== 'stay-stopped' && existing.wanted === 'up'
            : existing.state.kind !== 'stopped';
        if (refused && comesBack) {
          const error = problems.find((problem) => problem.severity === 'error');
          const text = `its changed config file is refused (${error === undefined ? 'see its problems' : formatProblem(error)}): it goes on with the config it was started with`;
          // Said once, not at each rescan: the refusal itself ("config refused") is noted
          // just before (an outside review, 26a, F4: both again at every SIGHUP).
          const last = this.history
            .of(id)
            .findLast((event) => event.kind === 'config' && !event.text.startsWith(REFUSED));
          if (last?.text !== asNoted(text)) {
            this.log.warn(`${id}: ${text}`);
            this.history.note(id, 'config', text);
          }
          continue;
        }
        if (automatic && existing.state.kind === 'running') {
          // Its run goes on with the config it was started with, as after a takeover.
          const runSource = existing.runSource ?? existing.source;
          takeConfig(existing, loaded.spec, loaded.source);
          existing.runSource = runSource;
          const text =
            'its config file changed while it could not be read: it runs with the config it was started with until a rescan (or a restart) applies the new one';
          this.log.info(`${id}: ${text}`);
          this.history.note(id, 'config', text);
          continue;
        }
        // A restart a user's rescan makes is one they asked for: it takes from their start
        // budget. Past it, the file is not taken: the run (or the respawn of one cooling
        // down) goes on with the config it was started with, and a later rescan finds it
        // changed and restarts it (an outside review, 38a, F3: 200 files changed and
        // rescanned in a loop made 2,200 restarts in 30 s, and 870 KB of log a minute).
        if (running && !this.takeStartFor(tally)) {
          this.history.note(
            id,
            'config',
            `its config file changed: not restarted, as ${tally.askedBy} may not ask for more restarts now; a rescan restarts it`,
          );
          tally.holdBack(id, 'changed');
          continue;
        }
        takeConfig(existing, loaded.spec, loaded.source);
        if (loaded.spec.output !== 'log') void this.logs.close(id);
        let restarted = false;
        if (running) {
          // A new address on a port the run still holds cannot be bound before it stops.
          this.sockets.bindAfterStop(id);
          // In turn with dmctl's commands on it (see inTurn): a stop read while the sockets
          // are held comes after the restart, as a stop read just after a restart does (an
          // outside review, 74a, F5); stopped before its turn, it stays stopped, and starts
          // with the new file.
          await inTurn(existing, async () => {
            await this.sockets.hold(owner, existing, loaded);
            const stillRuns =
              existing.wanted === 'up' &&
              (existing.state.kind === 'running' || existing.state.kind === 'coolingdown');
            if (!stillRuns) return;
            restarted = true;
            this.log.info(`${id}: config changed${before}; restarting`);
            this.history.note(id, 'config', `its config file changed${before}: restarting`);
            this.supervisor.restart(existing);
          });
        }
        if (!refused) tally.change(id, restarted);
      } else takeConfig(existing, loaded.spec, loaded.source);
      // Accepted now, changed or not (a grant given back: an outside review, 31a, F2). Its
      // start is one the user asked for (a file refused and fixed in a loop): past their
      // budget it goes on waiting, for a later rescan.
      if (existing === undefined || refused) continue;
      if (!this.waitingForFile.has(id) || existing.state.kind !== 'stopped')
        this.waitingForFile.delete(id);
      else if (!this.takeStartFor(tally)) tally.holdBack(id, 'accepted');
      else {
        this.waitingForFile.delete(id);
        const text = 'its config file is accepted now: started, as it waited for it';
        this.log.info(`${id}: ${text}`);
        this.history.note(id, 'config', text);
        // In turn (see above): a stop read while the sockets are held comes after it.
        await inTurn(existing, async () => {
          await this.sockets.hold(owner, existing, loaded);
          this.supervisor.start(existing);
        });
      }
    }
    // Daemons whose files were not read are judged on the config they run with: a port
    // root took back (a SIGHUP) stays taken back. A user who made their own directory
    // unreadable kept listening on it (an outside review, 20c). And on what their run
    // is: the account it runs as, the sockets it was given. Its config may be a file read
    // and not applied (`dmctl start` of it running, a takeover), which no longer says so:
    // a user took `user=` or `listen=` out, hid the directory, and kept what root then
    // took back (an outside review, 22a).
    if (!complete)
      for (const record of [...this.supervisor.daemons.values()]) {
        if (record.owner !== user || present.has(record.spec.name)) continue;
        const runRefusal =
          record.state.kind === 'running'
            ? (this.runUserRefusal(record) ??
              this.sockets.runRefusal(record, (gid) => this.isMember(user, gid)))
            : undefined;
        if (runRefusal !== undefined) {
          const why = `${runRefusal} (its file not read: judged on its run)`;
          this.stopRefused(record, [], why);
          void this.sockets.release(record.id, owner);
          continue;
        }
        // Its file read and not applied says nothing of the run (an outside review, 23a,
        // F2: stopped for a port only its file named, which root took back).
        if (runsOldConfig(record)) continue;
        const file =
          this.configFiles.get(record.id) ?? join(owner.daemonDir, `${record.spec.name}.conf`);
        const runs: LoadedConfig = {
          name: record.spec.name,
          file,
          spec: record.spec,
          problems: [],
          runAsLine: undefined,
        };
        // A refusal of its config as last read that root's change lifts (a port given
        // back) is lifted here too: it was shown `broken` until the directory could be
        // read again (an outside review, 22a, F6).
        if (this.broken.get(record.id) !== undefined) {
          const problems = this.judged(user, runs);
          if (!hasErrors(problems)) {
            this.broken.note(user, record.spec.name, file, problems);
            this.noteConfigProblem(record.id, problems);
          }
        }
        if (!this.sockets.refused(user, runs) || !this.sockets.inUse(record)) continue;
        const text =
          'its sockets are no longer allowed (its file not read: judged on the config it runs with); stopping it';
        this.log.warn(`${record.id}: ${text}`);
        this.history.note(record.id, 'config', text);
        this.supervisor.stop(record);
        void this.sockets.release(record.id, owner);
      }
    // What no file claims is stopped; what a listing that failed did not see is kept for
    // the next one (it may be there, unreadable).
    if (complete) {
      for (const [id, cgroups] of left)
        for (const cgroup of cgroups) this.endLeftBehind(id, cgroup, 'no config claims it');
      this.unclaimedLeft.delete(user);
    }
    if (overCap > 0)
      tally.refuse(
        `${overCap} *.conf files of ${user} (past the ${MAX_DAEMONS_PER_USER} daemons a user may have, counting ${gone} whose files are gone and that still run)`,
      );
    this.logNewProblems(user);
    this.log.debug(`rescan of ${user}: done`);
    return true;
  }

  /**
   * At the start, the configs of a user's daemons that a listing of their directory did
   * not read (it failed: a home not mounted yet, its mode being fixed), as last read whole
   * (see ConfigCopies): their runs are taken over with them, as a SIGHUP at such a moment
   * would have left them, until a rescan reads the files. They were stopped as if no config
   * claimed them, and with the home unreadable what they wrote since the kill was lost (an
   * outside review, 19c). Not those of the account that had the name before.
   */
  private async unreadConfigs(
    owner: Owner,
    listing: DirScan,
    reason: string,
  ): Promise<LoadedConfig[]> {
    const user = owner.account.name;
    const listed = new Set(listing.configs.map((loaded) => loaded.name));
    const copies: LoadedConfig[] = (await this.configCopies.read(user, owner.account.uid)).filter(
      (copy) => !listed.has(copy.name) && !this.formerOwners.has(`${user}/${copy.name}`),
    );
    // A daemon running on its last good config, its file broken since, is in no copy (a
    // broken file has no spec to keep): it goes on with that config, as with a readable
    // directory (see lastGoodSpec); it was stopped (an outside review, 20c).
    const copied = new Set(copies.map((copy) => copy.name));
    for (const name of this.recovery?.savedNames(user) ?? []) {
      const file = join(owner.daemonDir, `${name}.conf`);
      if (listed.has(name) || copied.has(name)) continue;
      if (this.recovery?.lastGoodSpec(`${user}/${name}`) === undefined) {
        const saved = this.recovery?.savedEntryOf(`${user}/${name}`);
        if (saved !== undefined) this.savedUnread.set(`${user}/${name}`, saved);
        continue;
      }
      copies.push({
        name,
        file,
        spec: undefined,
        problems: [
          {
            file,
            severity: 'error',
            message: `cannot be read (${reason}); it was broken before, and its daemon goes on with the config it last ran with`,
          },
        ],
        runAsLine: undefined,
      });
    }
    if (copies.length === 0) return [];
    this.keptUnread.add(user);
    const text = `its config file could not be read (${reason}): going on with it as last read, until it can be`;
    this.log.warn(
      `${user}: ${owner.daemonDir} could not be read whole (${reason}): ${copies.length} daemons go on with their configs as last read, until it can be`,
    );
    for (const copy of copies) this.history.note(`${user}/${copy.name}`, 'config', text);
    // Where the file is now (the home may have moved).
    return copies.map((copy) => ({ ...copy, file: join(owner.daemonDir, `${copy.name}.conf`) }));
  }

  /**
   * A run taken over whose config is refused now (root took back a port, or the right to
   * run as its user, while no manager was there): stopped, as a rescan would have. An
   * outside review found such a daemon still listening on the port taken back.
   */
  private stopRefused(record: DaemonRecord, problems: readonly Problem[], reason?: string): void {
    this.recovery?.cancelStart(record);
    const { state } = record;
    if (state.kind !== 'running' && state.kind !== 'coolingdown') return;
    const error = problems.find((problem) => problem.severity === 'error');
    const why = reason ?? (error === undefined ? 'its config is refused' : formatProblem(error));
    this.log.warn(`${record.id}: refused now (${why}); stopping it`);
    this.history.note(record.id, 'config', `refused now: stopping it (${why})`);
    this.supervisor.stop(record);
  }

  /**
   * Why a run taken over may not go on as the user it runs as, if it may not: its file,
   * edited while no manager ran into one still allowed, no longer says what runs (an
   * outside review: root took back a `user=` grant meanwhile, and the run went on as the
   * user taken back, shown as the owner).
   */
  private runUserRefusal(record: DaemonRecord): string | undefined {
    const { state } = record;
    if (state.kind !== 'running') return undefined;
    // The uid the keeper switched the run to at its spawn: /proc says what the main process
    // is now (a root daemon may have switched itself since, the main process may be gone
    // while the rest runs on, its pid another process's), and only a keeper from before
    // version 3 (kept across an upgrade) leaves it to /proc.
    const uid = this.recordedRunUid(record.id, state.run) ?? realUid(state.pid);
    if (uid === undefined) return undefined;
    // The account of that uid, then (rarely, at a refusal) any other name it has.
    const first = this.db.byUid.get(uid);
    if (first !== undefined && mayRunAs(this.currentPolicy, record.owner, first.name))
      return undefined;
    const names = [...this.db.users.values()].filter((account) => account.uid === uid);
    if (names.some((account) => mayRunAs(this.currentPolicy, record.owner, account.name)))
      return undefined;
    const who = names[0]?.name ?? `uid ${uid}`;
    return `it runs as ${who}, whom ${record.owner} may no longer run as`;
  }

  /**
   * The account a daemon's run runs as, by the uid the keeper switched it to: its run-as
   * name's when that is the uid. After a `dmctl start` that read a changed file, or a
   * takeover of a run whose file changed, its config says what the next run is, not this
   * one (an outside review, 22a: a run as a user taken out of the file showed as the owner).
   */
  runAsOf(record: DaemonRecord): string | undefined {
    const { state } = record;
    if (state.kind !== 'running' && state.kind !== 'stopping') return undefined;
    const uid = this.recordedRunUid(record.id, state.run);
    if (uid === undefined) return undefined;
    const named = this.db.users.get(record.spec.runAs ?? record.owner);
    if (named?.uid === uid) return named.name;
    return this.db.byUid.get(uid)?.name ?? `uid ${uid}`;
  }

  /** The uid the keeper switched a run to at its spawn, if it recorded one. */
  private recordedRunUid(id: string, run: number): number | undefined {
    const known = this.runUids.get(id);
    if (known?.run === run) return known.uid;
    return this.snapshot.runs.find((report) => report.seq === run)?.uid;
  }

  /**
   * The account a running daemon's run is of, if it is not the account of its run-as name
   * now: that account (`user=`, or the owner's: see syncOwners) was deleted and made again
   * under the name, another uid, while the run went on. Only for a run started with the
   * config read now: one taken over whose file changed since may have run as another name.
   */
  private runAsAgain(record: DaemonRecord): RunAsAgain | undefined {
    const { state } = record;
    if (state.kind !== 'running' || runsOldConfig(record)) return undefined;
    const name = record.spec.runAs ?? record.owner;
    const now = this.db.users.get(name)?.uid;
    const was = this.recordedRunUid(record.id, state.run);
    if (now === undefined || was === undefined || was === now) return undefined;
    return { name, was, now };
  }

  /** Has the uid the keeper switched the daemon's run to no account now? */
  private runAccountGone(record: DaemonRecord): boolean {
    const { state } = record;
    if (state.kind !== 'running') return false;
    const uid = this.recordedRunUid(record.id, state.run);
    return uid !== undefined && !this.db.byUid.has(uid);
  }

  /**
   * A run whose config is not known (its file refused now, its run not in the last save)
   * whose account, by the name it had before this change of the accounts, was deleted and
   * made again under that name (another uid), the name still allowed: its run is stopped,
   * and it starts again once its file is accepted (the config the new account's run would
   * have is the file's). True if so.
   */
  private runAsMadeAgain(record: DaemonRecord, before: AccountDb): boolean {
    const { state } = record;
    if (state.kind !== 'running' || !this.waitingForFile.has(record.id)) return false;
    const was = this.recordedRunUid(record.id, state.run);
    if (was === undefined) return false;
    const name = before.byUid.get(was)?.name;
    const now = name === undefined ? undefined : this.db.users.get(name)?.uid;
    if (name === undefined || now === undefined || now === was) return false;
    if (!mayRunAs(this.currentPolicy, record.owner, name)) return false;
    const text = `its run-as account ${name} is another account now (uid ${was}, now ${now}), and its config file is refused (the config its run was started with is not known here): its run is stopped, and it starts again once its file is accepted`;
    this.log.warn(`${record.id}: ${text}`);
    this.note(record, 'stop', text);
    this.supervisor.stop(record);
    this.waitingForFile.add(record.id);
    return true;
  }

  /**
   * A run taken over whose socket's group its owner left, while the file names a group of
   * that name the owner is in now: a refusal when the file changed since the run began
   * (it may have named another group then), else the group made again (see groupAgain).
   */
  private groupRefusal(
    record: DaemonRecord,
    again: { readonly group: string; readonly was: number } | undefined | false,
  ): string | undefined {
    if (!again || !runsOldConfig(record)) return undefined;
    return `its socket has group ${again.was}, which ${record.owner} is no longer a member of`;
  }

  /**
   * Stops a run that is not what the daemon's config makes now (its run-as account, or
   * its listen_group=, deleted and made again under its name: `why` says which), and starts
   * the daemon anew if it is wanted up. Nobody asked for a stop: a manager that met the
   * run-as account made again at its takeover left the daemon down, saved as wanted down,
   * and said the owner "may no longer run as" a user the grant still names (an outside
   * review, 24 of 24), while a manager that saw it live restarted it.
   */
  private restartAnew(record: DaemonRecord, text: string, how: string): void {
    const up = record.wanted === 'up';
    const then = up ? `restarting it ${how}` : 'stopping the old one’s run';
    this.log.warn(`${record.id}: ${text}; ${then}`);
    this.note(record, 'stop', `${text}: ${then}`);
    if (up) this.supervisor.restart(record);
    else this.supervisor.stop(record);
  }

  /** Is `user` a member of the group `gid` (listed, or as their primary group)? */
  private isMember(user: string, gid: number): boolean {
    if (user === ROOT) return true;
    const account = this.db.users.get(user);
    return account !== undefined && groupIdsOf(this.db, account).includes(gid);
  }

  /**
   * A daemon just taken over whose file changed while no manager watched it (a
   * `listen=` line added while the manager was down): said, and applied by the next
   * rescan as any change is, not at once (taking over restarts nothing).
   */
  private noteOldConfig(record: DaemonRecord): void {
    if (!runsOldConfig(record)) return;
    const text =
      'its config file changed before this manager took it over: it runs with the config it was started with until a rescan (or a restart) applies the new one';
    this.log.info(`${record.id}: ${text}`);
    this.history.note(record.id, 'config', text);
  }

  /**
   * Puts the first error of a daemon's config file in its history when it appears (a
   * rescan in a loop must not fill the history with the same line).
   */
  private noteConfigProblem(id: string, problems: readonly Problem[]): void {
    const error = problems.find((problem) => problem.severity === 'error');
    const text = error === undefined ? undefined : `${REFUSED}${formatProblem(error)}`;
    // The last of these two, whatever other config notes came after it (an outside
    // review, 26a, F4: alternating with another, each was noted again at every rescan).
    const last = this.history
      .of(id)
      .findLast(
        (event) =>
          event.kind === 'config' && (event.text.startsWith(REFUSED) || event.text === VALID_AGAIN),
      );
    if (text !== undefined && last?.text !== asNoted(text)) this.history.note(id, 'config', text);
    else if (text === undefined && last !== undefined && last.text.startsWith(REFUSED))
      this.history.note(id, 'config', VALID_AGAIN);
  }

  /** A loaded config's problems, and whether `user`'s daemon may run as the user it asks for. */
  private judged(user: string, loaded: LoadedConfig): readonly Problem[] {
    return judgeConfig(
      loaded,
      user,
      this.currentPolicy,
      (name) => this.db.users.has(name),
      this.listenRights(user),
      this.delayBounds(),
    );
  }

  /** What root lets the user's `listen=` lines have, under the current master config. */
  private listenRights(user: string): ListenRights {
    const rules = this.mode.kind === 'system' ? this.mode.config.limits : [];
    return listenRightsOf(user, this.db, rules);
  }

  /**
   * Logs a user's problems for the admin as they appear: a user rescanning in a loop
   * must not fill the manager's log with the same lines (and the board keeps at most a
   * hundred per user).
   */
  private logNewProblems(user: string): void {
    const lines = this.problems.formatted([user]);
    const before = this.loggedProblems.get(user);
    // Problems that change at each rescan (keys renamed in a loop) are new each time: they
    // count as that user's lines (an outside review, 37a, F3: 100 a rescan pushed every
    // older line out of the rotated log in 22 s).
    for (const line of lines) if (!before?.has(line)) this.userLines.warn(user, `${user}: ${line}`);
    this.loggedProblems.set(user, new Set(lines));
  }

  private setProblems(user: string, file: string, problems: readonly Problem[]): void {
    this.problems.set(user, file, problems);
    for (const problem of problems) this.log.debug(formatProblem(problem));
  }
}

/** What accountsReplaced found: uids another account's, and uids not known yet (with why). */
interface Judgement {
  readonly replaced: ReadonlySet<number>;
  readonly undecided: ReadonlyMap<number, string>;
  /** Uids under the name they had, their daemon directory unread at a start (see unknownUids). */
  readonly unknown: ReadonlyMap<number, string>;
  /** Uids whose daemon directory's `.lock` was read and judged. */
  readonly read: ReadonlySet<number>;
}

/** When a uid not known yet is judged again (see Manager.undecidedUids): then every 30 s. */
const REJUDGE_DELAYS_MS = [1_000, 3_000, 10_000, 30_000];

/** What the keeper recorded of a daemon's newest run: the uid, gid and groups it was given. */
interface RecordedRun {
  readonly run: number;
  readonly uid: number;
  /** Its gid, then its supplementary groups (none from a keeper before version 4). */
  readonly groups?: readonly number[];
}

/** A run of the account that had a daemon's run-as name before (uid `was`), `now` another's. */
interface RunAsAgain {
  readonly name: string;
  readonly was: number;
  readonly now: number;
}

/**
 * Whether a file is the one a lock was held on: its inode number, and its birth time where
 * both have one. The inode number alone was not enough: ext4 gives a file made after one
 * was deleted its number back (where a file system keeps no birth time, it is all there is:
 * README, Known limits). The device is not compared: its number may be another after a
 * reboot (a btrfs subvolume's is given at its mount, a loop or device-mapper volume's in
 * the order they come up), and every account on it was taken for one made again (an
 * outside review, 56a, F2, where there are no birth times); a birth time is the kernel's
 * clock, which no user sets.
 */
function sameFile(stat: Pick<FileStat, 'ino' | 'btime'>, held: LockFile): boolean {
  return (
    stat.ino === held.ino &&
    (stat.btime === undefined || held.btime === undefined || stat.btime === held.btime)
  );
}

function sameSpec(a: DaemonSpec, b: DaemonSpec): boolean {
  return canonical(a) === canonical(b);
}

/**
 * A config as text, its keys in order: one read back from the state directory (see
 * ConfigCopies) has them in another order than the parser gives, and the same config
 * looked changed (its daemon restarted).
 */
function canonical(spec: DaemonSpec): string {
  return JSON.stringify(spec, (_key, value: unknown) =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}

/** How a config's refusal, and its end, are said in the daemon's history. */
const REFUSED = 'config refused: ';
const VALID_AGAIN = 'its config file is valid again';

/**
 * A daemon's config as just read. A run started with the config it replaces, when the two
 * mean the same (comments, or nothing, changed), runs with the new one as far as a later
 * manager can tell.
 */
function takeConfig(record: DaemonRecord, spec: DaemonSpec, source: string | undefined): void {
  if (record.runSource === record.source && sameSpec(record.spec, spec)) record.runSource = source;
  record.spec = spec;
  record.source = source;
}

/** /etc/passwd and /etc/group as they are now (inode, size, time of change). */
function accountFilesStamp(): string {
  return ['/etc/passwd', '/etc/group']
    .map((path) => {
      try {
        const { ino, size, mtimeMs } = statSync(path);
        return `${ino}:${size}:${mtimeMs}`;
      } catch {
        return '-';
      }
    })
    .join(',');
}

/** Why a new daemon is not loaded: its user has as many as one may, counting those still stopping. */
function capProblem(file: string, gone: number): Problem {
  return {
    file,
    severity: 'error',
    message: `not loaded: its user has ${MAX_DAEMONS_PER_USER} daemons already, ${gone} of them running on after their files went (they count until they stop: rescan then)`,
  };
}

/** The uid owning the file at `path`, or undefined if it cannot be read. */
/** The path each bound unix socket has, by its inode (/proc/net/unix); empty if unreadable. */
function unixSocketPaths(): Map<number, string> {
  const paths = new Map<number, string>();
  let table: string;
  try {
    table = readFileSync('/proc/net/unix', 'latin1');
  } catch {
    return paths;
  }
  for (const line of table.split('\n')) {
    // Num RefCount Protocol Flags Type St Inode Path (a path may hold spaces).
    const fields = line.trim().split(/\s+/);
    const inode = fields[6] ?? '';
    if (fields.length < 8) continue;
    const at = line.indexOf(` ${inode} `);
    if (at !== -1) paths.set(Number(inode), line.slice(at + inode.length + 2));
  }
  return paths;
}

/** A descriptor's inode number (-1 if it cannot be looked at). */
function inodeOf(fd: number): number {
  try {
    return fstatSync(fd).ino;
  } catch {
    return -1;
  }
}

function fileUid(path: string): number | undefined {
  try {
    return lstatSync(path).uid;
  } catch {
    return undefined;
  }
}
