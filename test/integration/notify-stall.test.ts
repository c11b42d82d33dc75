import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const CLIENT = join(FIXTURES, 'notify-daemon.py');

/**
 * A stall of the manager (SIGSTOP here; a starved CPU, a slow synchronous call or another
 * user's load elsewhere) longer than a deadline: libuv runs expired timers before it polls
 * sockets, so what a daemon sent in time must be read before its silence is judged.
 */
describe('a stalled manager reads what daemons sent before it judges them', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const dir = (): string => host.user('alice').home;
  /** Stops the manager for as long as `during` takes, and always lets it go on. */
  const stalled = async (during: () => Promise<void>): Promise<void> => {
    const pid = host.managerPid();
    process.kill(pid, 'SIGSTOP');
    try {
      await during();
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  };
  const count = (): number => Number(readFileSync(join(dir(), 'count'), 'utf8') || 0);

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'pinger',
      `start=exec python3 ${CLIENT} count ${dir()}\nready=notify\nwatchdog=1s\nautostart=no\n`,
    );
    host.writeDaemon(
      'alice',
      'slow',
      `start=exec python3 ${CLIENT} ready ${dir()} stall-go\nready=notify\nready_timeout=2s\nautostart=no\n`,
    );
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('pings sent while the manager stalled past the watchdog keep the daemon running', async () => {
    writeFileSync(join(dir(), 'ping'), '');
    assert.equal((await host.dmctl('alice', 'pinger', 'start', '--wait')).code, 0);
    const before_ = await host.waitForDaemon(
      'alice',
      'alice/pinger',
      (d) => d.state === 'running' && /^ping \d+$/.test(d.status ?? ''),
      'to run and ping',
    );
    let resumedAt = 0;
    await stalled(async () => {
      // 8 pings at 0.2 s: 1.6 s without a read, past the 1 s watchdog (the kernel's queue
      // holds net.unix.max_dgram_qlen of them, 10 by default; then the daemon's send blocks).
      const from = count();
      await waitFor('the daemon to ping 8 times while the manager is stopped', () =>
        count() >= from + 8 ? true : undefined,
      );
      resumedAt = count();
    });
    // A ping sent after the stall read: the manager has gone through the backlog.
    const after_ = await host.waitForDaemon(
      'alice',
      'alice/pinger',
      (d) => Number(/^ping (\d+)$/.exec(d.status ?? '')?.[1] ?? 0) > resumedAt + 2,
      'to show a ping sent after the stall',
    );
    assert.deepEqual(
      [after_.state, after_.pid, after_.unhealthy ?? 0],
      ['running', before_.pid, 0],
      host.managerLog,
    );
    assert.doesNotMatch(host.managerLog, /no WATCHDOG=1/);
  });

  test('a daemon silent through the stall is still judged unhealthy', async () => {
    const running = await host.waitForDaemon(
      'alice',
      'alice/pinger',
      (d) => d.state === 'running',
      'to run',
    );
    rmSync(join(dir(), 'ping'));
    await waitFor('the daemon to stop pinging', () =>
      existsSync(join(dir(), 'silent')) ? true : undefined,
    );
    // The stall itself, longer than the watchdog: what it waits for is time.
    await stalled(() => delay(1_500));
    const failed = await host.waitForDaemon(
      'alice',
      'alice/pinger',
      (d) => (d.unhealthy ?? 0) >= 1,
      'to miss its watchdog',
    );
    assert.match(failed.lastExit ?? '', /^unhealthy: no WATCHDOG=1 for 1s/);
    assert.notEqual(failed.pid, running.pid);
    assert.equal((await host.dmctl('alice', 'pinger', 'stop', '--wait')).code, 0);
  });

  test('a READY=1 sent in time while the manager stalled past ready_timeout makes it ready', async () => {
    assert.equal((await host.dmctl('alice', 'slow', 'start')).code, 0);
    const starting = await host.waitForDaemon(
      'alice',
      'alice/slow',
      (d) => d.state === 'starting',
      'to be starting',
    );
    await stalled(async () => {
      writeFileSync(join(dir(), 'stall-go'), '');
      await waitFor('the daemon to send READY=1', () =>
        existsSync(join(dir(), 'stall-go.sent')) ? true : undefined,
      );
      // Past its 2 s ready_timeout, counted from its start, before the manager reads it.
      await delay(2_500);
    });
    const ready = await host.waitForDaemon(
      'alice',
      'alice/slow',
      (d) => d.state === 'running' && d.status === 'serving',
      'to be ready',
    );
    assert.equal(ready.pid, starting.pid);
    assert.doesNotMatch(host.managerLog, /not ready after/);
    assert.equal((await host.dmctl('alice', 'slow', 'stop', '--wait')).code, 0);
  });
});
