import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, readWhen, showLogIfFailed, waitForDeath } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive, livePidsOfUid } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const SLEEPER = 'start=exec sleep 100000\n';

describe('signals to the manager', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const host = new TestHost();
  const pidOf = async (id: string): Promise<number | undefined> =>
    (await host.status('root')).find((daemon) => daemon.id === host.id(id))?.pid;
  const master = (...users: string[]): void =>
    host.writeMaster(`[can_run_as]\n${users.map((user) => `{${user}}\n`).join('')}`);
  const hangUp = (): void => {
    process.kill(host.managerPid(), 'SIGHUP');
  };

  before(async () => {
    for (const short of ['alice', 'bob', 'carol']) host.user(short);
    master('alice', 'carol');
    host.writeDaemon('alice', 'keep', SLEEPER);
    host.writeDaemon('alice', 'tweaked', SLEEPER);
    host.writeDaemon('bob', 'new', SLEEPER);
    host.writeDaemon('carol', 'gone', `start=${FIXTURES}/with-child.sh /dev/null\n`);
    host.writeDaemon(
      'carol',
      'stubborn',
      `start=${FIXTURES}/trap-term.sh ${join(host.user('carol').home, 'ready')}\nstop_timeout=1s\n`,
    );
    await host.startManager();
    for (const id of ['alice/keep', 'alice/tweaked', 'carol/gone', 'carol/stubborn'])
      await host.waitForDaemon('root', id, (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('SIGHUP gives a newly granted user a socket and starts their daemons', async () => {
    const refused = await host.dmctl('bob', 'status');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /not authorized/);
    const keep = await pidOf('alice/keep');
    master('alice', 'bob', 'carol');
    hangUp();
    await host.waitForDaemon('bob', 'bob/new', (d) => d.state === 'running', 'to run');
    assert.equal(await pidOf('alice/keep'), keep, 'an unchanged daemon keeps running');
  });

  test('SIGHUP restarts a daemon whose config changed, and only that one', async () => {
    const keep = await pidOf('alice/keep');
    const tweaked = await pidOf('alice/tweaked');
    host.writeDaemon('alice', 'tweaked', `${SLEEPER}export TWEAKED=1\n`);
    hangUp();
    await host.waitForDaemon(
      'root',
      'alice/tweaked',
      (d) => d.state === 'running' && d.pid !== tweaked,
      'to be restarted',
    );
    assert.equal(await pidOf('alice/keep'), keep);
  });

  test('SIGHUP stops the daemons of a user removed from the master config', async () => {
    const gone = await pidOf('carol/gone');
    const keep = await pidOf('alice/keep');
    const bob = await pidOf('bob/new');
    master('alice', 'bob');
    hangUp();
    await waitForDeath(gone ?? 0, "carol's daemon");
    await waitFor('carol to lose her socket', async () => {
      const result = await host.dmctl('carol', 'status');
      return result.code !== 0 && /not authorized/.test(result.stderr) ? true : undefined;
    });
    await waitFor("carol's daemons to leave the status", async () =>
      (await host.status('root')).some((d) => d.user === host.user('carol').name)
        ? undefined
        : true,
    );
    await waitFor("carol's processes to end", () =>
      livePidsOfUid(host.user('carol').uid).length === 0 ? true : undefined,
    );
    assert.equal(await pidOf('alice/keep'), keep);
    assert.equal(await pidOf('bob/new'), bob);
  });

  test('SIGHUP with a broken master config keeps the old one', async () => {
    const keep = await pidOf('alice/keep');
    host.writeMaster('[can_run_as]\n{alice}\n[bogus]\n');
    hangUp();
    const problem = new RegExp(`\\n\\S+ error ${host.configFile}:\\d+: error: unknown section`);
    await waitFor('the manager to refuse the new config, naming the problem', () =>
      problem.test(host.managerLog) ? true : undefined,
    );
    // One problem per log line, not a literal \n inside one line.
    assert.match(
      host.managerLog,
      /error SIGHUP: master config not reloaded, keeping the old one:\n/,
    );
    assert.doesNotMatch(host.managerLog, /keeping the old one:\\n/);
    const bob = await host.status('bob');
    assert.equal(bob[0]?.state, 'running', 'bob keeps his rights and daemons');
    assert.equal(await pidOf('alice/keep'), keep);
  });

  test('SIGTERM stops every daemon and the manager exits 0', async () => {
    master('alice', 'bob', 'carol');
    hangUp();
    await readWhen(join(host.user('carol').home, 'ready'), (text) => text === 'ready\n');
    await host.waitForDaemon('root', 'carol/stubborn', (d) => d.state === 'running', 'to run');
    const pids = (await host.status('root')).map((d) => d.pid).filter((pid) => pid > 0);
    assert.ok(pids.length >= 4, `daemons running: ${pids.join(' ')}`);
    const code = await host.stopManager();
    assert.equal(code, 0, host.managerLog);
    for (const short of ['alice', 'bob', 'carol'])
      assert.deepEqual(livePidsOfUid(host.user(short).uid), [], `no process of ${short} left`);
    for (const pid of pids) assert.ok(!isAlive(pid));
  });
});
