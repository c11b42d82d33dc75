import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { cleanUp, showLogIfFailed, spawnDmctl } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const NODE = process.execPath;

describe('ready= and ready_timeout=', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const home = (): string => host.user('alice').home;
  const port = 20_000 + Math.floor(Math.random() * 30_000);
  /** A daemon that listens once it is started: on a TCP port or a unix socket. */
  const listener = (where: string): string =>
    `start=exec ${NODE} -e "require('net').createServer().listen(${where})"\n`;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'gate',
      `start=exec sleep 6300500\nready=exec:test -e ${join(home(), 'gate-open')}\nautostart=no\n`,
    );
    host.writeDaemon(
      'alice',
      'web',
      `${listener(`${port}, '127.0.0.1'`)}ready=tcp:127.0.0.1:${port}\n`,
    );
    const socket = join(home(), 'app.sock');
    host.writeDaemon('alice', 'app', `${listener(`'${socket}'`)}ready=unix:${socket}\n`);
    host.writeDaemon(
      'alice',
      'slowpoke',
      `start=exec sleep 6300503\nready=exec:test -e ${join(home(), 'slowpoke-open')}\n`,
    );
    host.writeDaemon(
      'alice',
      'never',
      'start=exec sleep 6300501\nready=exec:false\nready_timeout=1s\nautostart=no\n',
    );
    host.writeDaemon(
      'alice',
      'late',
      'start=exec sleep 6300504\nready=exec:false\nready_timeout=20s\nrestart=no\nautostart=no\n',
    );
    host.writeDaemon(
      'alice',
      'task',
      'start=exec sleep 6300502\nready=exec:false\nready_timeout=1s\nrestart=no\nautostart=no\n',
    );
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('a daemon is starting until its check passes; start --wait returns only then', async () => {
    const waiting = spawnDmctl(host, 'alice', 'gate', 'start', '--wait');
    try {
      await host.waitForDaemon('alice', 'alice/gate', (d) => d.state === 'starting', 'to start');
      assert.equal(waiting.child.exitCode, null, `--wait returned early: ${waiting.output()}`);
      writeFileSync(join(home(), 'gate-open'), '');
      await waitFor('start --wait to return', () =>
        waiting.child.exitCode === null ? undefined : waiting.child.exitCode,
      );
      assert.equal(waiting.child.exitCode, 0, waiting.output());
      assert.match(waiting.output(), /gate running \(pid \d+\)/);
    } finally {
      await waiting.stop();
    }
    const gate = await host.waitForDaemon('alice', 'alice/gate', () => true, 'known');
    assert.equal(gate.state, 'running');
    const why = await host.dmctl('alice', 'gate', 'why');
    assert.match(why.stdout, /ready \(exec:test -e .*gate-open\) after /);
  });

  test('tcp: and unix: checks pass once the daemon listens', async () => {
    await host.waitForDaemon('alice', 'alice/web', (d) => d.state === 'running', 'to be ready');
    await host.waitForDaemon('alice', 'alice/app', (d) => d.state === 'running', 'to be ready');
  });

  test('a daemon still starting at an upgrade is still starting after it, then ready', async () => {
    const before_ = await host.waitForDaemon(
      'alice',
      'alice/slowpoke',
      (d) => d.state === 'starting' && d.pid > 0,
      'to start',
    );
    const from = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGUSR2');
    await waitFor('the upgrade', () =>
      /upgrade done: the manager runs as pid \d+ now/.test(host.managerLog.slice(from))
        ? true
        : undefined,
    );
    const after_ = await host.waitForDaemon('alice', 'alice/slowpoke', () => true, 'known');
    assert.deepEqual([after_.state, after_.pid], ['starting', before_.pid]);
    writeFileSync(join(home(), 'slowpoke-open'), '');
    const ready = await host.waitForDaemon(
      'alice',
      'alice/slowpoke',
      (d) => d.state === 'running',
      'to be ready',
    );
    assert.equal(ready.pid, before_.pid, 'the same process, not a new one');
  });

  test('not ready in time is a failed start: stopped, then respawned with back-off', async () => {
    const start = await host.dmctl('alice', 'never', 'start');
    assert.equal(start.code, 0, start.stderr);
    const first = await host.waitForDaemon(
      'alice',
      'alice/never',
      (d) => d.state === 'starting' && d.pid > 0,
      'to start',
    );
    const failed = await host.waitForDaemon(
      'alice',
      'alice/never',
      (d) => d.respawns >= 1,
      'to be respawned',
    );
    assert.match(failed.lastExit ?? '', /^not ready after 1s \(exec:false\)$/);
    await waitFor('the unready process to be gone', () => (isAlive(first.pid) ? undefined : true));
    const stop = await host.dmctl('alice', 'never', 'stop', '--wait');
    assert.equal(stop.code, 0, stop.stderr);
  });

  test('a crash of the manager does not give a starting daemon its ready_timeout again', async () => {
    const start = await host.dmctl('alice', 'late', 'start');
    assert.equal(start.code, 0, start.stderr);
    const late = async (check: (d: DaemonStatus) => boolean): Promise<DaemonStatus | undefined> => {
      const row = (await host.status('alice')).find((d) => d.id === host.id('alice/late'));
      return row && check(row) ? row : undefined;
    };
    const started = await waitFor(
      'late to be starting for 10 s',
      () => late((d) => d.state === 'starting' && d.uptime >= 10),
      { timeoutMs: 60_000 },
    );
    const spawned = Date.now() - (started.uptime + 1) * 1000;
    const manager = host.managerPid();
    process.kill(manager, 'SIGKILL');
    await waitFor('the manager to go', () => (isAlive(manager) ? undefined : true));
    await host.startManager();
    const failed = await waitFor('late to fail', () => late((d) => d.state === 'failed'), {
      timeoutMs: 60_000,
    });
    // Its 20 s count from its start, not from the takeover 10 s in (that made it 30 s).
    const took = (Date.now() - spawned) / 1000;
    assert.ok(took < 27, `failed ${took.toFixed(1)} s after its start`);
    assert.match(failed.lastExit ?? '', /not ready after 20s/);
  });

  test('with restart=no, not ready in time leaves it failed', async () => {
    const start = await host.dmctl('alice', 'task', 'start', '--wait');
    assert.equal(start.code, 1, start.stdout);
    const task = await host.waitForDaemon(
      'alice',
      'alice/task',
      (d) => d.state === 'failed',
      'to fail',
    );
    assert.equal(task.respawns, 0);
    assert.match(task.lastExit ?? '', /not ready after/);
  });
});
