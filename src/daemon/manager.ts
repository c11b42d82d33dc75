import type { Socket } from 'node:net';
import { join } from 'node:path';
import { type DaemonSpec, parseDaemonConfig } from '../config/daemon.ts';
import type { UserLimits } from '../config/limits.ts';
import type { MasterConfig } from '../config/master.ts';
import { formatProblem, hasErrors, type Problem } from '../config/problems.ts';
import type { Settings } from '../config/settings.ts';
import { type ControlContext, handleRequest } from '../control/handlers.ts';
import { ControlServer } from '../control/server.ts';
import type { BrokenConfig } from '../control/status.ts';
import type { Logger } from '../logging/logger.ts';
import { readLogChunk, startBanner } from '../logs/log-file.ts';
import type { LogWriter } from '../logs/log-writer.ts';
import { mayRunAs, mayRunDaemons, mayUseManager, ROOT, runAsRefusal } from '../policy/authorize.ts';
import { limitsForDaemon, limitsForUser } from '../policy/limits.ts';
import { type Policy, personalPolicy, resolvePolicy } from '../policy/policy.ts';
import {
  type CgroupTree,
  findCgroupTree,
  prepareCgroup,
  removeCgroup,
  removeTree,
} from '../process/cgroup.ts';
import { buildEnvironment } from '../process/environment.ts';
import type { Native } from '../process/native.ts';
import type { Reaper } from '../process/reaper.ts';
import {
  type ConfigCopy,
  type DaemonInfo,
  LOG_CHUNK_BYTES,
  type LogChunk,
  type Request,
  type RescanReport,
  type Response,
} from '../protocol/messages.ts';
import { printableJson } from '../protocol/printable.ts';
import type { Handover, SavedState } from '../state/snapshot.ts';
import { StateFile } from '../state/state-file.ts';
import { StateSaver } from '../state/state-saver.ts';
import type { BackoffPolicy } from '../supervisor/backoff.ts';
import { type DaemonRecord, newRecord } from '../supervisor/state.ts';
import {
  type Outcome,
  type Prepared,
  Supervisor,
  type SupervisorHost,
} from '../supervisor/supervisor.ts';
import { type AccountDb, groupIdsOf, membersOf } from '../users/accounts.ts';
import { asUser } from '../users/impersonate.ts';
import { BrokenConfigs } from './broken-configs.ts';
import { readConfigAsOwner, readEditedCopy, writeConfigAsOwner } from './config-writer.ts';
import { DaemonLogs } from './daemon-logs.ts';
import { judgeConfig } from './judge.ts';
import { makeOwner, type Owner } from './owner.ts';
import { ProblemBoard } from './problem-board.ts';
import { Recovery } from './recovery.ts';
import { RescanTally } from './rescan-tally.ts';
import {
  configPathOf,
  createOwnerDirs,
  isConfigGone,
  type LoadedConfig,
  listConfigNames,
  loadConfig,
} from './scan.ts';

/** How the manager runs: for everyone under a master config, or for one user alone. */
export type Mode =
  | { readonly kind: 'system'; readonly config: MasterConfig }
  | { readonly kind: 'personal'; readonly user: string; readonly settings: Settings };

/**
 * The manager: knows the users and their daemons, keeps the supervisor fed with specs,
 * and answers the control sockets. Policy decisions are delegated to `policy/`, process
 * work to `supervisor/`, the protocol to `control/`.
 */
export class Manager implements ControlContext, SupervisorHost {
  readonly supervisor: Supervisor;
  private currentPolicy: Policy;
  private readonly ownerTable = new Map<string, Owner>();
  private readonly configFiles = new Map<string, string>();
  private readonly problems = new ProblemBoard();
  private readonly broken = new BrokenConfigs();
  /** Each user's problems as last logged: a problem is logged when it appears, not again. */
  private readonly loggedProblems = new Map<string, ReadonlySet<string>>();
  private readonly control: ControlServer;
  private readonly logs: DaemonLogs;

  private mode: Mode;
  private db: AccountDb;
  settings: Settings;
  readonly log: Logger;

  private recovery: Recovery;
  private readonly reaper: Reaper;
  private readonly state: StateSaver;
  private readonly cgroups: CgroupTree | undefined;
  private readonly handedOver: Handover | undefined;

