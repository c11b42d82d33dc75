import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { spawnCollecting } from '../helpers/cli.ts';
import { DatagramReceiver } from '../helpers/datagrams.ts';
import { DAEMON_MANAGER, run, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * Is bin/daemon-manager's early catcher in place in this process: mapped (so it runs
 * Node, not the shell that starts it) and catching `signal` (SigCgt)?
 */
function catcherInPlace(pid: number, signal: NodeJS.Signals): true | undefined {
  try {
    if (!readFileSync(`/proc/${pid}/maps`, 'utf8').includes('dm-early-signals.so')) return;
    const caught = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const bit = 1n << BigInt(constants.signals[signal] - 1);
    return caught?.[1] !== undefined && (BigInt(`0x${caught[1]}`) & bit) !== 0n ? true : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reviews killed the manager with a HUP, USR1 or USR2 sent in its first half second (exit
 * 129, 138, 140), before its handlers were in place: a `systemctl reload` right after a
 * start, a logrotate at the wrong moment; and found that a SIGUSR1 then opened Node's
 * inspector on 127.0.0.1:9229, as root, for any local user to connect to.
 */
describe('signals while Node itself starts', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();

  before(() => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6900202\n');
  });
  after(() => host.cleanup());

  const acted = {
    SIGHUP: /SIGHUP: reloading/,
    SIGUSR1: /SIGUSR1: reopening every log file/,
    SIGUSR2: /upgrade done: the manager runs as pid (\d+) now/,
  } as const;
  for (const signal of ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const)
    test(`${signal} as soon as Node runs is acted on once the manager runs`, async () => {
      const manager = spawnCollecting([DAEMON_MANAGER, '--config', host.configFile, '-f']);
      const pid = manager.child.pid ?? 0;
      let current = pid;
      try {
        await waitFor('Node to start with the catcher', () => catcherInPlace(pid, signal), {
          describe: manager.output,
        });
        process.kill(pid, signal);
        const done = await waitFor(
          `the manager to act on ${signal}`,
          () => acted[signal].exec(manager.output()) ?? (isAlive(pid) ? undefined : null),
          { describe: manager.output },
        );
        assert.ok(done, `the manager died: ${manager.output()}`);
        if (signal === 'SIGUSR2') current = Number(done[1]);
        assert.ok(isAlive(current), manager.output());
        assert.doesNotMatch(manager.output(), /Debugger listening/);
        await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
      } finally {
        if (isAlive(current)) process.kill(current, 'SIGTERM');
        await waitFor('the manager to exit', () => (isAlive(current) ? undefined : true));
        await manager.stop();
      }
      assert.match(manager.output(), /all daemons stopped; exiting/);
    });
});
/**
 * A review found the background launcher saying "running" as soon as the control socket
 * answered (a keeper left by a crashed manager holds it), before the new manager held its
 * lock or had written its pidfile; two launchers at once both said so.
 */
