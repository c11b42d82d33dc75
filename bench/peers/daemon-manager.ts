import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { managerProcesses } from '../measures/process-sample.ts';
import type { DaemonDef, Peer, Running } from './peer.ts';
import { spawnLogged, stopChild } from './spawn.ts';
import { type BenchUser, createUsers, removeUsers } from './users.ts';

export const ROOT_DIR = resolve(import.meta.dirname, '../..');
/**
 * daemon-manager loads at most this many daemons per user (MAX_DAEMONS_PER_USER of
 * src/daemon/scan.ts; its README does not say so) and ignores the rest.
 */
const DAEMONS_PER_USER = 1000;
/** The project's own Node (24), which runs daemon-manager, dmctl, PM2 and the baseline. */
export const NODE = join(ROOT_DIR, 'node_modules/node/bin/node');

/**
 * daemon-manager as root, with a master config in the run's directory. It runs from a
 * snapshot of bin/, dist/ and the native addon taken when the bench starts, so a rebuild
 * by someone else in the middle of a long run cannot mix two versions in one table.
 */
export class DaemonManagerPeer implements Peer {
  readonly name = 'daemon-manager';
  readonly notes = [
    'system mode as root (`--config`, `--foreground`), daemons in `daemon-path-daemon-root`',
    'the supervisor is the manager (node) + its `dm-keeper` (the C process that forks, holds and reaps every daemon)',
    '`stable-uptime = 1s` so a daemon up for a second is respawned at once (no back-off); `log-max-size = 0` (no rotation) so the log test can count every line',
    'status: `dmctl --config FILE status` (the human table), through the `bin/dmctl` shell wrapper as users run it',
    'above 1,000 daemons: it loads at most 1,000 daemons per user (its README does not say so), so the daemons are spread over ⌈N / 1,000⌉ users made for the run (`useradd`, removed after), allowed `[can_run_as] USER: root`, each daemon with `user=root`: they run as root like every other system’s',
  ];
  readonly respawnAfterUptimeMs = 1_500;
  private readonly snapshot: string;
  /** The built tree the snapshot is taken from: this one, or another build to compare. */
  private readonly tree: string;
  private readonly logTimestamps: boolean;
  /** The users made for runs of more than DAEMONS_PER_USER daemons, by run directory. */
  private readonly users = new Map<string, BenchUser[]>();

  /** `logTimestamps`: captured daemons' logs get `log_timestamps=yes`. */
  constructor(snapshotDir: string, tree = ROOT_DIR, options: { logTimestamps?: boolean } = {}) {
    this.snapshot = snapshotDir;
    this.tree = tree;
    this.logTimestamps = options.logTimestamps ?? false;
  }