  constructor(
    mode: Mode,
    db: AccountDb,
    settings: Settings,
    log: Logger,
    socketPathFor: (user: string) => string,
    saved: SavedState | undefined,
    reaper: Reaper,
  ) {
    this.mode = mode;
    this.db = db;
    this.settings = settings;
    this.log = log;
    this.currentPolicy = this.policyFor(mode);
    this.supervisor = new Supervisor(this);
    this.logs = new DaemonLogs(settings, log);
    this.reaper = reaper;
    this.state = new StateSaver(
      new StateFile(settings.stateDir),
      () => this.supervisor.daemons.values(),
      log,
    );
    this.cgroups =
      mode.kind === 'system' && settings.cgroups ? findCgroupTree(settings.stateDir) : undefined;
    log.info(
      this.cgroups
        ? `daemons tracked by cgroup under ${this.cgroups.base}`
        : 'no cgroups: daemons tracked by process group',
    );
    this.recovery = this.recoveryFrom(saved);
    this.handedOver = this.recovery.isUpgrade ? saved?.handover : undefined;
    this.control = new ControlServer(
      socketPathFor,
      (caller, request) => handleRequest(this, caller, request),
      log,
    );
  }

  /** Loads every allowed user's daemons, starts the autostart ones, opens the sockets. */
  async begin(): Promise<void> {
    this.syncOwners();
    this.rescan([...this.ownerTable.keys()]);
    await this.syncSockets();
    // From now on a daemon is new: autostart alone decides.
    this.recovery = this.recoveryFrom(undefined);
    this.state.save(false);
  }

  /**
   * Readies the upgrade: logs stop reading once their chunks are on disk, the state is
   * saved with the descriptors (sockets, output pipes) to keep across execve, and those
   * lose close-on-exec. After this the caller re-executes the manager.
   */
  async handover(native: Native): Promise<Handover> {
    const pipes = await this.logs.quiesce();
    const handover: Handover = { pid: process.pid, sockets: this.control.listeningFds(), pipes };
    for (const fd of [...Object.values(handover.sockets), ...Object.values(pipes)])
      native.setCloexec(fd, false);
    this.state.save(false, handover);
    return handover;
  }

  /** Goes on as before when the re-execution failed. */
  abandonHandover(native: Native): void {
    const fds = Object.values(this.control.listeningFds());
    for (const fd of fds) native.setCloexec(fd, true);
    this.logs.resume();
    this.state.save(false);
  }

  /** Applies a new master config: new users and rights, then a rescan of everyone. */
  async reload(config: MasterConfig, db: AccountDb): Promise<void> {
    if (this.mode.kind !== 'system') return;
    for (const key of ['socketDir', 'stateDir'] as const)
      if (config.settings[key] !== this.settings[key])
        this.log.warn(
          `reload: a new ${key === 'socketDir' ? 'socket-dir' : 'state-dir'} applies only after a restart`,
        );
    this.settings = {
      ...config.settings,
      socketDir: this.settings.socketDir,
      stateDir: this.settings.stateDir,
    };
    this.logs.settings = this.settings;
    this.mode = { kind: 'system', config };
    this.db = db;
    this.currentPolicy = this.policyFor(this.mode);
    this.syncOwners();
    for (const record of this.supervisor.daemons.values()) {
      const runAs = record.spec.runAs ?? record.owner;
      if (record.state.kind !== 'stopped' && !mayRunAs(this.currentPolicy, record.owner, runAs)) {
        this.log.warn(`${record.id}: may no longer run as ${runAs}; stopping it`);
        this.supervisor.stop(record);
      }
    }
    this.rescan([...this.ownerTable.keys()]);
    await this.syncSockets();
  }

  /** Stops every daemon and closes the sockets. */
  async shutdown(): Promise<void> {
    this.control.closeAll();
    await this.supervisor.stopAll();
    await this.logs.flush(2_000);
    if (this.cgroups) removeTree(this.cgroups);
    this.state.save(true);
  }

  /** The back-off of the current settings (a reload may change it). */
  get backoff(): BackoffPolicy {
    const { cooldownStepMs, cooldownMaxMs, stableUptimeMs } = this.settings;
    return { stepMs: cooldownStepMs, maxMs: cooldownMaxMs, stableMs: stableUptimeMs };
  }

  policy(): Policy {
    return this.currentPolicy;
  }