describe('starting in the background', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();

  before(() => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6900201\n');
  });
  after(() => host.cleanup());

  // Found by a review: the launcher read the manager's log for its "running" line, which
  // went to syslog instead, so `daemon-manager --syslog` never returned.
  test('in the background with --syslog, the launcher returns once the manager runs', async () => {
    const syslog = await DatagramReceiver.open(join(host.dir, 'syslog.sock'));
    try {
      const started = await run(
        [DAEMON_MANAGER],
        ['--config', host.configFile, `--syslog=${syslog.path}`],
      );
      assert.equal(started.code, 0, started.stderr);
      const pid = Number(/running in the background, pid (\d+)/.exec(started.stdout)?.[1]);
      await syslog.waitFor('the manager to say it runs, in syslog', (m) =>
        m.includes(`running, pid ${pid}`),
      );
      process.kill(pid, 'SIGTERM');
      await waitFor('the background manager to exit', () => (isAlive(pid) ? undefined : true));
    } finally {
      syslog.close();
    }
  });

  test('a pidfile that cannot be written is refused before anything starts', async () => {
    const started = await run(
      [DAEMON_MANAGER],
      ['--config', host.configFile, '-f', '--pidfile', join(host.dir, 'no/such/dir/x.pid')],
    );
    assert.equal(started.code, 1);
    assert.match(started.stderr, /cannot write the pidfile .*x\.pid: .*no\/such\/dir \(ENOENT\)/);
    assert.doesNotMatch(started.stderr, /\n\s+at /, 'no stack trace');
    const keeper = spawnSync('pgrep', ['-f', `dm-keeper ${join(host.dir, 'state')}`]);
    assert.equal(keeper.status, 1, `no keeper started: ${keeper.stdout}`);
  });

  // `--pidfile /dev/null` replaced the device with a file (the pidfile is renamed into
  // place), and the manager's exit then removed it.
  test('a pidfile path that is a device, a FIFO or a directory is refused, and left as it is', async () => {
    const fifo = join(host.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // A null device of the test's own: if this ever failed, the machine's would be spared.
    const device = join(host.dir, 'null');
    execFileSync('mknod', ['-m', '666', device, 'c', '1', '3']);
    for (const path of [device, fifo, host.dir]) {
      const started = await run(
        [DAEMON_MANAGER],
        ['--config', host.configFile, '-f', '--pidfile', path],
      );
      assert.equal(started.code, 1, `${path}: ${started.stdout}`);
      assert.match(started.stderr, /it exists and is not a regular file|is not a directory/);
    }
    assert.ok(lstatSync(device).isCharacterDevice(), 'the device is still there');
    assert.ok(lstatSync(fifo).isFIFO());
  });

  test('in the background, the launcher returns once the manager runs, its pidfile written', async () => {
    const pidfile = join(host.dir, 'manager.pid');
    // A link planted where the pidfile goes is replaced, never written through.
    const victim = join(host.dir, 'victim');
    writeFileSync(victim, 'root only\n', { mode: 0o600 });
    symlinkSync(victim, pidfile);
    const started = await run(
      [DAEMON_MANAGER],
      ['--config', host.configFile, '--pidfile', pidfile],
    );
    assert.equal(started.code, 0, started.stderr);
    const pid = Number(/running in the background, pid (\d+)/.exec(started.stdout)?.[1]);
    assert.ok(pid > 0, started.stdout);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(pid));
    assert.ok(lstatSync(pidfile).isFile(), 'the pidfile is a file of its own');
    assert.equal(readFileSync(victim, 'utf8'), 'root only\n');
    const second = await run([DAEMON_MANAGER], ['--config', host.configFile]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`another manager is already running \\(pid ${pid}\\)`));
    process.kill(pid, 'SIGTERM');
    await waitFor('the background manager to exit', () => (isAlive(pid) ? undefined : true));
  });
});

/**
 * An outside review (22b, 1): a SIGTERM while a starting manager started its daemons was
 * seen between two groups of eight, but every start asked of the keeper before it went
 * on in the keeper's queue: up to 176 of 300 daemons, and one-shot tasks, were started
 * after the manager said it was stopping. The next eight are asked for once the keeper
 * has made the last eight's processes.
 */
describe('a SIGTERM while the manager starts its daemons', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const USERS = ['alice', 'bob', 'carol'];
  const COUNT = 100;
  after(() => host.cleanup());

  const startStopped = async (pulses: boolean): Promise<void> => {
    host.writeMaster(`[can_run_as]\n${USERS.map((user) => `{${user}}\n`).join('')}`);
    for (const user of USERS)
      for (let index = 0; index < COUNT; index++)
        host.writeDaemon(user, `d${index}`, `start=exec sleep ${6700300 + index}\noutput=log\n`);
    const manager = spawnCollecting([
      DAEMON_MANAGER,
      '--config',
      host.configFile,
      '--foreground',
      '--verbose',
    ]);
    try {
      await waitFor('the first daemon started', () =>
        manager.output().includes(': started, pid ') ? true : undefined,
      );
      // A keeper slow to make processes (a loaded machine): stopped a moment (or in
      // pulses: stopped 1 s, run 50 ms), what the manager asks of it waits in its queue.
      const keeper = host.keeperPid();
      process.kill(keeper, 'SIGSTOP');
      try {
        if (pulses)
          for (let pulse = 0; pulse < 4; pulse++) {
            await delay(1_000);
            process.kill(keeper, 'SIGCONT');
            await delay(50);
            process.kill(keeper, 'SIGSTOP');
          }
        // Longer than the start once waited for the keeper (5 s) before it asked for more.
        else await delay(6_000);
        manager.child.kill('SIGTERM');
        await waitFor('the stop to be seen', () =>
          manager.output().includes('SIGTERM: stopping every daemon') ? true : undefined,
        );
      } finally {
        process.kill(keeper, 'SIGCONT');
      }
      await waitFor('the manager to exit', () =>
        manager.child.exitCode !== null ? true : undefined,
      );
    } finally {
      await manager.stop();
    }
    const output = manager.output();
    const seen = output.indexOf('SIGTERM: stopping every daemon');
    assert.ok(seen > 0, output);
    const after_ = output.slice(seen).split(': started, pid ').length - 1;
    assert.ok(after_ <= 8, `${after_} daemons started after the SIGTERM was seen`);
    assert.equal(manager.child.exitCode, 0);
  };

  test('has at most eight of them started after it is seen', () => startStopped(false));
  // An outside review (24a, F4): starts waiting a moment for their log's look were not
  // counted as asked: with a keeper slowed in pulses, 129 and 136 of 320 started after.
  test('the same with a keeper slowed in pulses', () => startStopped(true));
});
