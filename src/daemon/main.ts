import {
  existsSync,
  fstatSync,
  lstatSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  masterConfigPath,
  personalSocketPath,
  readMasterConfig,
  systemSocketPath,
  trustedSocketDir,
  untrustedPlace,
  untrustedRootPaths,
} from '../config/locate.ts';
import { formatProblem } from '../config/problems.ts';
import { DEFAULT_SETTINGS, type Settings } from '../config/settings.ts';
import { KeeperLink } from '../keeper/link.ts';
import type { Logger } from '../logging/logger.ts';
import { openLog, ownLogFile } from '../logging/open.ts';
import { foreignSocket } from '../logging/targets.ts';
import { thawAll } from '../process/cgroup-freeze.ts';
import { managerHolding, strayKeepers } from '../process/lock-holder.ts';
import { findBuilt, loadNative, type Native } from '../process/native.ts';
import { readStat } from '../process/proc-stat.ts';
import { Reaper } from '../process/reaper.ts';
import { StateFile } from '../state/state-file.ts';
import { loadSendDatagram } from '../systemd/datagram.ts';
import { notifier } from '../systemd/notify.ts';
import {
  GROUP_FILE,
  PASSWD_FILE,
  readNameServiceAsync,
  withLocalFilesNow,
} from '../users/accounts.ts';
import { GetentFailed } from '../users/getent.ts';
import { VERSION } from '../version.ts';
import { parseManagerArgs, USAGE } from './args.ts';
import { checkConfiguration } from './check.ts';
import { daemonize, launcherPipe, tellLauncher, tellLauncherFailed } from './daemonize.ts';
import {
  HANDSHAKE_FD,
  joinPredecessor,
  LOCK_FD,
  type Predecessor,
  startSuccessor,
} from './handover.ts';
import { closeInheritedDescriptors } from './inherited-fds.ts';
import { Manager, type Mode } from './manager.ts';
import { ensurePrivateDir, makeRootDir } from './prepare-dirs.ts';
import { markShuttingDown, shuttingDownPid } from './shutting-down.ts';
import { type QueuedSignal, SignalQueue } from './signal-queue.ts';
import { type SocketsLock, socketsLockHolder, takeSocketsLock } from './sockets-lock.ts';
import { type DescriptorLimit, startupFailure } from './startup-failure.ts';

// How long the keeper may take to answer before an upgrade is refused (see `upgrade`).
const KEEPER_ANSWER_MS = 5_000;
// How long new code may take to be ready to take over before the upgrade is refused.
const SUCCESSOR_TIMEOUT_MS = 60_000;
// How long an exiting manager waits for a busy log (syslog, a full pipe) to take its last lines.
const LAST_WORDS_MS = 2_000;

// How long after start-up (or a reload) the memory is trimmed at the latest, launches over or not.
const SETTLE_WAIT_MS = 60_000;

// The open-files limit once raised, for the message of a start-up that runs out anyway.
let descriptorLimit: DescriptorLimit | undefined;

/** The pipe of the launcher that started this manager in the background, if one did. */
let launcher: number | undefined;