  owners(): readonly string[] {
    return [...new Set([...this.ownerTable.keys(), ...this.problems.users()])];
  }

  rescan(users: readonly string[]): RescanReport {
    const tally = new RescanTally();
    for (const user of users) {
      const owner = this.ownerTable.get(user);
      if (owner) this.scanOwner(owner, tally);
    }
    return tally.report();
  }

  refresh(record: DaemonRecord): Outcome {
    const owner = this.ownerTable.get(record.owner);
    if (!owner) return { ok: false, error: `${record.owner} may no longer run daemons` };
    const loaded = loadConfig(owner, record.spec.name);
    this.setProblems(record.owner, loaded.file, loaded.problems);
    this.broken.note(
      record.owner,
      record.spec.name,
      loaded.file,
      this.judged(record.owner, loaded),
    );
    if (loaded.spec === undefined) {
      const first = loaded.problems.find((problem) => problem.severity === 'error');
      return {
        ok: false,
        error: `cannot start ${record.id}: ${first ? formatProblem(first) : 'invalid config'}`,
      };
    }
    record.spec = loaded.spec;
    return { ok: true, message: '' };
  }

  forgetIfGone(record: DaemonRecord): void {
    const owner = this.ownerTable.get(record.owner);
    if (owner === undefined) return;
    if (!isConfigGone(owner, record.spec.name)) return;
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

  readConfig(user: string, name: string): ConfigCopy | { error: string } {
    const owner = this.ownerTable.get(user);
    if (owner === undefined) return { error: `'${user}' may not run daemons` };
    const copy = readConfigAsOwner(owner, name);
    return 'error' in copy ? copy : { id: `${user}/${name}`, ...copy };
  }

  saveConfig(caller: string, user: string, name: string, source: string, expect: string): Response {
    const owner = this.ownerTable.get(user);
    const account = this.db.users.get(caller);
    if (owner === undefined || account === undefined)
      return { ok: false, error: `'${user}' may not run daemons` };
    const edited = readEditedCopy(source, account, groupIdsOf(this.db, account));
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
    const written = writeConfigAsOwner(owner, name, edited.text, expect);
    if ('error' in written) return { ok: false, error: written.error };
    this.log.info(`${user}/${name}: ${file} saved by ${caller}`);
    return {
      ok: true,
      message: `saved ${file}`,
      rescan: this.rescan([user]),
      problems: problems.map(formatProblem),
    };
  }

  infoOf(record: DaemonRecord): DaemonInfo {
    const owner = this.ownerTable.get(record.owner);
    return {
      id: record.id,
      configFile: this.configFiles.get(record.id) ?? '',
      logFile:
        owner && record.spec.output === 'log' ? DaemonLogs.pathOf(owner, record.spec) : undefined,
    };
  }

  readLog(record: DaemonRecord, offset: number): LogChunk | { error: string } {
    const owner = this.ownerTable.get(record.owner);
    if (!owner || record.spec.output !== 'log')
      return { error: `${record.id} has no log (output=discard)` };
    const path = DaemonLogs.pathOf(owner, record.spec);
    const read = asUser(owner.account, owner.groupIds, () =>
      readLogChunk(path, owner.account.uid, offset, LOG_CHUNK_BYTES),
    );
    return 'error' in read
      ? read
      : { data: read.data.toString('base64'), next: read.next, size: read.size };
  }

  audit(caller: string, request: Request, outcome: string): void {
    const target = request.id === undefined ? '' : ` ${printableJson(request.id)}`;
    const signal = request.signal === undefined ? '' : ` ${printableJson(request.signal)}`;
    this.log.info(`audit: ${caller}: ${request.command}${target}${signal}: ${outcome}`);
  }

  prepare(record: DaemonRecord): Prepared {
    const owner = this.ownerTable.get(record.owner);
    if (!owner) return { ok: false, error: `${record.owner} may not run daemons`, retry: false };
    const runAsName = record.spec.runAs ?? record.owner;
    const runAs = this.db.users.get(runAsName);
    const refusal = runAsRefusal(this.currentPolicy, record.owner, runAsName, runAs !== undefined);
    if (refusal !== undefined || runAs === undefined)
      return { ok: false, error: refusal ?? `no such user '${runAsName}'`, retry: false };
    const limits = this.limitsOf(record.owner);
    const active = [...this.supervisor.daemons.values()].filter(
      (other) => other.owner === record.owner && other !== record && other.state.kind !== 'stopped',
    ).length;
    if (limits.maxDaemons !== undefined && active >= limits.maxDaemons)
      return {
        ok: false,
        error: `'${record.owner}' already has ${active} daemons running (max-daemons = ${limits.maxDaemons})`,
        retry: false,
      };
    const daemonLimits = limitsForDaemon(limits, record.spec.limits);
    const cgroup = this.cgroups && prepareCgroup(this.cgroups, record.id, daemonLimits.nproc);
    if (typeof cgroup === 'object')
      this.log.warn(`${record.id}: ${cgroup.error}; following its process group only`);
    let writer: LogWriter | undefined;
    if (record.spec.output === 'log') {
      const opened = this.logs.writerFor(owner, record.id, record.spec);
      if ('error' in opened)
        return { ok: false, error: opened.error, retry: !opened.error.includes('refused') };
      writer = opened;
      writer.note(startBanner(new Date(), record.id, runAsName, record.spec.start));
    } else this.logs.close(record.id);
    return {
      ok: true,
      plan: {
        start: record.spec.start,
        dir: record.spec.dir,
        uid: runAs.uid,
        gid: runAs.gid,
        groups: groupIdsOf(this.db, runAs),
        env: buildEnvironment(runAs, record.spec.env),
        output: writer === undefined ? 'ignore' : 'pipe',
        limits: daemonLimits,
        cgroup: typeof cgroup === 'string' ? cgroup : undefined,
        umask: record.spec.umask,
      },
      started: (child) => {
        if (writer !== undefined && child.stdout) writer.attach(child.stdout);
      },
    };
  }

  /** Reopens every log file, for an external logrotate. */
  reopenLogs(): void {
    this.logs.reopenAll();
  }

  stopTimeoutMs(record: DaemonRecord): number {
    return record.spec.stopTimeoutMs ?? this.settings.stopTimeoutMs;
  }

  /** Saves the state soon after each change. */
  changed(): void {
    this.state.schedule();
  }

  cgroupOf(record: DaemonRecord): string | undefined {
    return this.cgroups && join(this.cgroups.base, record.id);
  }

  forgotten(record: DaemonRecord): void {
    if (this.cgroups) removeCgroup(this.cgroups, record.id);
    this.configFiles.delete(record.id);
    this.logs.close(record.id);
    this.log.info(`${record.id}: config file gone and daemon stopped; forgotten`);
  }

  private recoveryFrom(saved: SavedState | undefined): Recovery {
    return new Recovery(
      saved,
      this.supervisor,
      this.reaper,
      (record, pipe) => this.adoptPipe(record, pipe),
      (record) => this.cgroupOf(record),
      this.log,
    );
  }

  private adoptPipe(record: DaemonRecord, pipe: Socket): void {
    const owner = this.ownerTable.get(record.owner);
    if (!owner || record.spec.output !== 'log') return void pipe.resume();
    const writer = this.logs.writerFor(owner, record.id, record.spec);
    if ('error' in writer) pipe.resume();
    else writer.attach(pipe);
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

  private policyFor(mode: Mode): Policy {
    if (mode.kind === 'personal') return personalPolicy(mode.user);
    const { policy, problems } = resolvePolicy(mode.config, {
      hasUser: (name) => this.db.users.has(name),
      membersOf: (group) => membersOf(this.db, group),
    });
    for (const problem of problems) this.log.warn(formatProblem(problem));
    return policy;
  }

  /** Owners are root (system mode) and every user allowed to run daemons. */
  private syncOwners(): void {
    const wanted = new Map<string, Owner>();
    const candidates =
      this.mode.kind === 'personal' ? [this.mode.user] : [ROOT, ...this.currentPolicy.runAs.keys()];
    for (const name of candidates) {
      const account = this.db.users.get(name);
      if (!account || !mayRunDaemons(this.currentPolicy, name)) continue;
      const settings =
        this.mode.kind === 'personal'
          ? {
              ...this.settings,
              daemonPathDaemonRoot: this.settings.daemonPathDaemon,
              daemonPathLogRoot: this.settings.daemonPathLog,
            }
          : this.settings;
      wanted.set(name, makeOwner(account, this.db, settings));
    }
    for (const [name] of this.ownerTable) {
      if (wanted.has(name)) continue;
      this.log.warn(`${name} may no longer run daemons; stopping theirs`);
      for (const record of [...this.supervisor.daemons.values()])
        if (record.owner === name) {
          this.supervisor.stop(record);
          this.supervisor.forget(record);
        }
      this.problems.clear(name);
      this.broken.clear(name);
      this.loggedProblems.delete(name);
    }
    this.ownerTable.clear();
    for (const [name, owner] of wanted) this.ownerTable.set(name, owner);
  }

  private async syncSockets(): Promise<void> {
    const users =
      this.mode.kind === 'personal'
        ? [this.mode.user]
        : [ROOT, ...this.currentPolicy.runAs.keys(), ...this.currentPolicy.manages.keys()];
    const wanted = new Set(
      users.filter(
        (user) =>
          this.db.users.has(user) && (user === ROOT || mayUseManager(this.currentPolicy, user)),
      ),
    );
    for (const user of this.control.users()) if (!wanted.has(user)) this.control.close(user);
    for (const user of wanted) {
      const account = this.db.users.get(user);
      if (!account) continue;
      try {
        await this.control.open(account, this.handedOver?.sockets[user]);
      } catch (error) {
        this.log.error(`cannot open the control socket of ${user}: ${(error as Error).message}`);
      }
    }
  }

  private scanOwner(owner: Owner, tally: RescanTally): void {
    const user = owner.account.name;
    const dirProblems = createOwnerDirs(owner);
    const listing = listConfigNames(owner);
    this.problems.clear(user);
    this.problems.set(user, owner.daemonDir, [...dirProblems, ...listing.problems]);
    if (listing.badNames > 0)
      tally.refuse(`${listing.badNames} *.conf files of ${user} (names a daemon cannot have)`);
    // A listing that failed says nothing of deleted files: running daemons stay until the
    // directory can be read again (an NFS home back, a mode fixed).
    const present = new Set(listing.names);
    if (!listing.failed) this.broken.keepOnly(user, present);
    for (const record of [...this.supervisor.daemons.values()])
      if (record.owner === user && !listing.failed && !present.has(record.spec.name)) {
        if (!record.orphaned) tally.remove(record.id);
        this.supervisor.forget(record);
      }
    for (const name of listing.names) {
      const loaded = loadConfig(owner, name);
      const problems = this.judged(user, loaded);
      const id = `${user}/${name}`;
      this.problems.set(user, loaded.file, problems);
      // A file that breaks keeps its daemon listed, as broken, with why.
      this.broken.note(user, name, loaded.file, problems);
      if (hasErrors(problems)) tally.refuse(id);
      const existing = this.supervisor.daemons.get(id);
      if (loaded.spec === undefined) continue;
      this.configFiles.set(id, loaded.file);
      if (existing === undefined) {
        this.recovery.introduce(newRecord(user, loaded.spec));
        tally.add(id);
      } else if (existing.orphaned || !sameSpec(existing.spec, loaded.spec)) {
        existing.orphaned = false;
        existing.spec = loaded.spec;
        const running = existing.state.kind === 'running' || existing.state.kind === 'coolingdown';
        if (running) {
          this.log.info(`${id}: config changed; restarting`);
          this.supervisor.restart(existing);
        }
        tally.change(id, running);
      }
    }
    this.logNewProblems(user);
  }

  /** A loaded config's problems, and whether `user`'s daemon may run as the user it asks for. */
  private judged(user: string, loaded: LoadedConfig): readonly Problem[] {
    return judgeConfig(loaded, user, this.currentPolicy, (name) => this.db.users.has(name));
  }

  /**
   * Logs a user's problems for the admin as they appear: a user rescanning in a loop
   * must not fill the manager's log with the same lines (and the board keeps at most a
   * hundred per user).
   */
  private logNewProblems(user: string): void {
    const lines = this.problems.formatted([user]);
    const before = this.loggedProblems.get(user);
    for (const line of lines) if (!before?.has(line)) this.log.warn(`${user}: ${line}`);
    this.loggedProblems.set(user, new Set(lines));
  }

  private setProblems(user: string, file: string, problems: readonly Problem[]): void {
    this.problems.set(user, file, problems);
    for (const problem of problems) this.log.debug(formatProblem(problem));
  }
}

function sameSpec(a: DaemonSpec, b: DaemonSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
