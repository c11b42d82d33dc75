import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed, uidOfPid } from '../helpers/cli.ts';
import {
  FASTCGI_DAEMONS,
  killWhileRequesting,
  missingFastcgiPrograms,
  runningPid,
  startFastcgiSite,
  writeFastcgiDaemons,
} from '../helpers/fastcgi.ts';
import { TestHost } from '../helpers/host.ts';

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
    writeFastcgiDaemons(host);
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    for (const nginx of nginxes) nginx.kill('SIGTERM');
    await cleanUp(host);
  });

  async function killLoop(way: keyof typeof FASTCGI_DAEMONS) {
    const start = await host.dmctl('alice', host.id(FASTCGI_DAEMONS[way]), 'start');
    assert.equal(start.code, 0, start.stderr);
    const { nginx, port, errorLog } = await startFastcgiSite(host, way);
    nginxes.push(nginx);
    const pidOf = runningPid(host, FASTCGI_DAEMONS[way]);
    const result = await killWhileRequesting({
      port,
      errorLog,
      kills: KILLS,
      parallel: 4,
      between: 20,
      pidOf,
    });
    console.log(`${way === 'held' ? 'with' : 'without'} listen=: ${JSON.stringify(result)}`);
    assert.equal(uidOfPid(await pidOf()), 33, 'php-cgi runs as www-data');
    const stop = await host.dmctl('alice', host.id(FASTCGI_DAEMONS[way]), 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    return result;
  }

  test('with listen=, no request finds nothing listening while php-cgi is killed', async () => {
    const result = await killLoop('held');
    assert.equal(result.refused, 0, 'nginx never found the socket without a listener');
    assert.equal(result.errors, 0, 'nginx answered every request');
    // A 502 is only ever a request a killed php-cgi process was running.
    assert.ok(result.bad <= result.broken, JSON.stringify(result));
    assert.ok(result.ok > KILLS * 20, JSON.stringify(result));
  });

  test('without listen=, requests are refused while php-cgi is away (the test can fail)', async () => {
    const result = await killLoop('own');
    assert.ok(result.refused > 0, `nginx found nothing listening: ${JSON.stringify(result)}`);
    assert.ok(result.bad > 0);
  });
});