async function main(signals: SignalQueue): Promise<number> {
  launcher = launcherPipe();
  const args = parseManagerArgs(process.argv.slice(2));
  if ('error' in args)
    return fail(`daemon-manager: ${args.error}\n(daemon-manager --help lists the options)`, 2);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`daemon-manager ${VERSION}\n`);
    return 0;
  }
  if (args.check) return await checkConfiguration(args);
  // Everything the manager creates (sockets before they are handed over, state) is private.
  process.umask(0o077);

  const me = userInfo();
  let mode: Mode;
  let settings: Settings;
  let socketPathFor: (user: string) => string;
  let configPath: string | undefined;
  if (args.personal) {
    const home = me.homedir;
    settings = {
      ...DEFAULT_SETTINGS,
      stateDir: join(home, '.daemon-manager', 'state'),
      socketDir: join(home, '.daemon-manager'),
    };
    mode = { kind: 'personal', user: me.username, settings };
    socketPathFor = () => personalSocketPath(home);
  } else {
    if (process.geteuid?.() !== 0)
      return fail(
        'daemon-manager: the system manager runs as root; use --personal to run your own daemons',
      );
    configPath = masterConfigPath(args.config, process.env);
    if (configPath === undefined)
      return fail(
        'daemon-manager: no master config (/etc/daemon-manager/daemon-manager.conf); use --config FILE or --personal',
      );
    const read = readMasterConfig(configPath);
    if (!('config' in read)) return fail(read.problems.map(formatProblem).join('\n'));
    settings = read.config.settings;
    mode = { kind: 'system', config: read.config };
    socketPathFor = (user) => systemSocketPath(settings, user);
    for (const problem of read.problems) process.stderr.write(`${formatProblem(problem)}\n`);
  }

  // The directories above them first: nothing is made below one another user may move.
  const above =
    mode.kind === 'system' ? untrustedRootPaths(settings, process.geteuid?.() ?? 0, false) : [];
  if (above.length > 0) return fail(above.map((doubt) => `daemon-manager: ${doubt}`).join('\n'));
  // A socket-dir another config's manager (or the keeper it left) holds refuses this one
  // (see takeSocketsLock), before a new state directory is made for it: one was left made,
  // with a lock and a log (an outside review, 45a, F6). The lock is taken further on.
  if (mode.kind === 'system' && !args.takeover && !existsSync(settings.stateDir)) {
    const held = socketsLockHolder(settings.socketDir, settings.stateDir, true);
    if (held !== undefined && held !== 'own') return fail(`daemon-manager: ${held}`);
  }
  for (const [dir, mode_] of [
    [settings.socketDir, 0o755],
    [settings.stateDir, 0o700],
  ] as const) {
    const problem = ensurePrivateDir(dir, mode_, mode.kind === 'system');
    if (problem !== undefined) return fail(`daemon-manager: ${problem}`);
  }
  // Root's daemon and log directories too, each made as judged (see makeRootDir).
  if (mode.kind === 'system')
    for (const dir of [settings.daemonPathDaemonRoot, settings.daemonPathLogRoot]) {
      const problem = makeRootDir(dir);
      if (problem !== undefined) return fail(`daemon-manager: ${problem}`);
    }
  // Where the manager writes as root: below directories no other user may move.
  const untrusted =
    mode.kind === 'system' ? untrustedRootPaths(settings, process.geteuid?.() ?? 0) : [];
  if (untrusted.length > 0)
    return fail(untrusted.map((doubt) => `daemon-manager: ${doubt}`).join('\n'));
  // dmctl asks only in a socket-dir that only root could have made: nor does the manager
  // make its sockets where another user could move them away and put theirs instead.
  const socketDir =
    mode.kind === 'system'
      ? trustedSocketDir(settings.socketDir, process.geteuid?.() ?? 0)
      : undefined;
  if (socketDir !== undefined && 'doubt' in socketDir)
    return fail(
      `daemon-manager: socket-dir ${settings.socketDir}: ${socketDir.doubt}; another user could put their sockets in place of the manager's`,
    );
  const pidfileProblem = args.pidfile === undefined ? undefined : pidfileRefusal(args.pidfile);
  if (pidfileProblem !== undefined) return fail(`daemon-manager: ${pidfileProblem}`);
  // The pidfile (replaced at each start and upgrade) and the syslog socket (every user's
  // lines go there) are root's places too: below a directory of another user's, that user
  // chose where root wrote a file, and who read the log (an outside review, 39a, F4, F6).
  for (const [name, path] of [
    ['--pidfile', args.pidfile],
    ['--syslog', args.syslog],
  ] as const) {
    const doubt =
      path === undefined ? undefined : untrustedPlace(name, path, process.geteuid?.() ?? 0, false);
    if (doubt !== undefined) return fail(`daemon-manager: ${doubt}`);
  }
  const foreignLog =
    args.syslog === undefined ? undefined : foreignSocket(args.syslog, process.geteuid?.() ?? 0);
  if (foreignLog !== undefined)
    return fail(
      `daemon-manager: --syslog ${args.syslog}: ${foreignLog}; that user would read every line of the manager's log`,
    );
  const sharedPidfile = args.pidfile === undefined ? undefined : pidfileShared(args.pidfile);
  if (sharedPidfile !== undefined) return fail(`daemon-manager: ${sharedPidfile}`);
  const native = loadNative();
  // A low soft limit under a higher hard one is a shell's or an init's default (1024),
  // not a choice: the manager holds a few descriptors per daemon, and takes the hard
  // limit, as systemd's own daemons do. Daemons do not get more than before: the keeper
  // raised its own limit so already, and they inherit the keeper's, or their limit-nofile.
  descriptorLimit = native.raiseDescriptorLimit();
  signals.adoptEarly(native.takeEarlySignals());
  const lock = args.takeover
    ? takeoverLock(native, settings.stateDir)
    : await takeLock(native, settings.stateDir, signals.stopComing);
  // A SIGTERM or SIGINT while it waited for the lock: a start that never happened (an
  // outside review, 27b, F2: it waited on, and exited 1).
  if (typeof lock === 'object') {
    process.stderr.write(
      `daemon-manager: ${lock.stopped} came while it waited for the lock: not started\n`,
    );
    return 0;
  }
  if (typeof lock === 'string') return fail(lock);
  if (!args.foreground && !args.takeover) {
    // The manager in the background takes the lock itself: this one lets it go.
    native.closeFd(lock);
    return daemonize(ownLogFile(settings.stateDir));
  }
  closeInheritedDescriptors(
    new Set([lock, ...(args.takeover ? [HANDSHAKE_FD] : []), ...(launcher ? [launcher] : [])]),
  );
  // One manager per socket-dir too (see sockets-lock.ts). Taken over, the keeper hands it on.
  const takeSockets = (): SocketsLock =>
    takeSocketsLock(native, settings.socketDir, settings.stateDir);
  let socketsLock = mode.kind === 'system' && !args.takeover ? takeSockets() : undefined;
  // Held by a keeper on its way out (killed as this manager starts): free within moments.
  for (
    let tries = 0;
    tries < EXITING_HOLDER_MS / 100 &&
    typeof socketsLock === 'object' &&
    'refusal' in socketsLock &&
    socketsLock.passing === true;
    tries++
  ) {
    await delay(100);
    socketsLock = takeSockets();
  }
  if (typeof socketsLock === 'object' && 'refusal' in socketsLock)
    return fail(`daemon-manager: ${socketsLock.refusal}`);

  const send = loadSendDatagram();
  const log = openLog(
    {
      ...args,
      ownFile: ownLogFile(settings.stateDir),
      // The manager's own file always rotates: nothing else does it for this one.
      rotation: {
        maxBytes: settings.logMaxBytes || DEFAULT_SETTINGS.logMaxBytes,
        keep: settings.logKeep,
      },
    },
    send,
    process.env,
  );
  const notify = notifier(send, process.env.NOTIFY_SOCKET, (message) => log.debug(message));
  process.on('uncaughtException', (error) => log.error(`unexpected: ${error.stack ?? error}`));
  // Read before a new code says it is ready: a name service that does not answer (getent
  // waits up to its deadline) then refuses the upgrade while the old manager serves, where
  // read after the old one let go it left every user unanswered and every daemon
  // unrespawned for 30 s, and a SIGTERM sent meanwhile was lost (an outside review).
  // Read so that a SIGTERM or SIGINT meanwhile ends the start at once, one that never
  // happened: it waited for getent's 30 s deadline (an outside review, 19b: 22-27 s).
  const read = await readNameServiceAsync(signals.stopComing);
  if ('failure' in read && read.abandoned) {
    log.info(`${signals.stopComing.reason} came while ${read.command} ran: not started`);
    return 0;
  }
  // Just after it, the same (an outside review, 20b: every daemon started, one-shot tasks
  // run, then all stopped again, for a SIGTERM 0.15 s after the launch).
  if (signals.stopComing.aborted) {
    log.info(`${signals.stopComing.reason} came before the manager ran: not started`);
    return 0;
  }
  if ('failure' in read) throw new GetentFailed(read.failure);
  const accounts = read;
  let predecessor: Predecessor | undefined;
  if (args.takeover) {
    // Everything that could fail in the new code has run: the old manager may let go.
    predecessor = joinPredecessor();
    const word = await predecessor.ready(() =>
      // The old manager is the parent; a parent gone (pid 1 adopted it) is no manager.
      log.info(
        process.ppid > 1
          ? `the new code is ready; waiting for the manager (pid ${process.ppid}) to let go`
          : 'the new code is ready, but the manager that started it is gone',
      ),
    );
    if (word === 'abort') {
      log.info('upgrade called off by the running manager; this new one exits');
      return 0;
    }
    if (word === 'gone') log.warn('the running manager died before it let go; taking over');
    else log.info(`taking over from the manager that ran until now (pid ${process.ppid})`);
  }
  const stateFile = new StateFile(settings.stateDir);
  const loaded = stateFile.load();
  if (loaded !== undefined && 'error' in loaded) log.warn(loaded.error);
  const saved = loaded !== undefined && 'error' in loaded ? loaded.state : loaded;
  startReaping(native, log);
  const keeperSocket = join(settings.stateDir, 'keeper.sock');
  const attachKeeper = () =>
    KeeperLink.attach(native, findBuilt('dm-keeper'), keeperSocket, (text) => log.warn(text));
  const { link, snapshot } = await attachKeeper();
  log.info(
    snapshot.existing
      ? `attached to the keeper of daemons, pid ${link.keeperPid} (${snapshot.runs.length} runs kept)`
      : `started the keeper of daemons, pid ${link.keeperPid}`,
  );
  // Without it, the keeper's runs are taken over, but what was stopped by hand is not
  // known: autostart decides (an outside review deleted it, and nothing said why).
  if (snapshot.existing && loaded === undefined)
    log.warn(
      `no saved state (${stateFile.path} is missing) though the keeper kept ${snapshot.runs.length} runs: daemons stopped before are started again if their autostart says so`,
    );
  // An outside review deleted the state directory, then kill -9'd the manager: the next
  // one made a new directory and keeper, found every user locked, and left all the
  // daemons unsupervised without a word that said why.
  for (const stray of strayKeepers(keeperSocket, link.keeperPid, process.getuid?.() ?? 0))
    log.error(
      `a keeper of ${settings.stateDir} from before (pid ${stray}) still runs without its socket (was the directory deleted?): its daemons cannot be taken over, and their users are left to it. Kill it (kill -9 ${stray}: a keeper keeps SIGTERM for its manager; daemons with output=log die with it) and send SIGHUP: what survives in its cgroups is stopped and started afresh`,
    );
  const manager = new Manager({
    mode,
    // The local files as they are now (an upgrade's hand-over came in between).
    accounts: { ...accounts, db: withLocalFilesNow(accounts.others) },
    settings,
    log,
    socketPathFor,
    saved,
    link,
    snapshot,
    bind: (path, backlog) => native.listenUnix(path, backlog),
    peers: {
      uid: (fd) => native.peerUid(fd),
      gone: (fd) => native.peerGone(fd),
      refuseDescriptors: (fd) => native.refusePassedDescriptors(fd),
    },
    bindTcp: (host, port, backlog) => native.listenTcp(host, port, backlog),
    notifySockets: {
      bindNotify: (path, uid, gid) => native.bindNotify(path, uid, gid),
      watchNotify: (fd, onMessage) => native.watchNotify(fd, onMessage),
      closeFd: (fd) => native.closeFd(fd),
    },
    newKeeper: attachKeeper,
    ...(mode.kind === 'system'
      ? {
          socketsLock: {
            ...(typeof socketsLock === 'object' ? { taken: socketsLock.fd } : {}),
            take: takeSockets,
          },
        }
      : {}),
    // Later, once the keeper runs: daemons it holds are taken over (and then stopped by
    // the queued signal), none is started.
    stopComing: signals.stopComing,
  });
  await manager.begin();
  const refusal = mode.kind === 'personal' ? manager.lockRefusal(mode.user) : undefined;
  if (refusal !== undefined) {
    // A personal manager is for one user: if another manager runs their daemons, it has none.
    await manager.shutdown();
    manager.finishCleanly();
    return fail(`daemon-manager: ${refusal}`);
  }
  predecessor?.done();
  if (args.pidfile !== undefined) {
    const unwritten = writePidfile(args.pidfile);
    if (unwritten !== undefined) {
      log.error(unwritten);
      await manager.shutdown();
      manager.finishCleanly();
      return fail(`daemon-manager: ${unwritten}`);
    }
  }
  log.info(
    `daemon-manager ${mode.kind === 'personal' ? `(personal, for ${mode.user}) ` : ''}running, pid ${process.pid}`,
  );
  tellLauncher(launcher);
  // A daemon frozen for a move of its processes is never left frozen by an exit (cgroup-freeze.ts).
  process.on('exit', thawAll);
  handleSignals(signals, {
    manager,
    native,
    log,
    configPath,
    pidfile: args.pidfile,
    lock,
    notify,
    stateDir: settings.stateDir,
  });
  notify(`READY=1\nSTATUS=running ${manager.supervisor.daemons.size} daemons`);
  // Start-up's reading and parsing left garbage whose pages V8 and glibc keep for later
  // allocations: the manager then idles for months, so both give them back now, and
  // again once the daemons' launches, which go on after, are over.
  setImmediate(() => native.trimMemory());
  trimWhenSettled(manager, native);
  return -1;
}

