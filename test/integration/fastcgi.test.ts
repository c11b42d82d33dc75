import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed, uidOfPid } from '../helpers/cli.ts';
import {
  killWhileRequesting,
  missingFastcgiPrograms,
  PHP_CGI,
  startNginx,
  writeNginxSite,
} from '../helpers/fastcgi.ts';
import { TestHost } from '../helpers/host.ts';
import { freePort } from '../helpers/sockets.ts';

const KILLS = 5;
const skip = process.getuid?.() !== 0 ? 'needs root' : (missingFastcgiPrograms() ?? false);

/**
 * The proof of issue 12: nginx in front of php-cgi run as www-data, requests in a loop,
 * php-cgi's master killed with SIGKILL again and again. With listen= the manager holds
 * the socket, so nginx never finds nothing listening; without it (php-cgi -b, binding
 * its own socket) it does, which shows the test can fail.
 */
describe('FastCGI behind nginx while php-cgi is killed', { skip }, () => {
  const host = new TestHost();
  const nginxes: ChildProcess[] = [];

  before(async () => {
    const alice = host.user('alice');
    host.user('web');
    const group = host.group('sock', ['alice', 'web']);
    host.writeMaster(
      '[can_run_as]\n{alice}: www-data\n',
      'cooldown-step = 200ms\ncooldown-max = 1s\nstop-timeout = 5s',
    );
    host.mkdirAs(alice, join(alice.home, 'run'));
    host.writeDaemon(
      'alice',
      'php',
      [
        `start=${PHP_CGI}`,
        'user=www-data',
        `listen=unix:${join(alice.home, 'run', 'php.sock')}`,
        'listen_fd=0',
        'listen_mode=0660',
        `listen_group=${group}`,
        'export PHP_FCGI_CHILDREN=4',
        'export PHP_FCGI_MAX_REQUESTS=0',
        '',
      ].join('\n'),
    );
    // The same php-cgi binding its own socket, as before listen= (umask=000 lets nginx in).
    const own = join(host.dir, 'own');
    mkdirSync(own, { mode: 0o755 });
    chownSync(own, 33, 33);
    host.writeDaemon(
      'alice',
      'php-own',
      [
        `start=${PHP_CGI} -b ${join(own, 'php.sock')}`,
        'user=www-data',
        'umask=000',
        'autostart=no',
        'export PHP_FCGI_CHILDREN=4',
        'export PHP_FCGI_MAX_REQUESTS=0',
        '',
      ].join('\n'),
    );
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    for (const nginx of nginxes) nginx.kill('SIGTERM');
    await cleanUp(host);
  });

  async function site(name: string, socket: string): Promise<{ port: number; errorLog: string }> {
    const port = await freePort();
    const dir = join(host.dir, name);
    mkdirSync(dir, { mode: 0o755 });
    const web = host.user('web').name;
    const { config, errorLog } = writeNginxSite(dir, {
      port,
      socket,
      workerUser: web,
      workerGroup: host.expand('{@sock}').slice(1),
    });
    nginxes.push(await startNginx(config, port));
    return { port, errorLog };
  }

  const pidOf = (id: string) => async (): Promise<number> => {
    const daemon = (await host.status('alice')).find((d) => d.id === host.id(id));
    return daemon?.state === 'running' ? daemon.pid : 0;
  };

  test('with listen=, no request finds nothing listening while php-cgi is killed', async () => {
    const { port, errorLog } = await site('held', join(host.user('alice').home, 'run/php.sock'));
    const result = await killWhileRequesting({
      port,
      errorLog,
      kills: KILLS,
      parallel: 4,
      between: 20,
      pidOf: pidOf('alice/php'),
    });
    console.log(`with listen=: ${JSON.stringify(result)}`);
    assert.equal(result.refused, 0, 'nginx never found the socket without a listener');
    assert.equal(result.errors, 0, 'nginx answered every request');
    // A 502 is only ever a request a killed php-cgi process was running.
    assert.ok(result.bad <= result.broken, JSON.stringify(result));
    assert.ok(result.ok > KILLS * 20, JSON.stringify(result));
    assert.equal(uidOfPid(await pidOf('alice/php')()), 33, 'php-cgi runs as www-data');
  });

  test('without listen=, requests are refused while php-cgi is away (the test can fail)', async () => {
    const stop = await host.dmctl('alice', 'php', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    const start = await host.dmctl('alice', 'php-own', 'start');
    assert.equal(start.code, 0, start.stderr);
    const { port, errorLog } = await site('own-socket', join(host.dir, 'own', 'php.sock'));
    const result = await killWhileRequesting({
      port,
      errorLog,
      kills: KILLS,
      parallel: 4,
      between: 20,
      pidOf: pidOf('alice/php-own'),
    });
    console.log(`without listen=: ${JSON.stringify(result)}`);
    assert.ok(result.refused > 0, `nginx found nothing listening: ${JSON.stringify(result)}`);
    assert.ok(result.bad > 0);
  });
});
