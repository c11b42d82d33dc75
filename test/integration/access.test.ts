import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed, uidOfPid } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';

describe('who may see and control which daemons', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const sleeper = 'start=exec sleep 100000\n';
  const all = ['alice/db', 'alice/site', 'bob/site', 'dave/asalice', 'dave/asweb', 'dave/site'];
  const ids = (...shorts: string[]): string[] => shorts.map((short) => host.id(short)).sort();
  const visibleTo = async (short: string): Promise<string[]> =>
    (await host.status(short)).map((daemon) => daemon.id).sort();
  const pidOf = async (id: string): Promise<number | undefined> =>
    (await host.status('root')).find((daemon) => daemon.id === host.id(id))?.pid;

  before(async () => {
    for (const short of ['alice', 'bob', 'dave', 'web', 'helper', 'desk', 'eve']) host.user(short);
    host.group('runners', ['dave']);
    host.group('webusers', ['web']);
    host.group('helpdesk', ['desk']);
    host.group('customers', ['bob', 'dave']);
    host.writeMaster(
      [
        '[can_run_as]',
        '{alice}',
        '{bob}:',
        '@{runners}: @{webusers}   # a group on both sides',
        '[manages]',
        '{helper}: {alice}',
        '@{helpdesk}: @{customers}',
        '',
      ].join('\n'),
    );
    host.writeDaemon('alice', 'site', sleeper);
    host.writeDaemon('alice', 'db', sleeper);
    host.writeDaemon('bob', 'site', sleeper);
    host.writeDaemon('dave', 'site', sleeper);
    host.writeDaemon('dave', 'asweb', `${sleeper}user=${host.user('web').name}\n`);
    host.writeDaemon('dave', 'asalice', `${sleeper}user=${host.user('alice').name}\n`);
    await host.startManager();
    for (const id of ['alice/db', 'alice/site', 'bob/site', 'dave/asweb', 'dave/site'])
      await host.waitForDaemon('root', id, (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('bob can neither see nor control the daemons of alice', async () => {
    assert.deepEqual(await visibleTo('bob'), ids('bob/site'));
    const pid = await pidOf('alice/site');
    const full = await host.dmctl('bob', host.id('alice/site'), 'stop');
    assert.notEqual(full.code, 0);
    assert.match(full.stderr, /not allowed/);
    const short = await host.dmctl('bob', 'db', 'stop');
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /unknown daemon 'db'/);
    const kill = await host.dmctl('bob', host.id('alice/site'), 'kill', '-9');
    assert.notEqual(kill.code, 0);
    const status = await host.dmctl('bob', host.id('alice/site'), 'status');
    assert.notEqual(status.code, 0);
    assert.equal(await pidOf('alice/site'), pid, "alice's daemon was not touched");
  });

  test('alice can neither see nor control the daemons of bob', async () => {
    assert.deepEqual(await visibleTo('alice'), ids('alice/db', 'alice/site'));
    const pid = await pidOf('bob/site');
    const full = await host.dmctl('alice', host.id('bob/site'), 'restart');
    assert.notEqual(full.code, 0);
    assert.match(full.stderr, /not allowed/);
    const list = await host.dmctl('alice', 'list');
    assert.ok(!list.stdout.includes(host.user('bob').name), list.stdout);
    assert.equal(await pidOf('bob/site'), pid, "bob's daemon was not touched");
  });

  test('[manages] lets a help-desk user see and control exactly the managed users', async () => {
    assert.deepEqual(await visibleTo('helper'), ids('alice/db', 'alice/site'));
    const stop = await host.dmctl('helper', 'db', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await host.waitForDaemon('root', 'alice/db', (d) => d.state === 'stopped', 'to stop');
    const start = await host.dmctl('helper', host.id('alice/db'), 'start');
    assert.equal(start.code, 0, start.stderr);
    await host.waitForDaemon('root', 'alice/db', (d) => d.state === 'running', 'to run');
    const pid = await pidOf('bob/site');
    const other = await host.dmctl('helper', host.id('bob/site'), 'stop');
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /not allowed/);
    assert.equal(await pidOf('bob/site'), pid);
  });

  test('@group on both sides of [manages] covers every member', async () => {
    assert.deepEqual(
      await visibleTo('desk'),
      ids('bob/site', 'dave/asalice', 'dave/asweb', 'dave/site'),
    );
    const before = await pidOf('dave/site');
    const restart = await host.dmctl('desk', host.id('dave/site'), 'restart');
    assert.equal(restart.code, 0, restart.stderr);
    await host.waitForDaemon(
      'root',
      'dave/site',
      (d) => d.state === 'running' && d.pid !== before,
      'to run with a new pid',
    );
    const pid = await pidOf('alice/site');
    const other = await host.dmctl('desk', host.id('alice/site'), 'stop');
    assert.notEqual(other.code, 0);
    assert.equal(await pidOf('alice/site'), pid);
  });

  test('@group on the left of [can_run_as] lets its members run daemons', async () => {
    const [site] = (await host.status('dave')).filter((d) => d.id === host.id('dave/site'));
    assert.equal(site?.state, 'running');
    assert.equal(uidOfPid(site?.pid ?? 0), host.user('dave').uid);
  });

  test('@group on the right of [can_run_as] lets daemons run as its members only', async () => {
    const daemons = await host.status('dave');
    const asweb = daemons.find((d) => d.id === host.id('dave/asweb'));
    assert.equal(asweb?.state, 'running');
    assert.equal(uidOfPid(asweb?.pid ?? 0), host.user('web').uid);
    const asalice = daemons.find((d) => d.id === host.id('dave/asalice'));
    assert.equal(asalice?.state, 'broken', 'not started, and listed with why');
    assert.equal(asalice?.pid, 0);
    const status = await host.dmctl('dave', 'status');
    assert.match(
      status.stderr,
      new RegExp(`asalice\\.conf:\\d+: error: user '${host.user('alice').name}' is not allowed`),
    );
  });

  test('root sees and controls every daemon', async () => {
    assert.deepEqual(await visibleTo('root'), ids(...all));
    const stop = await host.dmctl('root', host.id('bob/site'), 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await host.waitForDaemon('root', 'bob/site', (d) => d.state === 'stopped', 'to stop');
    const start = await host.dmctl('root', 'start', host.id('bob/site'));
    assert.equal(start.code, 0, start.stderr);
    await host.waitForDaemon('root', 'bob/site', (d) => d.state === 'running', 'to run');
  });

  test('a user in no section is told they are not authorized', async () => {
    for (const short of ['eve', 'web']) {
      const result = await host.dmctl(short, 'status');
      assert.notEqual(result.code, 0, short);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /not authorized/, short);
      assert.ok(result.stderr.includes(host.user(short).name), result.stderr);
    }
  });
});