/**
 * Gives back the memory a burst of work left (start-up, a reload: configs read and parsed,
 * daemons launched, logged and saved) once the launches it made are over (a thousand take
 * seconds) and saved. A crash loop may keep launches under way for good: then at
 * SETTLE_WAIT_MS. The trim is a full GC: not after a user's `dmctl rescan`, which a user
 * may ask in a loop, only after what root asks.
 */
function trimWhenSettled(manager: Manager, native: Native): void {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, SETTLE_WAIT_MS);
    timer.unref();
  });
  void Promise.race([manager.settled(), waited]).then(() => {
    clearTimeout(timer);
    native.trimMemory();
  });
}

/**
 * Writes the pidfile beside itself and renames it into place: a symlink planted at its
 * path (in /tmp, say) is replaced, never followed into a file of root's. Returns why
 * not, if it could not.
 */
function writePidfile(path: string): string | undefined {
  const temporary = `${path}.${process.pid}.new`;
  try {
    rmSync(temporary, { force: true });
    writeFileSync(temporary, `${process.pid}\n`, { mode: 0o644, flag: 'wx' });
    renameSync(temporary, path);
    return undefined;
  } catch (error) {
    rmSync(temporary, { force: true });
    return `cannot write the pidfile ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
}

/** Why a pidfile cannot go where asked (its directory missing), before anything starts. */
function pidfileRefusal(path: string): string | undefined {
  try {
    if (!statSync(dirname(path)).isDirectory())
      return `cannot write the pidfile ${path}: ${dirname(path)} is not a directory`;
  } catch (error) {
    return `cannot write the pidfile ${path}: ${dirname(path)} (${(error as NodeJS.ErrnoException).code})`;
  }
  // The pidfile is renamed into place and removed at exit: what is there must be a file
  // (or a link, which is replaced, never followed). `--pidfile /dev/null` replaced the
  // device, and the exit then removed it.
  try {
    const there = lstatSync(path);
    if (!there.isFile() && !there.isSymbolicLink())
      return `cannot write the pidfile ${path}: it exists and is not a regular file`;
  } catch {
    // Nothing there yet.
  }
  return undefined;
}

/**
 * Root's pidfile in a directory others may write (/tmp, sticky or not): while no manager
 * runs, anybody could put a pid of their choosing there for root's logrotate to signal
 * (an outside review, 42b, Low).
 */
function pidfileShared(path: string): string | undefined {
  const mode = statSync(dirname(path)).mode;
  if (process.geteuid?.() !== 0 || (mode & 0o022) === 0) return undefined;
  return `cannot write the pidfile ${path}: ${dirname(path)} may be written by others (mode ${(mode & 0o7777).toString(8)}), who could put a pid of their choosing there while no manager runs; use a directory only root writes, such as /run`;
}

/** Removes the pidfile at exit, if it is still this manager's (not a successor's, not a device). */
function removePidfile(path: string): void {
  try {
    if (lstatSync(path).isFile() && readFileSync(path, 'utf8').trim() === String(process.pid))
      rmSync(path, { force: true });
  } catch {
    // Gone already.
  }
}

/**
 * How long a lock held by a manager that is exiting (killed -9: its first thread ended,
 * its others not yet, and they hold its descriptors), or a socket-dir's held by a keeper
 * that is, is waited for.
 */
const EXITING_HOLDER_MS = 5_000;
/**
 * How long a manager waits for one shutting down to exit (see shutting-down.ts): refused
 * at once, "already running", it left the host with no manager and no daemon a moment
 * later (an outside review, 74b, F4: 19 of 19 starts during a 4 s shutdown).
 */
const SHUTTING_DOWN_MS = 60_000;

/**
 * The instance lock: one manager per state directory, whatever its config or mode.
 * `stopped` names the signal that ended a wait for it.
 */
async function takeLock(
  native: Native,
  stateDir: string,
  stopComing: AbortSignal,
): Promise<number | string | { stopped: string }> {
  const path = join(stateDir, 'manager.lock');
  // From when its holder is first seen exiting (after a shutdown waited for, too).
  let deadline = Number.POSITIVE_INFINITY;
  const shutdownDeadline = Date.now() + SHUTTING_DOWN_MS;
  let said = false;
  let saidShutdown = false;
  for (;;) {
    const taken = tryLock(native, path, stateDir, said || saidShutdown);
    // Its keeper, which holds the lock too, may let go a moment after it: still its
    // shutdown, waited for (an outside review, 75b, F3: refused "already running" then).
    if (typeof taken === 'string' && saidShutdown && Date.now() <= shutdownDeadline) {
      if (stopComing.aborted) return { stopped: String(stopComing.reason) };
      await delay(100);
      continue;
    }
    if (typeof taken !== 'object') return taken;
    if (stopComing.aborted) return { stopped: String(stopComing.reason) };
    if ('shuttingDown' in taken) {
      if (Date.now() > shutdownDeadline)
        return `daemon-manager: another manager is running (pid ${taken.shuttingDown}) with state directory ${stateDir}, shutting down still ${SHUTTING_DOWN_MS / 1000} s later (its daemons' stop timeouts); start this one once it has exited`;
      if (!saidShutdown)
        process.stderr.write(
          `daemon-manager: the manager running (pid ${taken.shuttingDown}) is shutting down: waiting up to ${SHUTTING_DOWN_MS / 1000} s for it to exit\n`,
        );
      saidShutdown = true;
      await delay(100);
      continue;
    }
    if (!said) {
      process.stderr.write(
        `daemon-manager: waiting for the manager before it (pid ${taken.exiting}), which is exiting, to let go of ${path}\n`,
      );
      deadline = Date.now() + EXITING_HOLDER_MS;
    }
    said = true;
    // A manager started at once after a kill -9 of the one before was refused: "another
    // manager is already running", naming none (a full run of the tests).
    if (Date.now() > deadline)
      return `daemon-manager: the manager that held ${path} is exiting and still holds it ${EXITING_HOLDER_MS / 1000} s later`;
    await delay(20);
  }
}

