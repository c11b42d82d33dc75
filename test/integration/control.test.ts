import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, readWhen, showLogIfFailed, waitForDeath } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';

/** The original's seven columns, then run-as (as wide as its longest value) and last-exit. */
const ORIGINAL_HEADER =
  'daemon-id                      state              pid respawns cooldown   uptime    total';
const HEADER =
  /^daemon-id {22}state {14}pid respawns cooldown {3}uptime {4}total run-as +last-exit$/;
const STATUS_KEYS = [
  'cooldown',
  'id',
  'name',
  'pid',
  'respawns',
  'state',
  'total',
  'uptime',
  'user',
];

describe('dmctl controls daemons by id, in either order', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const signals = (): string => join(host.user('alice').home, 'signals.txt');

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n', 'cooldown-step = 1s\ncooldown-max = 1s');
    host.writeDaemon('alice', 'web', 'start=exec sleep 100000\n');
    host.writeDaemon('alice', 'db', 'start=exec sleep 100000\n');
    host.writeDaemon('alice', 'idle', 'start=exec sleep 100000\nautostart=no\n');
    host.writeDaemon('alice', 'hup', `start=exec ${FIXTURES}/record-signals.sh ${signals()}\n`);
    host.writeDaemon('bob', 'web', 'start=exec sleep 100000\n');
    await host.startManager();
    for (const id of ['alice/web', 'alice/db', 'alice/hup', 'bob/web'])
      await host.waitForDaemon('root', id, (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  const aliceIds = (): string[] =>
    ['db', 'hup', 'idle', 'web'].map((name) => host.id(`alice/${name}`));

  test('status prints the original header and one row per daemon', async () => {
    const result = await host.dmctl('alice', 'status');
    assert.equal(result.code, 0, result.stderr);
    const [header = '', ...rows] = result.stdout.trimEnd().split('\n');
    assert.ok(header.startsWith(`${ORIGINAL_HEADER} run-as`), header);
    assert.match(header, HEADER);
    assert.deepEqual(
      rows.map((row) => row.split(/\s+/)[0]),
      aliceIds(),
    );
    const alice = host.user('alice').name;
    const web = rows.find((row) => row.startsWith(`${host.id('alice/web')} `)) ?? '';
    assert.match(
      web,
      new RegExp(
        `^\\S+\\s+running\\s+[1-9]\\d*\\s+0\\s+0s\\s+\\d+[wdhms]\\S*\\s+\\d+[wdhms]\\S* ${alice} -$`,
      ),
    );
    const idle = rows.find((row) => row.startsWith(`${host.id('alice/idle')} `)) ?? '';
    assert.match(idle, new RegExp(`^\\S+\\s+stopped\\s+0\\s+0\\s+0s\\s+0s\\s+0s ${alice} -$`));
    assert.equal(web.slice(0, ORIGINAL_HEADER.length + 1).length, ORIGINAL_HEADER.length + 1);
    assert.equal(web.indexOf(` ${alice} `, 30) + 1, header.indexOf('run-as'), 'columns line up');
  });

  test('dmctl with no arguments prints the status', async () => {
    const result = await host.dmctl('alice');
    assert.equal(result.code, 0, result.stderr);
    const [header = '', ...rows] = result.stdout.trimEnd().split('\n');
    assert.match(header, HEADER);
    assert.deepEqual(
      rows.map((row) => row.split(/\s+/)[0]),
      aliceIds(),
    );
  });

  test('list prints the ids, one per line', async () => {
    const result = await host.dmctl('alice', 'list');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      aliceIds()
        .map((id) => `${id}\n`)
        .join(''),
    );
  });

  for (const command of ['status', 'list']) {
    test(`--json ${command} is an array of daemon objects`, async () => {
      const result = await host.dmctl('alice', '--json', command);
      assert.equal(result.code, 0, result.stderr);
      const daemons = JSON.parse(result.stdout) as Record<string, unknown>[];
      assert.ok(Array.isArray(daemons));
      assert.deepEqual(
        daemons.map((daemon) => daemon.id),
        aliceIds(),
      );
      const alice = host.user('alice').name;
      for (const daemon of daemons) {
        for (const key of STATUS_KEYS) assert.ok(key in daemon, `${key} in ${command}`);
        assert.equal(daemon.user, alice);
        assert.equal(daemon.id, `${alice}/${daemon.name}`);
        for (const key of ['pid', 'respawns', 'cooldown', 'uptime', 'total'])
          assert.equal(typeof daemon[key], 'number', key);
      }
      const web = daemons.find((daemon) => daemon.name === 'web');
      assert.equal(web?.state, 'running');
      assert.ok(isAlive(Number(web?.pid)));
    });
  }

  test('dmctl ID COMMAND and dmctl COMMAND ID both work', async () => {
    const stop = await host.dmctl('alice', 'db', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await host.waitForDaemon('alice', 'alice/db', (d) => d.state === 'stopped', 'to stop');
    const start = await host.dmctl('alice', 'start', 'db');
    assert.equal(start.code, 0, start.stderr);
    await host.waitForDaemon('alice', 'alice/db', (d) => d.state === 'running', 'to run');
    const stopAgain = await host.dmctl('alice', 'stop', 'db');
    assert.equal(stopAgain.code, 0, stopAgain.stderr);
    await host.waitForDaemon('alice', 'alice/db', (d) => d.state === 'stopped', 'to stop');
    const startAgain = await host.dmctl('alice', 'db', 'start');
    assert.equal(startAgain.code, 0, startAgain.stderr);
    await host.waitForDaemon('alice', 'alice/db', (d) => d.state === 'running', 'to run');
  });

  test('a short id resolves to user/name', async () => {
    const status = await host.dmctl('alice', '--json', 'web', 'status');
    assert.equal(status.code, 0, status.stderr);
    const daemons = JSON.parse(status.stdout) as { id: string }[];
    assert.deepEqual(
      daemons.map((daemon) => daemon.id),
      [host.id('alice/web')],
    );
    const full = await host.dmctl('alice', host.id('alice/idle'), 'start');
    assert.equal(full.code, 0, full.stderr);
    assert.match(full.stdout, new RegExp(`${host.id('alice/idle')} started`));
    const short = await host.dmctl('alice', 'idle', 'stop');
    assert.equal(short.code, 0, short.stderr);
    assert.match(short.stdout, new RegExp(host.id('alice/idle')));
    await host.waitForDaemon('alice', 'alice/idle', (d) => d.state === 'stopped', 'to stop');
  });

  test('an ambiguous short id lists the candidates and changes nothing', async () => {
    const before = (await host.status('root')).filter((d) => d.name === 'web');
    const result = await host.dmctl('root', 'web', 'stop');
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /ambiguous/);
    assert.ok(result.stderr.includes(host.id('alice/web')), result.stderr);
    assert.ok(result.stderr.includes(host.id('bob/web')), result.stderr);
    const afterwards = (await host.status('root')).filter((d) => d.name === 'web');
    assert.deepEqual(
      afterwards.map((d) => [d.id, d.state, d.pid]),
      before.map((d) => [d.id, d.state, d.pid]),
    );
  });

  test('an unknown id fails with a one-line reason on stderr', async () => {
    for (const id of ['nosuch', host.id('alice/nosuch')]) {
      const result = await host.dmctl('alice', id, 'stop');
      assert.notEqual(result.code, 0);
      assert.equal(result.stdout, '');
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', new RegExp(`unknown daemon '${id}'`));
    }
  });

  test('bad usage exits non-zero with a message', async () => {
    for (const args of [
      ['frobnicate', 'now'],
      ['start'],
      ['web', 'kill'],
      ['web', 'stop', 'extra'],
      ['--config'],
    ]) {
      const result = await host.dmctl('alice', ...args);
      assert.equal(result.code, 2, `dmctl ${args.join(' ')}`);
      // The mistake and where the help is, not the whole help burying it.
      assert.match(result.stderr, /^dmctl: .*\n\(dmctl --help lists/, `dmctl ${args.join(' ')}`);
      assert.equal(result.stderr.split('\n').length, 3, result.stderr);
    }
    const signal = await host.dmctl('alice', 'web', 'kill', '-NOSUCHSIGNAL');
    assert.notEqual(signal.code, 0);
    assert.match(signal.stderr, /unknown signal/);
    // A real-time signal is not sent, and the refusal does not offer it (it said 1 to 64).
    const realtime = await host.dmctl('alice', 'web', 'kill', '-34');
    assert.notEqual(realtime.code, 0);
    assert.match(
      realtime.stderr,
      /unknown signal "-?34" \(.*a number from 1 to 31; real-time signals are not sent\)/,
    );
  });

  test('kill -HUP, kill -HUP ID and kill SIGUSR1 each reach the daemon exactly once', async () => {
    await readWhen(signals(), (text) => text.startsWith('ready'));
    const [before] = (await host.status('alice')).filter((d) => d.name === 'hup');
    const count = (text: string, line: string): number =>
      text.split('\n').filter((l) => l === line).length;
    // Each HUP is followed by a USR1 as a fence: once the fence is recorded, every copy
    // of the HUP sent before it has been too, so the count of HUP lines is final.
    const sendAndFence = async (hup: string[], fences: number): Promise<string> => {
      const sent = await host.dmctl('alice', ...hup);
      assert.equal(sent.code, 0, sent.stderr);
      const fence = await host.dmctl('alice', 'hup', 'kill', 'SIGUSR1');
      assert.equal(fence.code, 0, fence.stderr);
      return readWhen(signals(), (text) => count(text, 'USR1') >= fences);
    };
    const first = await sendAndFence(['hup', 'kill', '-HUP'], 1);
    assert.equal(count(first, 'HUP'), 1, first);
    const second = await sendAndFence(['kill', '-HUP', 'hup'], 2);
    assert.equal(count(second, 'HUP'), 2, second);
    assert.equal(count(second, 'USR1'), 2, second);
    const [afterwards] = (await host.status('alice')).filter((d) => d.name === 'hup');
    assert.equal(afterwards?.state, 'running');
    assert.equal(afterwards?.pid, before?.pid);
    assert.equal(afterwards?.respawns, 0);
  });

  for (const form of ['-9', 'KILL', 'SIGKILL', '-KILL', '-SIGKILL']) {
    test(`kill ${form} kills the daemon, which is respawned`, async () => {
      const [before] = (await host.status('alice')).filter((d) => d.name === 'web');
      assert.equal(before?.state, 'running');
      const result = await host.dmctl('alice', 'web', 'kill', form);
      assert.equal(result.code, 0, result.stderr);
      await waitForDeath(before?.pid ?? 0, 'the killed daemon');
      const respawned = await host.waitForDaemon(
        'alice',
        'alice/web',
        (d) => d.state === 'running' && d.pid !== before?.pid,
        'to be respawned',
      );
      assert.equal(respawned.respawns, (before?.respawns ?? 0) + 1);
      assert.match(respawned.lastExit ?? '', /SIGKILL/);
    });
  }

  test('restart gives a new pid', async () => {
    const [before] = (await host.status('alice')).filter((d) => d.name === 'db');
    assert.equal(before?.state, 'running');
    const result = await host.dmctl('alice', 'db', 'restart');
    assert.equal(result.code, 0, result.stderr);
    const restarted = await host.waitForDaemon(
      'alice',
      'alice/db',
      (d) => d.state === 'running' && d.pid !== before?.pid,
      'to run again',
    );
    assert.ok(!isAlive(before?.pid ?? 0), 'the old process is gone');
    assert.equal(restarted.respawns, 0);
  });

  test('stop, then start, runs the daemon again', async () => {
    const [before] = (await host.status('alice')).filter((d) => d.name === 'db');
    const stop = await host.dmctl('alice', 'db', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    const stopped = await host.waitForDaemon(
      'alice',
      'alice/db',
      (d) => d.state === 'stopped',
      'to stop',
    );
    assert.equal(stopped.pid, 0);
    assert.ok(!isAlive(before?.pid ?? 0));
    const start = await host.dmctl('alice', 'db', 'start');
    assert.equal(start.code, 0, start.stderr);
    const started = await host.waitForDaemon(
      'alice',
      'alice/db',
      (d) => d.state === 'running',
      'to run',
    );
    assert.ok(isAlive(started.pid));
    assert.notEqual(started.pid, before?.pid);
  });
});
