import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * Signals in the upgrade window. The first review killed the re-executed manager with a
 * second SIGUSR2 0.1 s after the first (exit 140), a SIGHUP (129) or a SIGTERM (143), and
 * lost a SIGTERM sent 0.03 s after a SIGUSR2: its handlers came only after it had loaded
 * every daemon. They come first now, and a signal blocked across the execve is taken by
 * the new code once it runs.
 */
describe('signals during an upgrade', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const running = (d: DaemonStatus): boolean => d.state === 'running' && d.pid > 0;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    for (const name of ['a', 'b', 'c'])
      host.writeDaemon(
        'alice',
        name,
        `start=exec sleep ${6300000 + name.charCodeAt(0)}\noutput=log\n`,
      );
    await host.startManager();
  });
  after(() => host.cleanup());

  const pids = async (): Promise<Map<string, number>> => {
    const rows = await host.status('alice');
    return new Map(rows.map((row) => [row.id, row.pid]));
  };

  test('a second SIGUSR2 0.1 s after the first: the manager lives on, no daemon restarted', async () => {
    for (const name of ['a', 'b', 'c'])
      await host.waitForDaemon('alice', `alice/${name}`, running, 'to run');
    const was = await pids();
    const manager = host.managerPid();
    const from = host.managerLog.length;
    process.kill(manager, 'SIGUSR2');
    await delay(100);
    process.kill(manager, 'SIGUSR2');
    // The second one comes while the new code starts: that upgrade is called off, and the
    // queued SIGUSR2 then upgrades once more.
    // The managers share the log: a new one's "running" line may come after the old one's
    // "upgrade done"; wait for both, of the same (latest) manager.
    await waitFor('an upgrade to be done, and the new manager to say it runs', () => {
      const done = [...host.managerLog.slice(from).matchAll(/upgrade done: .* as pid (\d+) now/g)];
      const successor = done.at(-1)?.[1];
      return successor !== undefined && String(host.managerPid()) === successor ? true : undefined;
    });
    const now = host.managerPid();
    assert.notEqual(now, manager);
    assert.ok(isAlive(now), 'a manager runs');
    assert.deepEqual(await pids(), was);
    const status = await host.dmctl('alice', 'status');
    assert.equal(status.code, 0, status.stderr);
  });

  test('a SIGHUP 0.1 s after SIGUSR2 is acted on: a new daemon file is loaded', async () => {
    const manager = host.managerPid();
    const from = host.managerLog.length;
    process.kill(manager, 'SIGUSR2');
    await delay(100);
    // Written after the SIGUSR2: loaded by the SIGHUP (or by a new manager's takeover).
    host.writeDaemon('alice', 'late', 'start=exec sleep 6300100\n');
    // An upgrade done within 0.1 s (an idle machine) left the old manager gone: the
    // SIGHUP goes to the one that runs (a full run saw the old one exited, as it should).
    process.kill(isAlive(manager) ? manager : host.managerPid(), 'SIGHUP');
    await host.waitForDaemon('alice', 'alice/late', running, 'to be loaded by the SIGHUP');
    assert.ok(isAlive(host.managerPid()), 'a manager lives');
    await waitFor('the SIGHUP to be acted on', () =>
      /SIGHUP: reloading/.test(host.managerLog.slice(from)) ? true : undefined,
    );
  });
});

describe('a SIGTERM 0.03 s after a SIGUSR2', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    for (const name of ['a', 'b'])
      host.writeDaemon('alice', name, `start=exec sleep ${6300400 + name.charCodeAt(0)}\n`);
    await host.startManager();
  });
  after(() => host.cleanup());

  test('is acted on: every daemon stopped, the manager and its keeper gone, exit 0', async () => {
    for (const name of ['a', 'b'])
      await host.waitForDaemon(
        'alice',
        `alice/${name}`,
        (d) => d.state === 'running' && d.pid > 0,
        'to run',
      );
    const was = (await host.status('alice')).map((row) => row.pid);
    const manager = host.managerProcess();
    assert.ok(manager);
    const exited = new Promise<number | null>((resolve) =>
      manager.once('exit', (code) => resolve(code)),
    );
    const keeper = host.keeperPid();
    process.kill(host.managerPid(), 'SIGUSR2');
    await delay(30);
    process.kill(host.managerPid(), 'SIGTERM');
    assert.equal(await exited, 0);
    assert.match(host.managerLog, /upgrade called off: SIGTERM came meanwhile/);
    for (const pid of was)
      await waitFor(`pid ${pid} to end`, () => (isAlive(pid) ? undefined : true));
    await waitFor('the keeper to end', () => (isAlive(keeper) ? undefined : true));
  });
});

