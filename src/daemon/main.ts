import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import {
  masterConfigPath,
  personalSocketPath,
  readMasterConfig,
  systemSocketPath,
} from '../config/locate.ts';
import { formatProblem } from '../config/problems.ts';
import { DEFAULT_SETTINGS, type Settings } from '../config/settings.ts';
import { createLogger, type Logger } from '../logging/logger.ts';
import { ownLogWriter } from '../logging/own-log.ts';
import { loadNative, type Native } from '../process/native.ts';
import { Reaper } from '../process/reaper.ts';
import { StateFile } from '../state/state-file.ts';
import { loadAccounts } from '../users/accounts.ts';
import { parseManagerArgs, USAGE } from './args.ts';
import { checkConfiguration } from './check.ts';
import { answers, daemonize } from './daemonize.ts';
import { closeInheritedDescriptors } from './inherited-fds.ts';
import { Manager, type Mode } from './manager.ts';
import { ensurePrivateDir } from './prepare-dirs.ts';

async function main(): Promise<number> {
  const args = parseManagerArgs(process.argv.slice(2));
  if ('error' in args) return fail(`daemon-manager: ${args.error}\n${USAGE}`);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.check) return checkConfiguration(args);
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

  const stateFile = new StateFile(settings.stateDir);
  const saved = stateFile.load();
  const upgrading =
    saved !== undefined && !('error' in saved) && saved.handover?.pid === process.pid;
  const handedOver = upgrading
    ? Object.values({ ...saved.handover?.sockets, ...saved.handover?.pipes })
    : [];
  closeInheritedDescriptors(new Set(handedOver));
  const probe = socketPathFor(mode.kind === 'personal' ? mode.user : 'root');
  if (!upgrading && (await answers(probe)))
    return fail(`daemon-manager: another manager is already running (${probe} answers)`);
  for (const [dir, mode_] of [
    [settings.socketDir, 0o755],
    [settings.stateDir, 0o700],
  ] as const) {
    const problem = ensurePrivateDir(dir, mode_);
    if (problem !== undefined) return fail(`daemon-manager: ${problem}`);
  }
  if (!args.foreground)
    return daemonize(args.logFile ?? join(settings.stateDir, 'daemon-manager.log'), probe);

  const log = createLogger(args.verbose, ownLogWriter(args.logFile, settings));
  process.on('uncaughtException', (error) => log.error(`unexpected: ${error.stack ?? error}`));
  if (saved !== undefined && 'error' in saved) log.warn(saved.error);
  const native = loadNative();
  const manager: Manager = new Manager(
    mode,
    loadAccounts(),
    settings,
    log,
    socketPathFor,
    saved !== undefined && !('error' in saved) ? saved : undefined,
    startReaping(native, (pid: number): boolean => manager.supervisor.isMainProcess(pid), log),
  );
  await manager.begin();
  if (args.pidfile !== undefined) writeFileSync(args.pidfile, `${process.pid}\n`, { mode: 0o644 });
  handleSignals(manager, native, log, configPath, args.pidfile);
  log.info(
    `daemon-manager ${mode.kind === 'personal' ? `(personal, for ${mode.user}) ` : ''}running, pid ${process.pid}`,
  );
  return -1;
}

/** Makes the manager the reaper of its daemons' orphans, and reaps them. */
function startReaping(native: Native, isOwnChild: (pid: number) => boolean, log: Logger): Reaper {
  try {
    native.setSubreaper();
  } catch (error) {
    log.warn(`cannot become a child subreaper (${(error as Error).message}); orphans go to init`);
  }
  const reaper = new Reaper(native, isOwnChild);
  reaper.install();
  return reaper;
}

/**
 * The upgrade: hand the sockets and output pipes over, then re-execute the manager's
 * code from disk in this same process, which keeps its pid and so its children.
 */
async function upgrade(manager: Manager, native: Native, log: Logger): Promise<void> {
  log.info(`SIGUSR2: re-executing ${process.argv[1]} (upgrade; daemons keep running)`);
  // New code that does not even parse would end the manager right after the handover;
  // its daemons would survive unsupervised. Check it first.
  const check = spawnSync(process.execPath, ['--check', process.argv[1] ?? ''], {
    encoding: 'utf8',
  });
  if (check.status !== 0) {
    log.error(
      `upgrade refused, the new code does not load: ${(check.stderr || check.error?.message || '').trim()}`,
    );
    return;
  }
  try {
    await manager.handover(native);
    const argv = [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
    process.execve?.(process.execPath, argv, { ...process.env });
  } catch (error) {
    log.error(`upgrade failed, going on with the running code: ${(error as Error).message}`);
    manager.abandonHandover(native);
  }
}

function handleSignals(
  manager: Manager,
  native: Native,
  log: Logger,
  configPath: string | undefined,
  pidfile: string | undefined,
): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping every daemon`);
    manager.shutdown().then(() => {
      if (pidfile !== undefined) rmSync(pidfile, { force: true });
      log.info('all daemons stopped; exiting');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGUSR2', () => {
    if (stopping) return;
    stopping = true;
    upgrade(manager, native, log).finally(() => {
      stopping = false;
    });
  });
  process.on('SIGUSR1', () => {
    log.info('SIGUSR1: reopening every log file');
    manager.reopenLogs();
  });
  process.on('SIGHUP', () => {
    if (configPath === undefined) {
      log.info('SIGHUP: rescanning');
      manager.rescan(manager.owners());
      return;
    }
    const read = readMasterConfig(configPath);
    if (!('config' in read)) {
      log.error('SIGHUP: master config not reloaded, keeping the old one:');
      for (const problem of read.problems) log.error(formatProblem(problem));
      return;
    }
    log.info(`SIGHUP: reloading ${configPath}`);
    manager
      .reload(read.config, loadAccounts())
      .catch((error: unknown) => log.error(`reload failed: ${error}`));
  });
}

function fail(message: string): number {
  process.stderr.write(`${message.trimEnd()}\n`);
  return 1;
}

main().then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`daemon-manager: ${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  },
);