  install(): void {
    const bundle = join(this.tree, 'dist/daemon-manager.mjs');
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build`);
    mkdirSync(join(this.snapshot, 'build'), { recursive: true });
    mkdirSync(join(this.snapshot, 'node_modules'), { recursive: true });
    for (const dir of ['bin', 'dist', 'build/Release'])
      cpSync(join(this.tree, dir), join(this.snapshot, dir), { recursive: true });
    symlinkSync(join(this.tree, 'node_modules/node'), join(this.snapshot, 'node_modules/node'));
  }

  /** The snapshot's bin/ directory, for the scenarios that drive daemon-manager alone. */
  get bin(): string {
    return join(this.snapshot, 'bin');
  }

  skipReason(): string | undefined {
    return undefined;
  }

  versions(): Record<string, string> {
    const pkg = JSON.parse(readFileSync(join(this.tree, 'package.json'), 'utf8')) as {
      version: string;
    };
    let commit = 'unknown';
    try {
      commit = execFileSync('git', ['-C', this.tree, 'rev-parse', '--short', 'HEAD'], {
        encoding: 'utf8',
      }).trim();
      const dirty = execFileSync('git', ['-C', this.tree, 'status', '--porcelain', 'src', 'bin'], {
        encoding: 'utf8',
      });
      if (dirty.trim() !== '') commit += ' + uncommitted changes in src/ or bin/';
    } catch {
      // Not a git checkout.
    }
    const node = execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim();
    return { 'daemon-manager': `${pkg.version} (${commit})`, 'Node.js (its runtime)': node };
  }

  configure(dir: string, daemons: readonly DaemonDef[]): () => Running {
    const settings = ['stable-uptime = 1s', 'log-max-size = 0'];
    const text = (daemon: DaemonDef, asRoot: boolean): string =>
      `start=exec ${daemon.script} ${daemon.name}\n${asRoot ? 'user=root\n' : ''}${daemon.capture ? `output=log\n${this.logTimestamps ? 'log_timestamps=yes\n' : ''}` : ''}`;
    let logDir: string;
    let config: string;
    if (daemons.length <= DAEMONS_PER_USER) {
      const written = writeMasterConfig(dir, settings);
      ({ config, logDir } = written);
      for (const daemon of daemons)
        writeFileSync(join(written.daemonDir, `${daemon.name}.conf`), text(daemon, false), {
          mode: 0o644,
        });
    } else {
      // More daemons than one user may have: spread over users of the run, whose daemons
      // run as root like every other system's. The manager reads their files as them.
      chmodSync(dir, 0o755);
      const users = createUsers(
        `dmb${randomBytes(3).toString('hex')}`,
        Math.ceil(daemons.length / DAEMONS_PER_USER),
        join(dir, 'home'),
      );
      this.users.set(dir, users);
      const rights = users.map((user) => `${user.name}: root`).join('\n');
      ({ config, logDir } = writeMasterConfig(dir, settings, `[can_run_as]\n${rights}\n`));
      daemons.forEach((daemon, index) => {
        const user = users[Math.floor(index / DAEMONS_PER_USER)];
        if (!user) return;
        const daemonDir = join(user.home, '.daemon-manager', 'daemons');
        if (index % DAEMONS_PER_USER === 0) {
          mkdirSync(daemonDir, { recursive: true });
          chownSync(join(user.home, '.daemon-manager'), user.uid, user.gid);
          chownSync(daemonDir, user.uid, user.gid);
        }
        const file = join(daemonDir, `${daemon.name}.conf`);
        writeFileSync(file, text(daemon, true), { mode: 0o644 });
        chownSync(file, user.uid, user.gid);
      });
    }
    const bin = join(this.snapshot, 'bin');
    return () => {
      const child = spawnLogged(
        [join(bin, 'daemon-manager'), '--config', config, '--foreground'],
        join(dir, 'supervisor.log'),
      );
      const pid = child.pid ?? 0;
      // Its keeper outlives it by a moment at a stop: waited for (and killed if it stays).
      let keepers: number[] = [];
      return {
        supervisorPids: () => {
          const pids = managerProcesses(pid);
          if (pids.length > 1) keepers = pids.slice(1);
          return pids;
        },
        statusArgv: [join(bin, 'dmctl'), '--config', config, 'status'],
        countRunning: (stdout) =>
          stdout.split('\n').filter((line) => /\brunning\b/.test(line)).length,
        logFileOf: (name) => join(logDir, `${name}.log`),
        stop: () => {
          keepers = managerProcesses(pid).slice(1);
          return stopChild(child, 'SIGTERM', 20_000, () => keepers);
        },
      };
    };
  }

  cleanUp(dir: string): void {
    const users = this.users.get(dir);
    this.users.delete(dir);
    if (users) removeUsers(users.map((user) => user.name));
  }
}

/**
 * A master config for a manager of root daemons in `dir`: its sockets, state, daemon
 * configs and logs all under `dir`, `stop-timeout = 5s`, then `settings`.
 */
export function writeMasterConfig(
  dir: string,
  settings: readonly string[],
  sections = '',
): { config: string; daemonDir: string; logDir: string } {
  const config = join(dir, 'daemon-manager.conf');
  const daemonDir = join(dir, 'daemons');
  const logDir = join(dir, 'logs');
  mkdirSync(daemonDir, { recursive: true });
  writeFileSync(
    config,
    [
      '[settings]',
      `socket-dir = ${join(dir, 'run')}`,
      `state-dir = ${join(dir, 'state')}`,
      `daemon-path-daemon-root = ${daemonDir}`,
      `daemon-path-log-root = ${logDir}`,
      'stop-timeout = 5s',
      ...settings,
      sections,
    ].join('\n'),
    { mode: 0o644 },
  );
  return { config, daemonDir, logDir };
}
