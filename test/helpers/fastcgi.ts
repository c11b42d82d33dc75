import type { ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureTool } from './debian.ts';
import type { TestHost } from './host.ts';
import {
  NGINX,
  nginxFailures,
  requestInLoops,
  startNginx,
  tally,
  writeNginxSite,
} from './nginx.ts';
import { freePort } from './sockets.ts';
import { waitFor } from './wait.ts';

/** Debian's php-cgi (`apt-get install php-cgi`); with nginx, the programs of the FastCGI proof. */
export const PHP_CGI = '/usr/bin/php-cgi';

/**
 * Installs nginx and php-cgi when missing (a fresh machine, CI's included, has neither);
 * why the FastCGI proof cannot run here, or undefined if it can.
 */
export function missingFastcgiPrograms(): string | undefined {
  try {
    ensureTool('nginx');
    ensureTool('php-cgi');
  } catch (error) {
    return `${(error as Error).message}: the FastCGI proof is skipped`;
  }
  const missing = [NGINX, PHP_CGI].filter((path) => !existsSync(path));
  return missing.length === 0
    ? undefined
    : `${missing.join(' and ')} not installed: the FastCGI proof is skipped`;
}

/** What the requests got while a FastCGI daemon's main process was killed `kills` times. */
export interface KillLoopResult {
  readonly kills: number;
  readonly requests: number;
  readonly ok: number;
  /** Answered 502 or another status but 200. */
  readonly bad: number;
  /** nginx itself did not answer. */
  readonly errors: number;
  /** From nginx's error log: see nginxFailures. */
  readonly refused: number;
  readonly broken: number;
}

/**
 * Sends requests in `parallel` loops through nginx on `port` while the daemon `id`'s main
 * process is killed with SIGKILL `kills` times, each time once its respawned process has
 * answered `between` requests. `pidOf` reads the daemon's main pid (0 while it has none).
 */
export async function killWhileRequesting(options: {
  port: number;
  errorLog: string;
  kills: number;
  parallel: number;
  between: number;
  pidOf: () => Promise<number>;
}): Promise<KillLoopResult> {
  const before = nginxFailures(options.errorLog);
  const loop = requestInLoops(options.port, options.parallel);
  let last = 0;
  const answeredSince = async (pid: number, from: number): Promise<true | undefined> =>
    pid !== 0 && pid !== last && tally(loop.answers.slice(from)).ok >= options.between
      ? true
      : undefined;
  try {
    for (let kill = 0; kill <= options.kills; kill++) {
      const from = loop.answers.length;
      const pid = await waitFor(
        `a new main process answering ${options.between} requests (kill ${kill})`,
        async () => {
          const now = await options.pidOf();
          return (await answeredSince(now, from)) ? now : undefined;
        },
        { timeoutMs: 120_000, describe: () => JSON.stringify(tally(loop.answers.slice(from))) },
      );
      if (kill === options.kills) break;
      last = pid;
      process.kill(pid, 'SIGKILL');
    }
  } finally {
    await loop.stop();
  }
  const after = nginxFailures(options.errorLog);
  const counts = tally(loop.answers);
  return {
    kills: options.kills,
    requests: loop.answers.length,
    ...counts,
    refused: after.refused - before.refused,
    broken: after.broken - before.broken,
  };
}

/** The two ways php-cgi gets its socket, as daemons of the sandbox user alice. */
export const FASTCGI_DAEMONS = {
  /** The manager holds the socket (`listen=`, on standard input). */
  held: 'alice/php',
  /** php-cgi binds it itself (`php-cgi -b`), as before listen=. */
  own: 'alice/php-own',
} as const;

/**
 * Sets up the FastCGI proof in a sandbox: users alice (the owner) and web (nginx's
 * workers), a group sock of both, php-cgi as www-data in two daemons (FASTCGI_DAEMONS,
 * neither started), and a master config with short cooldowns.
 */
export function writeFastcgiDaemons(host: TestHost): void {
  const alice = host.user('alice');
  host.user('web');
  const group = host.group('sock', ['alice', 'web']);
  host.writeMaster(
    '[can_run_as]\n{alice}: www-data\n',
    'cooldown-step = 200ms\ncooldown-max = 1s\nstop-timeout = 5s',
  );
  host.mkdirAs(alice, join(alice.home, 'run'));
  const common = [
    'user=www-data',
    'autostart=no',
    'export PHP_FCGI_CHILDREN=4',
    'export PHP_FCGI_MAX_REQUESTS=0',
  ];
  host.writeDaemon(
    'alice',
    'php',
    [
      `start=${PHP_CGI}`,
      `listen=unix:${fastcgiSocket(host, 'held')}`,
      'listen_fd=0',
      'listen_mode=0660',
      `listen_group=${group}`,
      ...common,
      '',
    ].join('\n'),
  );
  // umask=000 lets nginx's workers connect to the socket php-cgi makes.
  const own = join(host.dir, 'own');
  mkdirSync(own, { mode: 0o755 });
  chownSync(own, 33, 33);
  host.writeDaemon(
    'alice',
    'php-own',
    [`start=${PHP_CGI} -b ${fastcgiSocket(host, 'own')}`, 'umask=000', ...common, ''].join('\n'),
  );
}

/** Where each way's socket is. */
export function fastcgiSocket(host: TestHost, way: keyof typeof FASTCGI_DAEMONS): string {
  return way === 'held'
    ? join(host.user('alice').home, 'run', 'php.sock')
    : join(host.dir, 'own', 'php.sock');
}

/** Starts an nginx of the sandbox in front of one way's socket. */
export async function startFastcgiSite(
  host: TestHost,
  way: keyof typeof FASTCGI_DAEMONS,
): Promise<{ nginx: ChildProcess; port: number; errorLog: string }> {
  const port = await freePort();
  const dir = join(host.dir, `nginx-${way}-${port}`);
  mkdirSync(dir, { mode: 0o755 });
  const { config, errorLog } = writeNginxSite(dir, {
    port,
    socket: fastcgiSocket(host, way),
    workerUser: host.user('web').name,
    workerGroup: host.expand('{@sock}').slice(1),
  });
  return { nginx: await startNginx(config, port), port, errorLog };
}

/** The main pid of a daemon while it runs, else 0 (as root sees it). */
export function runningPid(host: TestHost, id: string): () => Promise<number> {
  return async () => {
    const daemon = (await host.status('root')).find((d) => d.id === host.id(id));
    return daemon?.state === 'running' ? daemon.pid : 0;
  };
}