describe('a SIGTERM to the old pid once the upgrade is done, before it exits', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'a', 'start=exec sleep 6300501\n');
    await host.startManager();
  });
  after(() => host.cleanup());

  // systemd sends its stop to the main pid it knows; the old one lives a moment on.
  test('reaches the new manager: it stops every daemon and exits', async () => {
    const daemon = await host.waitForDaemon(
      'alice',
      'alice/a',
      (d) => d.state === 'running' && d.pid > 0,
      'to run',
    );
    const old = host.managerPid();
    const output = host.managerProcess()?.stderr;
    assert.ok(output, "the manager's output is read");
    const from = host.managerLog.length;
    const successor = await new Promise<number>((resolve) => {
      const look = (): void => {
        const pid = /upgrade done: the manager runs as pid (\d+) now/.exec(
          host.managerLog.slice(from),
        )?.[1];
        if (pid === undefined) return;
        output.off('data', look);
        // In the same turn as the line came in: the old process is still there.
        process.kill(old, 'SIGTERM');
        resolve(Number(pid));
      };
      output.on('data', look);
      process.kill(old, 'SIGUSR2');
    });
    await waitFor(
      'the new manager to act on the SIGTERM',
      () => (/SIGTERM: stopping every daemon/.test(host.managerLog.slice(from)) ? true : undefined),
      { describe: () => host.managerLog.slice(from) },
    );
    await waitFor('the new manager to exit', () => (isAlive(successor) ? undefined : true), {
      timeoutMs: 60_000,
    });
    assert.ok(!isAlive(daemon.pid), 'its daemon is stopped');
  });
});