/** One try at the instance lock; `exiting` names its holder if that is a process that is exiting. */
function tryLock(
  native: Native,
  path: string,
  stateDir: string,
  /** Its holder was seen exiting before: one not found now (its entry in /proc/locks going with it) still is. */
  exiting: boolean,
): number | string | { exiting: number } | { shuttingDown: number } {
  try {
    return native.lockFile(path);
  } catch (error) {
    const taker = (error as { holder?: number }).holder ?? 0;
    const state = taker > 0 ? readStat(taker)?.state : undefined;
    if (
      (error as NodeJS.ErrnoException).code === 'EAGAIN' &&
      (state === 'Z' || (exiting && state === undefined))
    )
      return { exiting: taker };
    // Only a manager of this uid could have locked this state directory.
    const holder = managerHolding((error as { holder?: number }).holder, [process.getuid?.() ?? 0]);
    // Its holder as the lock names it: one exiting may no longer be told a manager.
    if ((error as NodeJS.ErrnoException).code === 'EAGAIN' && taker > 0)
      if (shuttingDownPid(stateDir) === taker) return { shuttingDown: taker };
    // EWOULDBLOCK is EAGAIN on Linux, and named so.
    if ((error as NodeJS.ErrnoException).code === 'EAGAIN')
      return `daemon-manager: another manager is already running${holder ? ` (pid ${holder})` : ''} with state directory ${stateDir}`;
    return `daemon-manager: cannot lock ${path}: ${(error as Error).message}`;
  }
}

