import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebPackages } from './install.ts';
import type { DaemonDef, Peer, Running } from './peer.ts';
import { spawnLogged, stopChild } from './spawn.ts';

/** Where the shared peers live on these machines (see /work/shared/peers/README.md). */
export const ORIGINAL_TARBALL = '/work/shared/peers/daemon-manager-1.2.2.tar.gz';
const VERSION = '1.2.2';

/**
 * The original C++ Daemon Manager by David Caldwell, built from its published source at
 * run time, in a directory of the bench that is removed at the end: none of its code or
 * text is kept in this repository. Its control socket path is compiled in, so the build
 * serves every run of this bench (each run's manager binds it anew).
 */
export class OriginalPeer implements Peer {
  readonly name = 'original';
  readonly respawnAfterUptimeMs = 61_500;
  readonly notes = [
    `the original C++ Daemon Manager ${VERSION}, built by the bench from its published source (\`make daemon-manager dmctl\` with \`COMMAND_SOCKET_PATH\` in the bench's temporary directory, \`CXX='g++ -O2'\`: its Makefile asks for no optimisation, a distribution's package would build with -O2); run as root in the foreground (\`daemon-manager -c FILE -f\`), daemons in \`daemon-path-daemon-root\`, each \`start=exec SCRIPT NAME\`, \`dir=/\` (the log test: \`output=log\`)`,
    'respawn: its fixed back-off (not configurable): a daemon that ran under 60 s waits 10 s or more, so the bench kills a daemon only once it has run 61.5 s (every system gets the same wait; the others respawn at once after a second)',
    'logs: the daemon itself writes its log file (opened by the forked child before the exec), so the manager copies nothing and its CPU and peak RSS are not in the path',
    'status: `dmctl status` (the socket path is compiled in)',
  ];
  private readonly buildRoot: string;
  private readonly tarball: string;

  constructor(buildRoot: string, tarball = ORIGINAL_TARBALL) {
    this.buildRoot = buildRoot;
    this.tarball = tarball;
  }

  private get source(): string {
    return join(this.buildRoot, `daemon-manager-${VERSION}`);
  }

  /** The socket its programs were compiled with. */
  private get socket(): string {
    return join(this.buildRoot, 'run', 'dm.sock');
  }

  install(): void {
    if (!existsSync(this.tarball))
      throw new Error(
        `the original's source is not at ${this.tarball}: pass --original-tarball PATH, or leave it out with --only`,
      );
    ensureDebPackages(['g++', 'make'], 'g++');
    mkdirSync(join(this.buildRoot, 'run'), { recursive: true });
    execFileSync('tar', ['-xzf', this.tarball, '-C', this.buildRoot]);
    try {
      execFileSync(
        'make',
        [
          '-C',
          this.source,
          'CXX=g++ -O2',
          `COMMAND_SOCKET_PATH="${this.socket}"`,
          'daemon-manager',
          'dmctl',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' },
      );
    } catch (error) {
      const output = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`building the original failed: ${output.slice(-2000)}`);
    }
  }

  versions(): Record<string, string> {
    const gxx = execFileSync('g++', ['-dumpfullversion'], { encoding: 'utf8' }).trim();
    return { original: `Daemon Manager ${VERSION} (C++, built here with g++ ${gxx} -O2)` };
  }

  skipReason(): string | undefined {
    return undefined;
  }

  configure(dir: string, daemons: readonly DaemonDef[]): () => Running {
    const config = join(dir, 'daemon-manager.conf');
    const daemonDir = join(dir, 'daemons');
    const logDir = join(dir, 'logs');
    mkdirSync(daemonDir, { recursive: true });
    // Only `~/` log directories are created by the original; this one must exist.
    mkdirSync(logDir, { recursive: true });
    // Owned by root and not group- or world-writable, or it refuses to start.
    writeFileSync(
      config,
      `[settings]\ndaemon-path-daemon-root = ${daemonDir}\ndaemon-path-log-root = ${logDir}\n`,
      { mode: 0o644 },
    );
    for (const daemon of daemons)
      writeFileSync(
        join(daemonDir, `${daemon.name}.conf`),
        `start=exec ${daemon.script} ${daemon.name}\ndir=/\n${daemon.capture ? 'output=log\n' : ''}`,
        { mode: 0o644 },
      );
    return () => {
      const child = spawnLogged(
        [join(this.source, 'daemon-manager'), '-c', config, '-f'],
        join(dir, 'supervisor.log'),
      );
      const pid = child.pid ?? 0;
      return {
        supervisorPids: () => [pid],
        statusArgv: [join(this.source, 'dmctl'), 'status'],
        countRunning: (stdout) =>
          stdout.split('\n').filter((line) => /^\S+\s+running\s/.test(line)).length,
        logFileOf: (name) => join(logDir, `${name}.log`),
        // SIGTERM: it sends SIGTERM to every daemon's pid and exits once all are reaped.
        stop: () => stopChild(child, 'SIGTERM', 30_000),
      };
    };
  }
}