describe('an upgrade that cannot succeed is refused', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const stateDir = (): string => join(host.dir, 'state');
  let mounted = false;
  /** Fills the small state file system until a write fails (then it is full: as wanted). */
  const fillStateDir = (): void => {
    try {
      execFileSync(
        'dd',
        ['if=/dev/zero', `of=${join(stateDir(), 'filler')}`, 'bs=4k', 'count=1000'],
        {
          stdio: 'ignore',
        },
      );
    } catch {
      // Full: as wanted.
    }
  };

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n', 'cooldown-step = 30s\nstable-uptime = 60s');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6300200\n');
    host.writeDaemon('alice', 'crashy', 'start=exit 3\n');
    // A second to stop: its SIGTERM waits for the sleep of the moment, then 1 s.
    host.writeDaemon(
      'alice',
      'slow',
      "start=trap 'sleep 1; exit 0' TERM; while :; do sleep 0.1; done\n",
    );
    // The state directory is a small file system of its own, to be filled up later.
    try {
      mkdirSync(stateDir(), { mode: 0o700 });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', stateDir()]);
      mounted = true;
    } catch {
      // Without it, the full-directory test says it cannot run.
    }
    await host.startManager();
  });
  after(async () => {
    await host.stopManager();
    if (mounted) execFileSync('umount', ['-l', stateDir()]);
    await host.cleanup();
  });

  test('a master config that no longer parses: refused, said, nothing changed', async () => {
    const web = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.state === 'running' && d.pid > 0,
      'to run',
    );
    const from = host.managerLog.length;
    writeFileSync(host.configFile, '[nonsense\n', { mode: 0o644 });
    process.kill(host.managerPid(), 'SIGUSR2');
    await waitFor('the refusal', () =>
      /upgrade refused, the master config does not parse/.test(host.managerLog.slice(from))
        ? true
        : undefined,
    );
    // dmctl reads the master config too: put it back before asking.
    host.writeMaster('[can_run_as]\n{alice}\n', 'cooldown-step = 30s\nstable-uptime = 60s');
    const now = await host.waitForDaemon('alice', 'alice/web', () => true, 'known');
    assert.equal(now.pid, web.pid);
    assert.doesNotMatch(host.managerLog.slice(from), / running, pid /);
  });

  test('a cooldown under way keeps its time and its back-off across an upgrade', async () => {
    const before_ = await host.waitForDaemon(
      'alice',
      'alice/crashy',
      (d) => d.state === 'coolingdown' && d.cooldown > 10,
      'to cool down',
    );
    const from = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGUSR2');
    await waitFor('the upgrade', () =>
      / running, pid /.test(host.managerLog.slice(from)) ? true : undefined,
    );
    const after_ = await host.waitForDaemon('alice', 'alice/crashy', () => true, 'known');
    assert.equal(after_.state, 'coolingdown', 'still cooling down, not started at once');
    assert.equal(after_.respawns, before_.respawns);
    assert.ok(
      after_.cooldown <= before_.cooldown && after_.cooldown > 0,
      `${after_.cooldown}s left`,
    );
  });

  test('a full state directory: refused, the daemons untouched, said in the log', async (t) => {
    if (!mounted) {
      t.skip('cannot mount a small tmpfs here');
      return;
    }
    fillStateDir();
    const web = await host.waitForDaemon('alice', 'alice/web', () => true, 'known');
    const manager = host.managerPid();
    const from = host.managerLog.length;
    process.kill(manager, 'SIGUSR2');
    await waitFor('the refusal', () =>
      /upgrade refused: the state could not be saved/.test(host.managerLog.slice(from))
        ? true
        : undefined,
    );
    assert.equal(host.managerPid(), manager, 'the running manager goes on');
    const now = await host.waitForDaemon('alice', 'alice/web', () => true, 'known');
    assert.equal(now.pid, web.pid);
    rmSync(join(stateDir(), 'filler'));
  });

  test('a dmctl stop while the state cannot be saved says so and exits 1', async (t) => {
    if (!mounted) {
      t.skip('cannot mount a small tmpfs here');
      return;
    }
    fillStateDir();
    try {
      const stop = await host.dmctl('alice', 'web', 'stop');
      assert.equal(stop.code, 1, stop.stdout);
      assert.match(stop.stderr, /cannot save the state .*: a restart of the manager would undo it/);
    } finally {
      rmSync(join(stateDir(), 'filler'));
    }
  });

  /**
   * An outside review (78a, F3, 3 of 3): `stop --wait` returned at once, exit 1, the
   * daemon running on: a script could not learn whether it had stopped.
   */
  test('a dmctl stop --wait while the state cannot be saved waits for the stop, and says both', async (t) => {
    if (!mounted) {
      t.skip('cannot mount a small tmpfs here');
      return;
    }
    const slow = await host.waitForDaemon(
      'alice',
      'alice/slow',
      (d) => d.state === 'running' && d.pid > 0,
      'to run',
    );
    fillStateDir();
    try {
      const stop = await host.dmctl('alice', 'slow', 'stop', '--wait=30');
      assert.equal(stop.code, 1, stop.stdout);
      assert.ok(!isAlive(slow.pid), 'the daemon is stopped when dmctl returns');
      assert.match(
        stop.stderr,
        /alice\/slow stopped; the manager had answered: .*cannot save the state .*: a restart of the manager would undo it/,
      );
    } finally {
      rmSync(join(stateDir(), 'filler'));
    }
  });

  test('a SIGTERM while the state cannot be saved stops every daemon, and the manager exits', {
    timeout: 120_000,
  }, async (t) => {
    if (!mounted) {
      t.skip('cannot mount a small tmpfs here');
      return;
    }
    const start = await host.dmctl('alice', 'web', 'start');
    assert.equal(start.code, 0, start.stderr);
    const web = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.state === 'running' && d.pid > 0,
      'to run',
    );
    fillStateDir();
    // Each save fails and is retried; the stop waited for them to end, for good.
    const manager = host.managerPid();
    await host.stopManager();
    assert.ok(!isAlive(manager), 'the manager is gone');
    assert.ok(!isAlive(web.pid), 'the daemon is stopped');
    rmSync(join(stateDir(), 'filler'));
  });
});

describe('a restart pending on a daemon that ignores SIGTERM, then an upgrade', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const ready = (): string => join(host.user('alice').home, 'stubborn.ready');

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'stubborn',
      `start=exec ${FIXTURES}/trap-term.sh ${ready()}\nstop_timeout=3s\n`,
    );
    await host.startManager();
  });
  after(() => host.cleanup());

  test('goes on: the old process is killed at its deadline and a new one runs', async () => {
    const was = await host.waitForDaemon(
      'alice',
      'alice/stubborn',
      (d) => d.state === 'running' && d.pid > 0,
      'to run',
    );
    await waitFor('the daemon to ignore SIGTERM', () =>
      readdirSync(host.user('alice').home).includes('stubborn.ready') ? true : undefined,
    );
    const restart = await host.dmctl('alice', 'stubborn', 'restart');
    assert.equal(restart.code, 0, restart.stderr);
    await host.waitForDaemon(
      'alice',
      'alice/stubborn',
      (d) => d.state === 'stopping',
      'to be stopping',
    );
    const from = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGUSR2');
    await waitFor('the upgrade', () =>
      / running, pid /.test(host.managerLog.slice(from)) ? true : undefined,
    );
    const is = await host.waitForDaemon(
      'alice',
      'alice/stubborn',
      (d) => d.state === 'running' && d.pid > 0 && d.pid !== was.pid,
      'to run anew after its stop deadline',
    );
    assert.ok(!isAlive(was.pid), 'the old process was killed');
    assert.equal(is.wanted, 'up');
  });
});