/** The lock of the manager this one takes over from, passed on a descriptor (handover.ts). */
function takeoverLock(native: Native, stateDir: string): number | string {
  const held = inheritedLock(LOCK_FD, stateDir);
  if (held === LOCK_FD) native.setCloexec(LOCK_FD, true);
  return held;
}

/** `fd`, if it is the instance lock of `stateDir` (the file at its path); else why not. */
function inheritedLock(fd: number, stateDir: string): number | string {
  try {
    const held = fstatSync(fd);
    const file = statSync(join(stateDir, 'manager.lock'));
    if (held.ino !== file.ino || held.dev !== file.dev) throw new Error('not the instance lock');
    return fd;
  } catch (error) {
    return `daemon-manager: --takeover without the instance lock of ${stateDir} (${(error as Error).message})`;
  }
}

/** Makes the manager the reaper of what its keeper's death would orphan, and reaps it. */
function startReaping(native: Native, log: Logger): void {
  try {
    native.setSubreaper();
  } catch (error) {
    log.warn(`cannot become a child subreaper (${(error as Error).message}); orphans go to init`);
  }
  new Reaper(native).install();
}

interface Running {
  readonly manager: Manager;
  readonly native: Native;
  readonly log: Logger;
  readonly configPath: string | undefined;
  readonly pidfile: string | undefined;
  readonly lock: number;
  /** Where `shutting-down` says a shutdown is under way (see takeLock). */
  readonly stateDir: string;
  /** Tells systemd (sd_notify) when the manager reloads and stops. */
  readonly notify: (state: string) => void;
}

