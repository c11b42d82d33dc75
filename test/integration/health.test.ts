import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';
import { processesWith } from '../security/support.ts';

const root = process.getuid?.() === 0;
const SERVER = join(FIXTURES, 'http-health.py');

describe('ready=http:// and health=', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const dir = (): string => host.user('alice').home;
  const port = 20_000 + Math.floor(Math.random() * 30_000);
  const url = `http://127.0.0.1:${port}/health`;
  /** How many answers of this status the server gave so far. */
  const hits = (status: number): number =>
    existsSync(join(dir(), 'hits'))
      ? readFileSync(join(dir(), 'hits'), 'utf8')
          .split('\n')
          .filter((line) => line === String(status)).length
      : 0;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'web',
      [
        `start=exec python3 ${SERVER} ${port} ${dir()}`,
        `ready=${url}`,
        `health=${url}`,
        'health_interval=1s',
        'health_timeout=2s',
        'health_retries=2',
        'autostart=no',
        '',
      ].join('\n'),
    );
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('a server answering 503 is starting; once it answers 200 it is running and healthy', async () => {
    assert.equal((await host.dmctl('alice', 'web', 'start')).code, 0);
    await waitFor('the server to answer 503 to a check', () => (hits(503) > 0 ? true : undefined));
    const starting = await host.waitForDaemon('alice', 'alice/web', () => true, 'known');
    assert.equal(starting.state, 'starting');
    writeFileSync(join(dir(), 'up'), '');
    const ready = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.state === 'running',
      'to be ready',
    );
    assert.equal(ready.health, 'unchecked');
    const healthy = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.health === 'healthy',
      'to pass a health check',
    );
    assert.deepEqual([healthy.pid, healthy.unhealthy], [starting.pid, 0]);
    const why = await host.dmctl('alice', 'web', 'why');
    assert.match(why.stdout, new RegExp(`ready \\(${url.replaceAll('.', '\\.')}\\) after `));
  });

  test('a server that turns sick fails its checks, is restarted as unhealthy, and counted', async () => {
    const healthy = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.health === 'healthy',
      'healthy',
    );
    writeFileSync(join(dir(), 'sick'), '');
    await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.health === 'failing 1/2',
      'to fail one check',
    );
    const failed = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => (d.unhealthy ?? 0) >= 1,
      'to be restarted as unhealthy',
    );
    assert.equal(failed.lastExit, `unhealthy: 2 health checks failed in a row (${url})`);
    await waitFor('the sick process to be gone', () => (isAlive(healthy.pid) ? undefined : true));
    const why = await host.dmctl('alice', 'web', 'why');
    assert.match(why.stdout, /health check failed \(http:.*\), 1 of 2/);
    assert.match(why.stdout, /unhealthy: 2 health checks failed in a row .*\(1 so far\)/);
    const table = await host.dmctl('alice', 'status');
    assert.match(table.stdout, /1 unhealthy/);

    // The next run is ready, and healthy, once the server answers 2xx again.
    rmSync(join(dir(), 'sick'));
    const again = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.state === 'running' && d.pid !== healthy.pid && d.health === 'healthy',
      'to run again, healthy',
    );
    assert.equal(again.unhealthy, 1);
    assert.equal((await host.dmctl('alice', 'web', 'stop', '--wait')).code, 0);
  });
});

/**
 * A review found a check outliving its run until its health_timeout: restarts piled up
 * 31 checks of one daemon (each holding keeper descriptors every user needs), a stop left
 * them running, and after a clean SIGTERM the keeper stayed up for them, holding every
 * user's lock.
 */
describe('a health check never outlives its run', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const marker = 'sleep 6400307';
  const checks = (): number[] =>
    processesWith(marker)
      .filter((process) => process.uid === host.user('alice').uid)
      .map((process) => process.pid);

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'slow',
      [
        'start=exec sleep 6400306',
        `health=exec:${marker}`,
        'health_interval=1s',
        'health_timeout=24h',
        '',
      ].join('\n'),
    );
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('a restart and a stop end the check under way; a SIGTERM ends the keeper too', async () => {
    const [first] = await waitFor('a check to run', () => {
      const found = checks();
      return found.length > 0 ? found : undefined;
    });
    assert.equal((await host.dmctl('alice', 'slow', 'restart')).code, 0);
    await waitFor('the check of the old run to end', () =>
      isAlive(first ?? 0) ? undefined : true,
    );
    const [second] = await waitFor('a check of the new run', () => {
      const found = checks().filter((pid) => pid !== first);
      return found.length > 0 ? found : undefined;
    });
    assert.equal(checks().length, 1, 'one check at a time');
    assert.equal((await host.dmctl('alice', 'slow', 'stop', '--wait')).code, 0);
    await waitFor('the check to end with the stop', () =>
      isAlive(second ?? 0) ? undefined : true,
    );
    assert.equal((await host.dmctl('alice', 'slow', 'start')).code, 0);
    await waitFor('a check to run again', () => (checks().length > 0 ? true : undefined));
    const keeper = host.keeperPid();
    assert.notEqual(keeper, 0);
    assert.equal(await host.stopManager(), 0);
    await waitFor('the keeper to end with the manager', () => (isAlive(keeper) ? undefined : true));
    assert.deepEqual(checks(), []);
  });
});
