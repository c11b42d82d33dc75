import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';

const root = process.getuid?.() === 0;

describe('restart=, success_exit= and restart_delay=', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const flag = (): string => join(host.user('alice').home, 'behave');

  before(async () => {
    host.writeMaster(
      '[can_run_as]\n{alice}\n',
      'stable-uptime = 2s\ncooldown-max = 60s\nrestart-delay-max = 30s',
    );
    host.writeDaemon('alice', 'done', 'start=echo done\nrestart=on-failure\n');
    host.writeDaemon('alice', 'flaky', 'start=exit 1\nrestart=on-failure\n');
    host.writeDaemon('alice', 'task', 'start=exit 0\nrestart=no\n');
    host.writeDaemon('alice', 'broken-task', 'start=exit 2\nrestart=no\n');
    host.writeDaemon(
      'alice',
      'usr1',
      'start=exec sleep 6300300\nrestart=on-failure\nsuccess_exit=3 SIGUSR1\n',
    );
    host.writeDaemon('alice', 'server', 'start=exec sleep 6300301\nrestart=no\n');
    host.writeDaemon(
      'alice',
      'crashy',
      `start=test -e ${flag()} || exit 3; exec sleep 6300302\nautostart=no\n`,
    );
    host.writeDaemon('alice', 'greedy', 'start=exec sleep 6300303\nrestart_delay=1h\n');
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('on-failure: a clean exit leaves the daemon down as exited, with its status', async () => {
    const done = await host.waitForDaemon(
      'alice',
      'alice/done',
      (d) => d.state === 'exited',
      'to exit',
    );
    assert.equal(done.wanted, 'down');
    assert.equal(done.lastExitCode, 0);
    assert.equal(done.respawns, 0);
  });

  test('on-failure: a crash is respawned', async () => {
    const flaky = await host.waitForDaemon(
      'alice',
      'alice/flaky',
      (d) => d.respawns >= 1,
      'to be respawned',
    );
    assert.equal(flaky.wanted, 'up');
    assert.equal(flaky.lastExitCode, 1);
    assert.notEqual(flaky.state, 'failed');
  });

  test('restart=no: a task runs once and ends exited or failed', async () => {
    const task = await host.waitForDaemon(
      'alice',
      'alice/task',
      (d) => d.state === 'exited',
      'to exit',
    );
    const failed = await host.waitForDaemon(
      'alice',
      'alice/broken-task',
      (d) => d.state === 'failed',
      'to fail',
    );
    assert.deepEqual([task.respawns, failed.respawns], [0, 0]);
    assert.equal(failed.lastExitCode, 2);
    const again = await host.dmctl('alice', 'task', 'start', '--wait');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /exited/);
  });

  test('a signal listed in success_exit is a clean exit: on-failure leaves it exited', async () => {
    await host.waitForDaemon('alice', 'alice/usr1', (d) => d.state === 'running', 'to run');
    const kill = await host.dmctl('alice', 'usr1', 'kill', '-USR1');
    assert.equal(kill.code, 0, kill.stderr);
    const usr1 = await host.waitForDaemon(
      'alice',
      'alice/usr1',
      (d) => d.state === 'exited',
      'to exit',
    );
    assert.equal(usr1.lastExitSignal, 'SIGUSR1');
  });

  test('a stop by the manager is not a failure, even for restart=no', async () => {
    await host.waitForDaemon('alice', 'alice/server', (d) => d.state === 'running', 'to run');
    const stop = await host.dmctl('alice', 'server', 'stop', '--wait');
    assert.equal(stop.code, 0, stop.stderr);
    const server = await host.waitForDaemon('alice', 'alice/server', () => true, 'known');
    assert.equal(server.state, 'stopped');
  });

  test('a crash loop backs off doubling; after a good run the next crash respawns at once', async () => {
    const start = await host.dmctl('alice', 'crashy', 'start');
    assert.equal(start.code, 0, start.stderr);
    // 1 s, 2 s, 4 s: the third wait is the fourth second of back-off.
    const looping = await host.waitForDaemon(
      'alice',
      'alice/crashy',
      (d) => d.state === 'coolingdown' && d.respawns === 3,
      'to cool down a third time',
    );
    assert.equal(looping.cooldownStep, 4, 'doubled twice from 1 s');
    writeFileSync(flag(), '');
    const good = await host.waitForDaemon(
      'alice',
      'alice/crashy',
      (d) => d.state === 'running' && d.pid > 0 && d.uptime >= 3,
      'to run longer than stable-uptime',
    );
    process.kill(good.pid, 'SIGKILL');
    const respawned = await host.waitForDaemon(
      'alice',
      'alice/crashy',
      (d) => d.respawns > good.respawns,
      'to be respawned',
    );
    assert.equal(respawned.cooldownStep, 0, 'the back-off was forgotten after the good run');
    assert.notEqual(respawned.state, 'coolingdown');
    const why = await host.dmctl('alice', 'crashy', 'why');
    assert.equal(why.code, 0, why.stderr);
    assert.match(why.stdout, /killed by SIGKILL after \d+s\n.*respawning at once/);
  });

  test('a restart_delay beyond the admin bounds is refused, naming file, line and bound', async () => {
    const greedy = await host.waitForDaemon('alice', 'alice/greedy', () => true, 'known');
    assert.equal(greedy.state, 'broken');
    const problems = await host.dmctl('alice', 'problems');
    assert.match(
      problems.stdout,
      new RegExp(
        `${host.daemonFile('alice', 'greedy')}:2: error: 'restart_delay' 1h is longer than the admin allows \\(restart-delay-max = 30s\\)`,
      ),
    );
    const start = await host.dmctl('alice', 'greedy', 'start');
    assert.equal(start.code, 1);
    assert.match(start.stderr, /restart-delay-max = 30s/);
  });
});