/**
 * The upgrade: the code on disk now is started as a new manager, which takes over once it
 * is ready (see handover.ts). Refused, with the reason, if it is not, or if the state
 * cannot be saved; the new process's pid is the manager's from then on.
 */
async function upgrade(
  { manager, log, configPath, lock, notify }: Running,
  signals: SignalQueue,
): Promise<void> {
  log.info(`SIGUSR2: upgrading: starting ${process.argv[1]} to take over (daemons keep running)`);
  // Its state directory deleted (or replaced) since it started: the new code cannot take
  // the instance lock over, and it made the directory again, empty, before it ended: the
  // refusal named no cause, and the saves that failed since (said) went on unsaid, the
  // lock and the keeper's socket still gone (an outside review, 48a, F2).
  const stateDir = manager.settings.stateDir;
  if (inheritedLock(lock, stateDir) !== lock) {
    log.error(
      `upgrade refused: the state directory ${stateDir} was deleted or replaced since the manager started (its manager.lock is not the file the manager holds): the new code could not take over from it; stop and start the manager to make it again (its daemons go on meanwhile)`,
    );
    return;
  }
  if (configPath !== undefined) {
    const read = readMasterConfig(configPath);
    if (!('config' in read)) {
      log.error(
        `upgrade refused, the master config does not parse: ${read.problems.map(formatProblem).join('; ')}`,
      );
      return;
    }
    // A state-dir changed by a reload applies at a start only (the new code takes over in
    // this one); a socket-dir, where no other config's manager or keeper holds it: the new
    // code made its sockets in that manager's place, and that config's dmctl reached this
    // one (an outside review, 47b, F3).
    const { socketDir } = read.config.settings;
    if (read.config.settings.stateDir !== stateDir) {
      log.error(
        `upgrade refused: the master config names another state-dir (${read.config.settings.stateDir}), which applies only once the manager is stopped and started`,
      );
      return;
    }
    // Its own socket-dir too: deleted and made again (its lock gone with it), another
    // config's manager may hold it now, and the new code made its sockets there (48a, F1).
    // Its own lock is told by the pids holding it (with its state directory deleted, the
    // lock's path no longer names it: c84f223).
    const held = socketsLockHolder(socketDir, stateDir, true, [process.pid, manager.keeperPid]);
    if (held !== undefined && held !== 'own') {
      log.error(`upgrade refused: ${held}`);
      return;
    }
  }
  const successor = await startSuccessor(
    process.argv.slice(1),
    lock,
    SUCCESSOR_TIMEOUT_MS,
    signals.stopComing,
  );
  if ('error' in successor && signals.stopComing.aborted) {
    log.warn(`upgrade called off: ${signals.stopComing.reason} came meanwhile`);
    return;
  }
  if ('error' in successor) {
    log.error(`upgrade refused: ${successor.error}`);
    return;
  }
  if (signals.pending.length > 0) {
    successor.abort();
    log.warn(`upgrade called off: ${signals.pending.join(', ')} came meanwhile`);
    return;
  }
  // A keeper that does not answer now would not answer the new code's hello either: it
  // would die of it, after the old one let go (an outside review, a keeper stopped 15 s).
  const silence = await manager.keeperSilence(KEEPER_ANSWER_MS);
  if (silence !== undefined) {
    successor.abort();
    log.error(
      `upgrade refused: ${silence} The running manager goes on; send SIGUSR2 again once it answers`,
    );
    return;
  }
  log.info(`the new code is ready (pid ${successor.pid}); handing over`);
  if (!(await manager.handOver())) {
    successor.abort();
    await manager.takeBack();
    log.error('upgrade refused: the state could not be saved (see above)');
    return;
  }
  // From now on the new process acts on the manager's signals, for as long as it runs.
  signals.forwardTo((signal) => successor.signal(signal));
  const outcome = await successor.go();
  if (outcome === 'done') {
    // systemd follows the manager to its new pid (the unit's main process).
    notify(`MAINPID=${successor.pid}`);
    log.info(`upgrade done: the manager runs as pid ${successor.pid} now`);
    // systemd reads the new main pid before it sees this one exit; a moment more is cheap.
    setTimeout(() => void log.drain(LAST_WORDS_MS).then(() => process.exit(0)), 100);
    return;
  }
  signals.forwardTo(undefined);
  log.error(
    outcome === 'gone'
      ? `the new code (pid ${successor.pid}) ended before it was let go; going on with the old`
      : `upgrade refused: the new code (pid ${successor.pid}) ended while taking over (its reason is above); going on with the old`,
  );
  await manager.takeBack();
}

