import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DaemonDef, Peer, Running } from './peer.ts';
import { spawnLogged, stopChild } from './spawn.ts';

export const ROOT_DIR = resolve(import.meta.dirname, '../..');
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
    '`stable-uptime = 1s` so a daemon up for a second is respawned at once (no back-off); `log-max-size = 0` (no rotation) so the log test can count every line',
    'status: `dmctl --config FILE status` (the human table), through the `bin/dmctl` shell wrapper as users run it',
  ];
  readonly respawnAfterUptimeMs = 1_500;
  private readonly snapshot: string;

  constructor(snapshotDir: string) {
    this.snapshot = snapshotDir;
  }

  install(): void {
    const bundle = join(ROOT_DIR, 'dist/daemon-manager.mjs');
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build`);
    mkdirSync(join(this.snapshot, 'build'), { recursive: true });
    mkdirSync(join(this.snapshot, 'node_modules'), { recursive: true });
    for (const dir of ['bin', 'dist', 'build/Release'])
      cpSync(join(ROOT_DIR, dir), join(this.snapshot, dir), { recursive: true });
    symlinkSync(join(ROOT_DIR, 'node_modules/node'), join(this.snapshot, 'node_modules/node'));
  }

  /** The snapshot's bin/ directory, for the scenarios that drive daemon-manager alone. */
  get bin(): string {
    return join(this.snapshot, 'bin');
  }

  skipReason(): string | undefined {
    return undefined;
  }

  versions(): Record<string, string> {
    const pkg = JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8')) as {
      version: string;
    };
    let commit = 'unknown';
    try {
      commit = execFileSync('git', ['-C', ROOT_DIR, 'rev-parse', '--short', 'HEAD'], {
        encoding: 'utf8',
      }).trim();
      const dirty = execFileSync('git', ['-C', ROOT_DIR, 'status', '--porcelain', 'src', 'bin'], {
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
    const { config, daemonDir, logDir } = writeMasterConfig(dir, [
      'stable-uptime = 1s',
      'log-max-size = 0',
    ]);
    for (const daemon of daemons)
      writeFileSync(
        join(daemonDir, `${daemon.name}.conf`),
        `start=exec ${daemon.script} ${daemon.name}\n${daemon.capture ? 'output=log\n' : ''}`,
        { mode: 0o644 },
      );
    const bin = join(this.snapshot, 'bin');
    return () => {
      const child = spawnLogged(
        [join(bin, 'daemon-manager'), '--config', config, '--foreground'],
        join(dir, 'supervisor.log'),
      );
      const pid = child.pid ?? 0;
      return {
        supervisorPids: () => [pid],
        statusArgv: [join(bin, 'dmctl'), '--config', config, 'status'],
        countRunning: (stdout) =>
          stdout.split('\n').filter((line) => /\brunning\b/.test(line)).length,
        logFileOf: (name) => join(logDir, `${name}.log`),
        stop: () => stopChild(child, 'SIGTERM', 20_000),
      };
    };
  }
}

/**
 * A master config for a manager of root daemons in `dir`: its sockets, state, daemon
 * configs and logs all under `dir`, `stop-timeout = 5s`, then `settings`.
 */
export function writeMasterConfig(
  dir: string,
  settings: readonly string[],
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
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  return { config, daemonDir, logDir };
}
