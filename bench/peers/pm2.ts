import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killSurvivors, waitUntilDead } from '../measures/proc.ts';
import { NODE } from './daemon-manager.ts';
import type { DaemonDef, Peer, Running } from './peer.ts';
import { skipAbove } from './skip.ts';
import { spawnLogged } from './spawn.ts';

/** Where the bench installs PM2 for itself (never a dependency of the project). */
const PREFIX = join(tmpdir(), 'daemon-manager-bench', 'pm2');
const PM2 = join(PREFIX, 'node_modules/pm2/bin/pm2');

const SKIP_REASON =
  'not run above 1,000 daemons unless `--no-skip`: the goals at 10,000 compare with the original and runit only, and PM2 costs about 155 KiB of private memory per daemon and a JSON dump of every app per `pm2 jlist`';

/**
 * PM2 from npm, installed into a prefix of the bench's own, run with the project's Node
 * 24 (the same binary as daemon-manager, so that the runtime is not what differs), with
 * PM2_HOME in the run's directory. The CLI forks the "God" daemon, which supervises.
 */
export class Pm2Peer implements Peer {
  readonly name = 'PM2';
  readonly notes = [
    'one app per daemon in a JSON ecosystem file: `script=SCRIPT`, `args=[NAME]`, `interpreter=none` (fork mode), `out_file`/`error_file` = /dev/null (the log test: `out_file=FILE`); `PM2_HOME` in the run directory; the supervisor is its God daemon',
    'respawn: its defaults: `autorestart=true`, `restart_delay=0`, `min_uptime=1s`, `max_restarts=16`',
    'cold start: from `pm2 start apps.json` (which forks God) until every daemon runs; status: `pm2 jlist`; stop: `pm2 kill`',
  ];

  readonly respawnAfterUptimeMs = 1_500;
  /** Why it is not run at a count (above 1,000 daemons unless `--no-skip`). */
  readonly skipReason: (count: number) => string | undefined;

  constructor(largest = 1000) {
    this.skipReason = skipAbove(largest, SKIP_REASON);
  }

  install(): void {
    if (existsSync(PM2)) return;
    mkdirSync(PREFIX, { recursive: true });
    execFileSync(
      'npm',
      ['install', '--prefix', PREFIX, '--no-save', '--no-audit', '--no-fund', 'pm2'],
      { stdio: 'ignore' },
    );
    if (!existsSync(PM2)) throw new Error(`npm did not install ${PM2}`);
  }

  versions(): Record<string, string> {
    const pkg = JSON.parse(readFileSync(join(PREFIX, 'node_modules/pm2/package.json'), 'utf8')) as {
      version: string;
    };
    const node = execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim();
    return { PM2: pkg.version, 'Node.js (its runtime)': node };
  }

  configure(dir: string, daemons: readonly DaemonDef[]): () => Running {
    const home = join(dir, 'pm2-home');
    const logDir = join(dir, 'logs');
    mkdirSync(home, { recursive: true });
    mkdirSync(logDir, { recursive: true });
    const env = { ...process.env, PM2_HOME: home };
    const apps = daemons.map((daemon) => ({
      name: daemon.name,
      script: daemon.script,
      args: [daemon.name],
      interpreter: 'none',
      autorestart: true,
      out_file: daemon.capture ? join(logDir, `${daemon.name}.log`) : '/dev/null',
      error_file: '/dev/null',
    }));
    const file = join(dir, 'apps.json');
    writeFileSync(file, JSON.stringify({ apps }));
    return () => {
      // The CLI exits once God has accepted the apps; the bench waits for the daemons.
      spawnLogged([NODE, PM2, 'start', file], join(dir, 'pm2-start.out'), env);
      const godPid = (): number => {
        try {
          return Number(readFileSync(join(home, 'pm2.pid'), 'utf8').trim()) || 0;
        } catch {
          return 0;
        }
      };
      return {
        supervisorPids: () => [godPid()].filter((pid) => pid !== 0),
        statusArgv: [NODE, PM2, 'jlist'],
        statusEnv: env,
        countRunning: (stdout) => {
          const start = stdout.indexOf('[');
          const list = JSON.parse(start >= 0 ? stdout.slice(start) : '[]') as {
            pm2_env?: { status?: string };
          }[];
          return list.filter((app) => app.pm2_env?.status === 'online').length;
        },
        logFileOf: (name) => join(logDir, `${name}.log`),
        stop: async () => {
          const god = godPid();
          // `pm2 kill` stops every app, then God. God's parent (the first CLI) is long
          // gone, so God ends as a zombie of PID 1 here: dead for waitUntilDead.
          // A `pm2 kill` that fails or times out (a loaded machine, 1,000 apps) must not
          // leave God running: it is killed all the same, and the failure reported.
          let killed: number[] = [];
          try {
            execFileSync(NODE, [PM2, 'kill'], { env, stdio: 'ignore', timeout: 120_000 });
          } finally {
            killed = killSurvivors(await waitUntilDead([god], 20_000));
          }
          return killed;
        },
      };
    };
  }
}