function handleSignals(signals: SignalQueue, running: Running): void {
  const { manager, log, configPath, pidfile, notify, stateDir } = running;
  let stopping = false;
  let upgrading = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    notify('STOPPING=1');
    log.info(`${signal}: stopping every daemon`);
    const unmarked = markShuttingDown(stateDir);
    if (unmarked !== undefined) log.warn(unmarked);
    manager.shutdown().then(() => {
      if (pidfile !== undefined) removePidfile(pidfile);
      // The mark stays to the end: taken away before the exit, a manager waiting for this
      // one was refused "already running" in between (an outside review, 75b, F3); the
      // next one takes it away, and finds the state saved clean.
      log.info('all daemons stopped; exiting');
      manager.finishCleanly();
      void log.drain(LAST_WORDS_MS).then(() => process.exit(0));
    });
  };
  const act = async (signal: QueuedSignal): Promise<void> => {
    switch (signal) {
      case 'SIGTERM':
      case 'SIGINT':
        stop(signal);
        return;
      case 'SIGUSR2':
        if (stopping || upgrading) {
          log.warn('SIGUSR2: an upgrade or a stop is already under way; ignored');
          return;
        }
        upgrading = true;
        await upgrade(running, signals);
        upgrading = false;
        return;
      case 'SIGUSR1':
        log.info('SIGUSR1: reopening every log file');
        log.reopen();
        manager.reopenLogs();
        return;
      case 'SIGHUP': {
        if (configPath === undefined) {
          log.info('SIGHUP: rescanning');
          void manager
            .rescan(manager.owners())
            .then(() => trimWhenSettled(manager, running.native));
          return;
        }
        const read = readMasterConfig(configPath);
        if (!('config' in read)) {
          log.error('SIGHUP: master config not reloaded, keeping the old one:');
          for (const problem of read.problems) log.error(formatProblem(problem));
          return;
        }
        // Judged as at the start: root's daemon and log directories (applied at a reload)
        // below another user's directory were used as they were (an outside review, 39a, F3).
        const untrusted = untrustedRootPaths(read.config.settings, process.geteuid?.() ?? 0);
        // Made now, each directory judged as it is made: checked here and made later by the
        // rescan, they were made in a directory a user put there meanwhile (see makeRootDir).
        const { daemonPathDaemonRoot, daemonPathLogRoot } = read.config.settings;
        if (untrusted.length === 0)
          for (const dir of [daemonPathDaemonRoot, daemonPathLogRoot]) {
            const problem = makeRootDir(dir);
            if (problem !== undefined) untrusted.push(problem);
          }
        if (untrusted.length > 0) {
          log.error('SIGHUP: master config not reloaded, keeping the old one:');
          for (const doubt of untrusted) log.error(doubt);
          return;
        }
        log.info(`SIGHUP: reloading ${configPath}`);
        notify('RELOADING=1');
        // Only root's SIGHUP waits on other name services (a user's change of /etc/passwd
        // reads the local files alone, see refreshAccounts), and the manager goes on
        // serving and respawning meanwhile; a stop does not wait for them.
        const accounts = await readNameServiceAsync(signals.stopComing);
        if ('failure' in accounts && accounts.abandoned) {
          log.info(
            `SIGHUP: reload abandoned: ${signals.stopComing.reason} came while ${accounts.command} ran`,
          );
          return;
        }
        if ('failure' in accounts)
          log.warn(
            `SIGHUP: ${accounts.failure}: users and groups of other sources kept as last read; ${PASSWD_FILE} and ${GROUP_FILE} read now`,
          );
        await manager
          .reload(read.config, 'failure' in accounts ? undefined : accounts)
          .catch((error: unknown) => log.error(`reload failed: ${error}`));
        notify('READY=1');
        trimWhenSettled(manager, running.native);
        return;
      }
    }
  };
  signals.deliverTo(act);
}

function fail(message: string, status = 1): number {
  process.stderr.write(`${message.trimEnd()}\n`);
  // The launcher says this, not the end of the log: that log is shared with the manager
  // that runs, and two started at once quoted the winner's lines as the loser's failure
  // (an outside review, 42c, F2).
  tellLauncherFailed(launcher, message);
  return status;
}

// Signal handlers come first: a signal that arrives while the manager starts (or
// re-executes itself in an upgrade) waits in the queue; it never kills the manager.
const signals = new SignalQueue();
main(signals).then(
  (code) => {
    if (code >= 0) {
      signals.release();
      process.exitCode = code;
    }
  },
  (error: unknown) => {
    process.stderr.write(`${startupFailure(error, descriptorLimit)}\n`);
    signals.release();
    // Exit now: what start-up opened (the keeper's link, sockets, timers) would keep
    // Node running, and a manager that does not run must not hold the instance lock (an
    // outside review saw one wait 12 minutes in epoll, a new one refused). The keeper
    // outlives it, with the daemons, for the next manager. stderr is written at once
    // (a file or a pipe, on Linux), so the line is not lost.
    process.exit(1);
  },
);
