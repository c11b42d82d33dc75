import assert from 'node:assert/strict';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readWhen } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';
import { assertManagerAnswers, processesWith, waitForNoProcessWith } from './support.ts';

const skip = process.getuid?.() !== 0 && 'needs root';

/** The "Max ..." line of /proc/PID/limits for a resource, as [soft, hard]. */
function limitOf(pid: number, label: string): [string, string] {
  const line = readFileSync(`/proc/${pid}/limits`, 'latin1')
    .split('\n')
    .find((text) => text.startsWith(label));
  const fields = (line ?? '').slice(label.length).trim().split(/\s+/);
  return [fields[0] ?? '?', fields[1] ?? '?'];
}

describe('a daemon cannot escape its supervision or its limits', { skip }, () => {
  const host = new TestHost();
  const logOf = (name: string): string =>
    join(host.user('mallory').home, '.daemon-manager/logs', `${name}.log`);
  const running = (id: string) =>
    host.waitForDaemon('root', id, (d) => d.state === 'running' && d.pid > 0, 'to run');

  before(async () => {
    host.user('alice');
    host.user('mallory');
    host.writeMaster(
      [
        '[can_run_as]',
        '{alice}',
        '{mallory}',
        '[limits]',
        '{mallory}: nproc=40, max-daemons=4',
        '',
      ].join('\n'),
      'limit-nofile = 512\nlimit-core = 0\nlog-max-size = 1M\nlog-keep = 2',
    );
    host.writeDaemon('alice', 'web', 'start=exec sleep 5000001\n');
    await host.startManager();
    await running('alice/web');
  });
  after(() => host.cleanup());

  test('setsid and a double fork do not survive dmctl stop', async () => {
    host.writeDaemon(
      'mallory',
      'escape',
      'start=setsid -f sh -c "sleep 5000101 & exec sleep 5000102"; exec sleep 5000100\nautostart=no\n',
    );
    await host.dmctl('mallory', 'rescan');
    const start = await host.dmctl('mallory', 'escape', 'start');
    assert.equal(start.code, 0, start.stderr);
    await waitFor('the escaped processes to run', () =>
      processesWith('sleep 500010').length === 3 ? true : undefined,
    );
    const escaped = processesWith('sleep 500010');
    assert.ok(escaped.every((found) => found.uid === host.user('mallory').uid));
    const stop = await host.dmctl('mallory', 'escape', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await host.waitForDaemon('root', 'mallory/escape', (d) => d.state === 'stopped', 'to stop');
    await waitForNoProcessWith('sleep 500010', 'the daemon and what it hid');
  });

  test("a fork bomb is bounded by the admin's nproc limit and removed by stop", async () => {
    host.writeDaemon(
      'mallory',
      'bomb',
      [
        'start=i=0; while [ $i -lt 300 ]; do sleep 5000200 & i=$((i+1)); echo "forked $i"; done; wait',
        'output=log',
        'autostart=no',
        '',
      ].join('\n'),
    );
    await host.dmctl('mallory', 'rescan');
    const start = await host.dmctl('mallory', 'bomb', 'start');
    assert.equal(start.code, 0, start.stderr);
    // The shell gives up at the first fork the kernel refuses; it counted the ones before.
    const log = await readWhen(logOf('bomb'), (text) =>
      /Cannot fork|can't fork|Resource temporarily/i.test(text),
    );
    const counts = [...log.matchAll(/^forked (\d+)$/gm)].map((match) => Number(match[1]));
    assert.ok(counts.length > 0, log);
    const most = Math.max(...counts);
    assert.ok(most < 40, `${most} processes forked despite nproc=40`);
    assert.ok(most < 300, 'the loop was cut short');
    await assertManagerAnswers(host, 'alice');
    const stop = await host.dmctl('mallory', 'bomb', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await waitForNoProcessWith('sleep 5000200', 'the fork bomb');
  });

  test('a daemon writing gigabytes fills no more than the rotated logs, and others are answered', async () => {
    host.writeDaemon(
      'mallory',
      'flood',
      'start=exec yes 0123456789abcdefghijklmnopqrstuvwxyz\noutput=log\nautostart=no\n',
    );
    await host.dmctl('mallory', 'rescan');
    const start = await host.dmctl('mallory', 'flood', 'start');
    assert.equal(start.code, 0, start.stderr);
    const { pid } = await running('mallory/flood');
    try {
      await waitFor(
        'the daemon to write 1 GiB',
        async () => {
          const alice = await host.dmctl('alice', 'status');
          assert.equal(alice.code, 0, alice.stderr);
          const io = readFileSync(`/proc/${pid}/io`, 'latin1');
          return Number(/^wchar: (\d+)$/m.exec(io)?.[1]) > 2 ** 30 ? true : undefined;
        },
        { timeoutMs: 300_000 },
      );
    } finally {
      await host.dmctl('mallory', 'flood', 'stop');
    }
    await host.waitForDaemon('root', 'mallory/flood', (d) => d.state === 'stopped', 'to stop');
    const dir = join(host.user('mallory').home, '.daemon-manager/logs');
    const files = readdirSync(dir).filter((name) => name.startsWith('flood.log'));
    const total = files.reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
    assert.deepEqual(files.sort(), ['flood.log', 'flood.log.1', 'flood.log.2']);
    assert.ok(total <= 3 * 1024 * 1024 + 128 * 1024, `${total} bytes of logs`);
    await assertManagerAnswers(host, 'alice', 'mallory');
  });

  test('a daemon that closes its output keeps being supervised, and stop removes it', async () => {
    host.writeDaemon(
      'mallory',
      'mute',
      'start=exec >&- 2>&-; exec sleep 5000300\noutput=log\nautostart=no\n',
    );
    await host.dmctl('mallory', 'rescan');
    await host.dmctl('mallory', 'mute', 'start');
    const { pid } = await running('mallory/mute');
    await waitFor('the daemon to close its output', () =>
      readdirSync(`/proc/${pid}/fd`).length === 1 ? true : undefined,
    );
    await assertManagerAnswers(host, 'alice', 'mallory');
    const [daemon] = (await host.status('mallory')).filter((d) => d.name === 'mute');
    assert.equal(daemon?.state, 'running');
    assert.equal(daemon?.pid, pid);
    const stop = await host.dmctl('mallory', 'mute', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await waitForNoProcessWith('sleep 5000300', 'the daemon without output');
  });

  test('a setuid-root program gives a daemon nothing: no_new_privs, no capabilities', async () => {
    const tools = join(host.dir, 'tools');
    mkdirSync(tools, { mode: 0o755 });
    const suid = join(tools, 'suid-id');
    copyFileSync('/usr/bin/id', suid);
    chmodSync(suid, 0o4755);
    const out = join(host.user('mallory').home, 'suid.txt');
    host.writeDaemon(
      'mallory',
      'suid',
      `start=${suid} -u > ${out}.tmp; mv ${out}.tmp ${out}; exec sleep 5000400\nautostart=no\n`,
    );
    await host.dmctl('mallory', 'rescan');
    await host.dmctl('mallory', 'suid', 'start');
    const euid = await readWhen(out, (text) => text.endsWith('\n'));
    assert.equal(euid.trim(), String(host.user('mallory').uid), 'the setuid bit was ignored');
    const { pid } = await running('mallory/suid');
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
      assert.match(status, new RegExp(`^${set}:\\s+0+$`, 'm'), set);
    await host.dmctl('mallory', 'suid', 'stop');
    await waitForNoProcessWith('sleep 5000400', 'the daemon');
  });

  test("root's own daemon running as root keeps root's capabilities", async () => {
    const dir = join(host.dir, 'root-daemons');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'rootd.conf'), 'start=exec sleep 5000500\n', { mode: 0o600 });
    await host.dmctl('root', 'rescan');
    const found = await waitFor('root/rootd to run', async () =>
      (await host.status('root')).find((d) => d.id === 'root/rootd' && d.state === 'running'),
    );
    const status = readFileSync(`/proc/${found.pid}/status`, 'latin1');
    assert.match(status, /^Uid:\s+0\s/m);
    assert.doesNotMatch(status, /^CapEff:\s+0+$/m, 'root asked for root');
  });

  test('limits apply as soft and hard limits: a daemon may lower them, never raise them', async () => {
    host.writeDaemon(
      'mallory',
      'lower',
      'start=exec sleep 5000601\nlimit_nofile=64\nautostart=no\n',
    );
    host.writeDaemon(
      'mallory',
      'higher',
      'start=exec sleep 5000602\nlimit_nofile=100000\nlimit_core=1G\nautostart=no\n',
    );
    host.writeDaemon(
      'mallory',
      'ulimit',
      'start=ulimit -n 4096; ulimit -Hn 4096; ulimit -c 1000; exec sleep 5000603\noutput=log\nautostart=no\n',
    );
    await host.dmctl('mallory', 'rescan');
    for (const name of ['lower', 'higher', 'ulimit'])
      assert.equal((await host.dmctl('mallory', name, 'start')).code, 0, name);
    const lower = await running('mallory/lower');
    assert.deepEqual(limitOf(lower.pid, 'Max open files'), ['64', '64']);
    const higher = await running('mallory/higher');
    assert.deepEqual(limitOf(higher.pid, 'Max open files'), ['512', '512']);
    assert.deepEqual(limitOf(higher.pid, 'Max core file size'), ['0', '0']);
    assert.deepEqual(limitOf(higher.pid, 'Max processes'), ['40', '40']);
    const raised = await running('mallory/ulimit');
    await waitFor('the daemon to exec sleep', () =>
      readFileSync(`/proc/${raised.pid}/cmdline`, 'latin1').startsWith('sleep') ? true : undefined,
    );
    assert.deepEqual(limitOf(raised.pid, 'Max open files'), ['512', '512']);
    assert.deepEqual(limitOf(raised.pid, 'Max core file size'), ['0', '0']);
    const log = readFileSync(logOf('ulimit'), 'utf8');
    assert.match(log, /ulimit.*(Operation not permitted|Invalid argument|error setting limit)/i);
    for (const name of ['lower', 'higher', 'ulimit']) await host.dmctl('mallory', name, 'stop');
    await waitForNoProcessWith('sleep 500060', 'the limited daemons');
  });

  test('max-daemons bounds how many of her daemons run at once', async () => {
    for (const daemon of await host.status('mallory'))
      if (daemon.state !== 'stopped') await host.dmctl('mallory', daemon.id, 'stop');
    await waitFor('all her daemons to stop', async () =>
      (await host.status('mallory')).every((d) => d.state === 'stopped') ? true : undefined,
    );
    for (const name of ['m1', 'm2', 'm3', 'm4', 'm5'])
      host.writeDaemon('mallory', name, `start=exec sleep 5000700\nautostart=no\n`);
    await host.dmctl('mallory', 'rescan');
    const results = [];
    for (const name of ['m1', 'm2', 'm3', 'm4', 'm5'])
      results.push(await host.dmctl('mallory', name, 'start'));
    assert.deepEqual(
      results.map((result) => result.code),
      [0, 0, 0, 0, 1],
    );
    assert.match(
      results[4]?.stderr ?? '',
      new RegExp(
        `'${host.user('mallory').name}' already has 4 daemons running \\(max-daemons = 4\\)`,
      ),
    );
    const states = (await host.status('mallory'))
      .filter((d) => /^m\d$/.test(d.name))
      .map((d) => d.state);
    assert.deepEqual(states, ['running', 'running', 'running', 'running', 'stopped']);
    await assertManagerAnswers(host, 'alice');
    assert.equal((await host.dmctl('mallory', 'm1', 'stop')).code, 0);
    await host.waitForDaemon('root', 'mallory/m1', (d) => d.state === 'stopped', 'to stop');
    assert.equal((await host.dmctl('mallory', 'm5', 'start')).code, 0);
    for (const name of ['m2', 'm3', 'm4', 'm5']) await host.dmctl('mallory', name, 'stop');
    await waitForNoProcessWith('sleep 5000700', 'the daemons');
  });
});
