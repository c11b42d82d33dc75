import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, readWhen, showLogIfFailed, waitForDeath } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive, liveGroupMembers } from '../helpers/proc.ts';

const root = process.getuid?.() === 0;

describe('stopping and respawning daemons', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const file = (name: string): string => join(host.user('alice').home, name);

  before(async () => {
    // A long default stop timeout: only a daemon's own stop_timeout can make a stop quick.
    host.writeMaster('[can_run_as]\n{alice}\n', 'stop-timeout = 60s\ncooldown-step = 1s');
    host.writeDaemon('alice', 'noexec', `start=${FIXTURES}/with-child.sh ${file('noexec.pid')}\n`);
    host.writeDaemon(
      'alice',
      'stubborn',
      `start=${FIXTURES}/trap-term.sh ${file('stubborn.ready')}\nstop_timeout=1s\n`,
    );
    host.writeDaemon('alice', 'sleeper', 'start=exec sleep 100000\n');
    host.writeDaemon(
      'alice',
      'parent',
      `start=${FIXTURES}/with-child.sh ${file('parent.pid')}\nautostart=no\n`,
    );
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('stop kills the whole process group of a daemon started without exec', async () => {
    const running = await host.waitForDaemon(
      'alice',
      'alice/noexec',
      (d) => d.state === 'running',
      'to run',
    );
    const child = Number(await readWhen(file('noexec.pid'), (text) => /^\d+\n$/.test(text)));
    assert.ok(isAlive(running.pid) && isAlive(child), 'the shell and its child run');
    assert.notEqual(child, running.pid);
    const stop = await host.dmctl('alice', 'noexec', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await host.waitForDaemon('alice', 'alice/noexec', (d) => d.state === 'stopped', 'to stop');
    assert.ok(!isAlive(running.pid), 'the shell is dead');
    assert.ok(!isAlive(child), 'its child is dead');
    assert.deepEqual(liveGroupMembers(running.pid), []);
  });

  test('a daemon ignoring SIGTERM is killed after its stop_timeout and ends stopped', async () => {
    await readWhen(file('stubborn.ready'), (text) => text === 'ready\n');
    const [running] = (await host.status('alice')).filter((d) => d.name === 'stubborn');
    assert.equal(running?.state, 'running');
    const stop = await host.dmctl('alice', 'stubborn', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    // The main process may be a `sh -c` that dies of SIGTERM; the script it runs does not.
    await host.waitForDaemon('alice', 'alice/stubborn', (d) => d.state === 'stopped', 'to stop');
    assert.ok(!isAlive(running?.pid ?? 0));
    assert.deepEqual(liveGroupMembers(running?.pid ?? 0), []);
    assert.match(host.managerLog, /stubborn: still running after the stop timeout/);
  });

  test('a killed main process is respawned with a new pid and respawns incremented', async () => {
    const before = await host.waitForDaemon(
      'alice',
      'alice/sleeper',
      (d) => d.state === 'running',
      'to run',
    );
    process.kill(before.pid, 'SIGKILL');
    const after = await host.waitForDaemon(
      'alice',
      'alice/sleeper',
      (d) => d.state === 'running' && d.pid !== before.pid,
      'to be respawned',
    );
    assert.equal(after.respawns, before.respawns + 1);
    assert.ok(isAlive(after.pid));
  });

  test('children left behind by a dead main process are killed before the respawn', async () => {
    const start = await host.dmctl('alice', 'parent', 'start');
    assert.equal(start.code, 0, start.stderr);
    const before = await host.waitForDaemon(
      'alice',
      'alice/parent',
      (d) => d.state === 'running',
      'to run',
    );
    const child = Number(await readWhen(file('parent.pid'), (text) => /^\d+\n$/.test(text)));
    assert.ok(isAlive(child));
    process.kill(before.pid, 'SIGKILL');
    await host.waitForDaemon(
      'alice',
      'alice/parent',
      (d) => d.state !== 'running' || d.pid !== before.pid,
      'to notice its main process died',
    );
    const after = await host.waitForDaemon(
      'alice',
      'alice/parent',
      (d) => d.state === 'running' && d.pid !== before.pid,
      'to be respawned',
    );
    assert.ok(!isAlive(child), 'the old child was gone by the time of the respawn');
    assert.equal(after.respawns, 1);
    await waitForDeath(child, 'the old child');
  });
});

describe('a crashing daemon cools down', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const flag = (): string => join(host.user('alice').home, 'may-run');

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n', 'cooldown-step = 5s\ncooldown-max = 60s');
    host.writeDaemon('alice', 'crashy', `start=test -e ${flag()} || exit 3; exec sleep 100000\n`);
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('a crash loop shows state coolingdown with the cooldown, growing', async () => {
    const first = await host.waitForDaemon(
      'alice',
      'alice/crashy',
      (d) => d.state === 'coolingdown',
      'to cool down',
    );
    assert.ok(first.cooldown > 0 && first.cooldown <= 5, `cooldown ${first.cooldown}`);
    assert.equal(first.lastExit, 'exit status 3');
    assert.equal(first.lastExitCode, 3);
    assert.equal(first.total, 0, 'total does not count during a cooldown');
    assert.ok(
      first.cooldownStep >= first.cooldown,
      `step ${first.cooldownStep}, left ${first.cooldown}`,
    );
    const table = await host.dmctl('alice', 'status');
    // Cooling down: time left, no uptime or total, run as alice, and why it is down.
    assert.match(
      table.stdout,
      new RegExp(
        `^${host.id('alice/crashy')}\\s+coolingdown\\s+0\\s+\\d+\\s+[1-9]\\d*s\\s+0s\\s+0s ${host.user('alice').name}\\s+exit 3$`,
        'm',
      ),
    );
    const second = await host.waitForDaemon(
      'alice',
      'alice/crashy',
      (d) => d.state === 'coolingdown' && d.respawns > first.respawns,
      'to cool down again after the next crash',
    );
    assert.ok(second.cooldown > 5, `the cooldown grows: ${second.cooldown}`);
  });

  test('start during coolingdown starts the daemon at once', async () => {
    const cooling = await host.waitForDaemon(
      'alice',
      'alice/crashy',
      (d) => d.state === 'coolingdown' && d.cooldown > 2,
      'to be cooling down',
    );
    writeFileSync(flag(), '');
    const start = await host.dmctl('alice', 'crashy', 'start');
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /started \(pid \d+\)/, 'started now, not after the cooldown');
    const [now] = (await host.status('alice')).filter((d) => d.name === 'crashy');
    assert.equal(now?.state, 'running', `it was cooling down for ${cooling.cooldown}s more`);
    assert.equal(now?.respawns, 0);
    assert.ok(isAlive(now?.pid ?? 0));
  });

  // An outside review (75a, F3): a plain start line naming a program that does not exist
  // fell back to the shell, and was answered "started", then shown only as `exit 127`.
  test('a start line naming a path that cannot be run says so; a script with no #! line runs', async () => {
    const file = (name: string): string => join(host.user('alice').home, name);
    const script = file('no-shebang.sh');
    writeFileSync(script, `echo ran > ${file('no-shebang.out')}\nexec sleep 100001\n`, {
      mode: 0o755,
    });
    host.writeDaemon('alice', 'missing', 'start=/nonexistent-dm/prog --flag\nautostart=no\n');
    host.writeDaemon('alice', 'plain', `start=${script}\nautostart=no\n`);
    await host.dmctl('alice', 'rescan');
    const missing = await host.dmctl('alice', 'missing', 'start');
    assert.equal(missing.code, 1, missing.stdout);
    assert.match(
      missing.stderr,
      /cannot start .*alice\/missing: cannot run \/nonexistent-dm\/prog: No such file or directory/,
    );
    const why = (await host.dmctl('alice', 'missing', 'why')).stdout;
    assert.match(why, /cannot run \/nonexistent-dm\/prog: No such file or directory/, why);
    await host.dmctl('alice', 'missing', 'stop');
    const plain = await host.dmctl('alice', 'plain', 'start');
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(await readWhen(file('no-shebang.out'), (text) => text === 'ran\n'), 'ran\n');
    await host.dmctl('alice', 'plain', 'stop');
  });

  // A review saw 247 respawns carried over a clean restart of the manager, while its
  // autostart is a new start (total was reset, respawns not).
  test('after a clean restart of the manager, its autostart counts from zero', async () => {
    rmSync(flag(), { force: true });
    await host.dmctl('alice', 'crashy', 'restart');
    await host.waitForDaemon('alice', 'alice/crashy', (d) => d.respawns > 0, 'to crash again');
    writeFileSync(flag(), '');
    await host.stopManager();
    await host.startManager();
    const fresh = await host.waitForDaemon('alice', 'alice/crashy', (d) => d.pid > 0, 'to run');
    assert.equal(fresh.respawns, 0);
    assert.equal(fresh.lastExit, 'exit status 3', 'its last exit is still told');
  });
});
