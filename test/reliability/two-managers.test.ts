import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { living } from '../helpers/census.ts';
import { runManagerExpectingExit, spawnCollecting, spawnPersonal } from '../helpers/cli.ts';
import { DAEMON_MANAGER, DMCTL, run, TestHost, type TestUser } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { tryConnect } from '../helpers/sockets.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const BASE = 7_600_000 + randomInt(100_000) * 10;

/**
 * The first review doubled every daemon with a second manager: the only guard was "does
 * root.sock answer", which answers only once every daemon is loaded (a second manager
 * 0.5 s after the first doubled 300 of 300), and not at all once a tmp cleaner removed
 * the socket; a manager with another config, or a personal one, ran the same user's
 * daemons again. Now a lock on the state directory is the first thing a manager takes,
 * and a lock on each user's daemon directory is taken before their daemons are loaded.
 */
describe("two managers never run one user's daemons", { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const sleepOf = (index: number): string => `sleep ${BASE + index}`;
  const copies = (): number[] => [0, 1, 2].map((index) => living(sleepOf(index)).length);

  before(() => {
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n');
    host.writeDaemon('alice', 'a', `start=exec ${sleepOf(0)}\n`);
    host.writeDaemon('alice', 'b', `start=exec ${sleepOf(1)}\n`);
    host.writeDaemon('bob', 'c', `start=exec ${sleepOf(2)}\n`);
  });
  after(() => host.cleanup());

  test('two managers started at once: one runs every daemon once, the other is refused', async () => {
    const both = [0, 1].map(() =>
      spawnCollecting([DAEMON_MANAGER, '--config', host.configFile, '-f', '-v']),
    );
    const exits = both.map(
      (manager) => new Promise<number | null>((resolve) => manager.child.once('exit', resolve)),
    );
    try {
      // Whichever takes the lock first runs; the other one is refused before anything.
      const loser = await Promise.race(exits.map((exit, index) => exit.then(() => index)));
      const [refused, winner] = loser === 0 ? [both[0], both[1]] : [both[1], both[0]];
      assert.ok(refused && winner);
      assert.equal(refused.child.exitCode, 1, refused.output());
      assert.match(
        refused.output(),
        new RegExp(
          `another manager is already running \\(pid ${winner.child.pid}\\) with state directory`,
        ),
      );
      await waitFor('the other to run every daemon', () =>
        copies().every((count) => count === 1) ? true : undefined,
      );
      assert.deepEqual(copies(), [1, 1, 1]);
    } finally {
      for (const manager of both) manager.child.kill('SIGTERM');
      await Promise.all(exits);
    }
    await waitFor('every daemon to stop', () =>
      copies().every((count) => count === 0) ? true : undefined,
    );
  });

  test("with the first one's control sockets deleted, a second is still refused", async () => {
    const first = await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    rmSync(join(host.dir, 'run'), { recursive: true, force: true });
    const second = await runManagerExpectingExit(host);
    assert.equal(second.code, 1, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`another manager is already running \\(pid ${first.pid}\\)`),
    );
    assert.deepEqual(copies(), [1, 1, 1]);
    await host.stopManager();
  });

  /**
   * A master config of its own places (`state2`, `run2`...) that lets alice run daemons;
   * `socketDir`: the first one's, shared.
   */
  const otherConfig = (socketDir = join(host.dir, 'run2')): string => {
    const other = join(host.dir, 'other.conf');
    writeFileSync(
      other,
      [
        '[settings]',
        `socket-dir = ${socketDir}`,
        `state-dir = ${join(host.dir, 'state2')}`,
        `daemon-path-daemon-root = ${join(host.dir, 'root-daemons2')}`,
        `daemon-path-log-root = ${join(host.dir, 'root-logs2')}`,
        '[can_run_as]',
        host.user('alice').name,
        '',
      ].join('\n'),
    );
    chmodSync(other, 0o644);
    return other;
  };

  /**
   * Runs a manager of another config (see otherConfig) until it says alice's daemons are
   * run by another manager, followed by `holder` (a pattern), while every daemon runs once.
   */
  const secondSays = async (holder: string): Promise<void> => {
    const second = spawnCollecting([DAEMON_MANAGER, '--config', otherConfig(), '-f', '-v']);
    try {
      await waitFor(
        'the second manager to say who runs alice’s daemons',
        () =>
          new RegExp(
            `the daemons of ${host.user('alice').name} are run by another manager ${holder}`,
          ).test(second.output())
            ? true
            : undefined,
        { describe: second.output },
      );
      assert.deepEqual(copies(), [1, 1, 1]);
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((resolve) => second.child.once('exit', resolve));
    }
  };

  test('a manager of another config does not run the users the first one runs', async () => {
    const first = await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    await secondSays(`\\(pid ${first.pid}\\)`);
    await host.stopManager();
  });

  // An outside review (36a) changed the state-dir while no manager ran: the new manager
  // said every user was "run by another manager", and nothing named the old keeper.
  test('a manager whose first one is gone names the keeper that holds the users', async () => {
    await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    const keeper = host.keeperPid();
    await host.killManager();
    await secondSays(
      `\\(.* is locked; no manager holds it now: the keeper of another state directory does \\(pid ${keeper}, ${join(host.dir, 'state')}\\)`,
    );
    // The first config's manager takes its keeper's daemons over again.
    await host.startManager();
    await host.stopManager();
  });

  // The next (43b, F5): the first one killed and started again (the pid that took the
  // lock gone, its successor holding it through the keeper), the second one said that no
  // manager held the users, inviting a kill -9 of a live manager's keeper.
  test('a manager started again after a kill -9 is named as holding the users', async () => {
    await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    await host.killManager();
    const again = await host.startManager();
    await secondSays(
      `\\(.* is locked; the manager of state directory ${join(host.dir, 'state')} holds it \\(pid ${again.pid}, through its keeper, pid ${host.keeperPid()}\\)`,
    );
    await host.stopManager();
  });

  /** A manager of another config given the first one's socket-dir: its exit status and output. */
  const sharingSocketDir = async (
    socketDir = join(host.dir, 'run'),
  ): Promise<{ code: number; output: string }> => {
    const second = spawnCollecting([DAEMON_MANAGER, '--config', otherConfig(socketDir), '-f']);
    let ended: number | undefined;
    const closed = new Promise((resolve) =>
      second.child.once('close', (status) => {
        ended = status ?? -1;
        resolve(ended);
      }),
    );
    // Running (as before the lock) is a failure too, not a wait for good.
    const code = await waitFor(
      'the other config’s manager to end or run',
      () => ended ?? (/daemon-manager running/.test(second.output()) ? -2 : undefined),
      { describe: second.output },
    );
    if (code === -2) second.child.kill('SIGTERM');
    await closed;
    return { code, output: second.output() };
  };

  /** Every user's dmctl reaches the first manager, and each daemon runs once. */
  const firstAnswers = async (): Promise<void> => {
    for (const user of ['root', 'alice', 'bob']) {
      const status = await host.dmctl(user, 'status');
      assert.equal(status.code, 0, `${user}: ${status.stderr}`);
    }
    assert.deepEqual(copies(), [1, 1, 1]);
  };

  // Outside reviews (43b, F3; 44a, F3): given the first one's socket-dir, a manager of
  // another config took its control sockets, and once it stopped nobody's dmctl reached
  // the first one. It is refused now, also after the first one's upgrade and its restart
  // after a kill -9 (the lock goes on with the keeper).
  test('a manager of another config given the same socket-dir is refused, naming the first', async () => {
    await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    const refusedNaming = async (pid: number): Promise<void> => {
      const second = await sharingSocketDir();
      assert.equal(second.code, 1, second.output);
      assert.match(
        second.output,
        new RegExp(
          `socket-dir ${join(host.dir, 'run')} is in use by the manager of state directory ${join(host.dir, 'state')} \\(pid ${pid}\\)`,
        ),
      );
      await firstAnswers();
    };
    await refusedNaming(host.managerPid());
    // `--check` says so of the other config (45a, F5: "configuration OK"), not of its own.
    const other = await run(
      [DAEMON_MANAGER],
      ['--check', '--config', otherConfig(join(host.dir, 'run'))],
    );
    assert.equal(other.code, 1, other.stdout + other.stderr);
    assert.match(
      other.stdout,
      new RegExp(
        `a manager of this config would be refused: socket-dir ${join(host.dir, 'run')} is in use by the manager of state directory ${join(host.dir, 'state')} \\(pid ${host.managerPid()}\\)`,
      ),
    );
    const own = await run([DAEMON_MANAGER], ['--check', '--config', host.configFile]);
    assert.equal(own.code, 0, own.stdout + own.stderr);
    // Refused, it leaves nothing made (45a, F6: its new state directory, a lock and a log).
    const unmade = join(host.dir, 'state-never');
    const never = otherConfig(join(host.dir, 'run'));
    writeFileSync(
      never,
      readFileSync(never, 'utf8').replace(
        `state-dir = ${join(host.dir, 'state2')}`,
        `state-dir = ${unmade}`,
      ),
    );
    const refused = await run([DAEMON_MANAGER], ['--config', never, '-f']);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /is in use by the manager of state directory/);
    assert.equal(existsSync(unmade), false, 'its state directory was made');
    await host.upgrade();
    await refusedNaming(host.managerPid());
    await host.killManager();
    await host.startManager();
    await refusedNaming(host.managerPid());
    await host.stopManager();
  });

  // The next (43b, F4): the first one killed -9, a manager of another config given its
  // socket-dir replaced the sockets its keeper kept; the first config's manager, started
  // again, took them over, and they were no longer the files dmctl reached.
  test("the keeper of a manager killed -9 keeps its socket-dir: another config's manager is refused, naming it", async () => {
    await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    const keeper = host.keeperPid();
    await host.killManager();
    const second = await sharingSocketDir();
    assert.equal(second.code, 1, second.output);
    assert.match(
      second.output,
      new RegExp(
        `socket-dir ${join(host.dir, 'run')} is held by the keeper of state directory ${join(host.dir, 'state')} \\(pid ${keeper}\\)`,
      ),
    );
    const check = await run(
      [DAEMON_MANAGER],
      ['--check', '--config', otherConfig(join(host.dir, 'run'))],
    );
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stdout, /would be refused: socket-dir .* is held by the keeper/);
    const own = await run([DAEMON_MANAGER], ['--check', '--config', host.configFile]);
    assert.equal(own.code, 0, own.stdout + own.stderr);
    await host.startManager();
    await firstAnswers();
    await host.stopManager();
    // Once the first one is stopped, the socket-dir is free for another config.
    const third = spawnCollecting([
      DAEMON_MANAGER,
      '--config',
      otherConfig(join(host.dir, 'run')),
      '-f',
    ]);
    try {
      await waitFor(
        'the other config’s manager to run',
        () => (/daemon-manager running/.test(third.output()) ? true : undefined),
        { describe: third.output },
      );
    } finally {
      third.child.kill('SIGTERM');
      await new Promise((resolve) => third.child.once('close', resolve));
    }
  });

  // The next (45a, F1, F2): the socket-dir changed while the manager was down (killed -9,
  // its keeper on): the manager held the old one's lock through its keeper, not the new
  // one's, and a manager of another config took its new sockets; the old one stayed held.
  test('a socket-dir changed while the manager was down: the new one is held, the old one let go', async () => {
    await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    await host.killManager();
    const moved = join(host.dir, 'run3');
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n', `socket-dir = ${moved}`);
    try {
      await host.startManager();
      const second = await sharingSocketDir(moved);
      assert.equal(second.code, 1, second.output);
      assert.match(second.output, new RegExp(`socket-dir ${moved} is in use by the manager`));
      await firstAnswers();
      // The one it left is free: a manager of another config given it runs.
      const third = await sharingSocketDir();
      assert.equal(third.code, -2, third.output);
      // And back, the same way (the next, 46a, F1): the sockets the keeper kept were bound
      // in the other directory, and the stale files left here were taken for them: root's
      // dmctl was told the manager was not running.
      await host.killManager();
      host.writeMaster('[can_run_as]\n{alice}\n{bob}\n');
      await host.startManager();
      await firstAnswers();
      await host.stopManager();
    } finally {
      host.writeMaster('[can_run_as]\n{alice}\n{bob}\n');
    }
  });

  // An outside review (47a, F5): the socket-dir deleted and made again while the manager
  // was down (a tmp cleaner, a RuntimeDirectory=) was said "changed", and each control
  // socket "made for another uid".
  test('a socket-dir deleted and made again while the manager was down: said so, served', async () => {
    await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    await host.killManager();
    const dir = join(host.dir, 'run');
    rmSync(dir, { recursive: true, force: true });
    execFileSync('mkdir', ['-m', '0755', dir]);
    const from = host.managerLog.length;
    await host.startManager();
    await firstAnswers();
    const log = host.managerLog.slice(from);
    assert.match(log, /the keeper held the lock of a socket-dir deleted since/);
    assert.match(log, /the control socket of \S+ is gone from .*; making it anew/);
    assert.doesNotMatch(log, /the one before socket-dir was changed|made for another uid/);
    await host.stopManager();
  });

  // An outside review (45a, F6): a reload said a new socket-dir "applies only after a
  // restart", and the upgrade after it took the new one all the same.
  test('a socket-dir changed by a reload applies at the next upgrade, as the reload says', async () => {
    await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    const moved = join(host.dir, 'run4');
    try {
      const from = host.managerLog.length;
      await host.reload('[can_run_as]\n{alice}\n{bob}\n', `socket-dir = ${moved}`);
      await waitFor('the reload to say when it applies', () =>
        host.managerLog
          .slice(from)
          .includes('reload: a new socket-dir applies at the next start or upgrade (SIGUSR2)')
          ? true
          : undefined,
      );
      await host.upgrade();
      // Its control sockets answer there, and it holds that directory.
      await firstAnswers();
      const second = await sharingSocketDir(moved);
      assert.equal(second.code, 1, second.output);
      await host.stopManager();
    } finally {
      host.writeMaster('[can_run_as]\n{alice}\n{bob}\n');
    }
  });

  // The next (47b, F3): the reload pointed at another config's socket-dir in use, the
  // upgrade took it: its sockets made in that manager's place, whose dmctl reached this one.
  test('an upgrade to a socket-dir another manager holds is refused; both go on as they were', async () => {
    await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    const second = spawnCollecting([DAEMON_MANAGER, '--config', otherConfig(), '-f']);
    try {
      await waitFor('the other config’s manager to run', () =>
        /daemon-manager running/.test(second.output()) ? true : undefined,
      );
      const pid = host.managerPid();
      const from = host.managerLog.length;
      await host.reload('[can_run_as]\n{alice}\n{bob}\n', `socket-dir = ${join(host.dir, 'run2')}`);
      process.kill(pid, 'SIGUSR2');
      await waitFor('the upgrade refused', () =>
        /upgrade refused: socket-dir \S+run2 is in use by the manager of state directory \S+state2/.test(
          host.managerLog.slice(from),
        )
          ? true
          : undefined,
      );
      assert.equal(host.managerPid(), pid);
      // Each config's dmctl reaches its own manager still.
      const other = await run([DMCTL], ['--config', otherConfig(), 'status']);
      assert.equal(other.code, 0, other.stderr);
      assert.doesNotMatch(other.stdout, /\/a |\/b |\/c /);
      host.writeMaster('[can_run_as]\n{alice}\n{bob}\n');
      await firstAnswers();
      assert.match((await host.dmctl('root', 'status')).stdout, /\/a /);
    } finally {
      host.writeMaster('[can_run_as]\n{alice}\n{bob}\n');
      second.child.kill('SIGTERM');
      await new Promise((resolve) => second.child.once('exit', resolve));
    }
    await host.stopManager();
  });

  /**
   * The first manager running, its socket-dir deleted and made again (a known limit: it
   * loses its sockets and lock), and a manager of another config started there.
   */
  const socketDirTaken = async (): Promise<ReturnType<typeof spawnCollecting>> => {
    await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    const dir = join(host.dir, 'run');
    rmSync(dir, { recursive: true, force: true });
    execFileSync('mkdir', ['-m', '0755', dir]);
    const second = spawnCollecting([DAEMON_MANAGER, '--config', otherConfig(dir), '-f']);
    await waitFor('the other config’s manager to run', () =>
      /daemon-manager running/.test(second.output()) ? true : undefined,
    );
    return second;
  };

  // An outside review (49a, F4: 3 of 3): that other manager killed with its keeper, its
  // socket files left, then an upgrade of the first: the upgrade took them for its own
  // kept sockets, said "upgrade done", and nobody's dmctl could reach the manager.
  test('an upgrade after another manager ran in its deleted socket-dir and was killed: every dmctl reaches it', async () => {
    const second = await socketDirTaken();
    const keeper = Number(
      execFileSync('pgrep', ['-f', `dm-keeper ${join(host.dir, 'state2')}/`], { encoding: 'utf8' })
        .trim()
        .split('\n')[0],
    );
    const gone = new Promise((resolve) => second.child.once('exit', resolve));
    second.child.kill('SIGKILL');
    await gone;
    process.kill(keeper, 'SIGKILL');
    await waitFor('its keeper to die', () => (existsSync(`/proc/${keeper}`) ? undefined : true));
    await host.upgrade();
    await firstAnswers();
    await host.stopManager();
  });

  // An outside review (48a, F1: 3 of 3): that other manager running, then an upgrade of
  // the first, its config unchanged: the upgrade went ahead, made its sockets in the other
  // manager's directory and took that one's root.sock for its own; root's dmctl of this
  // config reached the other manager.
  test('an upgrade into its socket-dir, deleted and taken by another manager since, is refused', async () => {
    const second = await socketDirTaken();
    try {
      const pid = host.managerPid();
      const from = host.managerLog.length;
      process.kill(pid, 'SIGUSR2');
      await waitFor('the upgrade refused', () =>
        /upgrade refused: socket-dir \S+run is in use by the manager of state directory \S+state2/.test(
          host.managerLog.slice(from),
        )
          ? true
          : undefined,
      );
      assert.equal(host.managerPid(), pid);
      assert.deepEqual(copies(), [1, 1, 1]);
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((resolve) => second.child.once('exit', resolve));
    }
    await host.stopManager();
  });

  test('a personal manager of alice while the system manager runs her daemons is refused', async () => {
    const first = await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    const personal = await run(
      ['runuser', '-u', host.user('alice').name, '--', DAEMON_MANAGER],
      ['--personal', '-f'],
    );
    assert.equal(personal.code, 1, personal.stdout + personal.stderr);
    assert.match(
      personal.stderr,
      new RegExp(
        `the daemons of ${host.user('alice').name} are run by another manager \\(pid ${first.pid}\\)`,
      ),
    );
    assert.deepEqual(copies(), [1, 1, 1]);
    // After an upgrade the lock is the new manager's: the pid that took it is gone, and
    // is not named (it invited deleting a lock that was not stale).
    const from = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGUSR2');
    await waitFor('the upgrade', () =>
      /upgrade done/.test(host.managerLog.slice(from)) ? true : undefined,
    );
    await waitFor('the old manager to exit', () => (first.exitCode === null ? undefined : true));
    const again = await run(
      ['runuser', '-u', host.user('alice').name, '--', DAEMON_MANAGER],
      ['--personal', '-f'],
    );
    assert.equal(again.code, 1, again.stdout + again.stderr);
    assert.match(again.stderr, /are run by another manager/);
    assert.doesNotMatch(again.stderr, new RegExp(`pid ${first.pid}\\b`));
    // Nor by the state directory's lock (an outside review: named 10 of 10 times).
    const second = await runManagerExpectingExit(host);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /another manager is already running with state directory/);
    // The pid taken by bob, in a process that calls itself daemon-manager: alice's
    // refusal must not send her to it (an outside review got the pid in 11,000 forks).
    const impostor = first.pid === undefined ? undefined : takePid(first.pid, host.user('bob'));
    if (impostor !== undefined) {
      try {
        await waitFor('the impostor to exec', () =>
          readFileSync(`/proc/${first.pid}/cmdline`, 'latin1').includes('daemon-manager.mjs')
            ? true
            : undefined,
        );
        const fooled = await run(
          ['runuser', '-u', host.user('alice').name, '--', DAEMON_MANAGER],
          ['--personal', '-f'],
        );
        assert.match(fooled.stderr, /are run by another manager/);
        assert.doesNotMatch(fooled.stderr, new RegExp(`pid ${first.pid}\\b`));
      } finally {
        impostor.kill('SIGKILL');
      }
    }
    assert.deepEqual(copies(), [1, 1, 1]);
    await host.stopManager();
  });

  test('a daemon directory renamed and made again is locked again at the next rescan: a personal manager is still refused', async () => {
    const first = await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    const dir = dirname(host.daemonFile('alice', 'a'));
    const old = `${dir}.old`;
    execFileSync('mv', [dir, old]);
    execFileSync('cp', ['-a', old, dir]);
    const from = host.managerLog.length;
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stdout + rescan.stderr);
    assert.match(
      host.managerLog.slice(from),
      /\.lock is not the file this manager locked for \S+ any more .*: locking it again/,
    );
    const personal = spawnPersonal(host, 'alice');
    try {
      await waitFor('the personal manager to be refused', () =>
        personal.child.exitCode === null ? undefined : true,
      );
      assert.match(
        personal.output(),
        new RegExp(`are run by another manager \\(pid ${first.pid}\\)`),
      );
    } finally {
      personal.child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      execFileSync('mv', [old, dir]);
      await host.stopManager();
    }
    assert.deepEqual(copies(), [0, 0, 0]);
  });

  test("after its keeper is killed, the manager still holds each user's lock", async () => {
    const first = await host.startManager();
    await waitFor('every daemon to run', () =>
      copies().every((count) => count === 1) ? true : undefined,
    );
    const keeper = host.keeperPid();
    const from = host.managerLog.length;
    process.kill(keeper, 'SIGKILL');
    await waitFor('a new keeper and every daemon replaced', () =>
      host.keeperPid() !== 0 &&
      host.keeperPid() !== keeper &&
      copies().every((count) => count === 1) &&
      /outlived its keeper/.test(host.managerLog.slice(from))
        ? true
        : undefined,
    );
    const personal = await run(
      ['runuser', '-u', host.user('alice').name, '--', DAEMON_MANAGER],
      ['--personal', '-f'],
    );
    assert.equal(personal.code, 1, personal.stdout + personal.stderr);
    assert.match(personal.stderr, /are run by another manager/);
    assert.deepEqual(copies(), [1, 1, 1]);
    assert.ok(first.pid);
    // The new keeper holds the socket-dir's lock too: a kill -9 of the manager leaves it held.
    const kept = host.keeperPid();
    await host.killManager();
    const other = await sharingSocketDir();
    assert.equal(other.code, 1, other.output);
    assert.match(other.output, new RegExp(`is held by the keeper of .* \\(pid ${kept}\\)`));
    await host.startManager();
    await firstAnswers();
    await host.stopManager();
  });
});

/**
 * Starts, as `user`, a process that gets pid `pid` (the kernel's next pid is set just
 * before the fork) and calls itself daemon-manager; undefined if other forks kept
 * taking the pid first.
 */
function takePid(pid: number, user: TestUser): ChildProcess | undefined {
  for (let attempt = 0; attempt < 20; attempt++) {
    writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
    const child = spawn(
      'setpriv',
      [
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        '--clear-groups',
        '--',
        'bash',
        '-c',
        'exec -a /opt/x/dist/daemon-manager.mjs sleep 1000',
      ],
      { stdio: 'ignore' },
    );
    if (child.pid === pid) return child;
    child.kill('SIGKILL');
  }
  return undefined;
}

/**
 * An outside review killed a manager and its keeper together, then started it again while
 * the user's lock was a personal manager's; the user was loaded later, once it came free.
 * The survivors of the first run, in its cgroups, ran beside the copies started again, for
 * good: 40 of 40 doubled. Holding the user's lock proves nothing else runs that
 * directory's daemons, so they are stopped. (Another config's cgroups are not looked into:
 * its manager may be alive, with other directories; a first version stopped its daemons.)
 */
describe('what survives a manager killed with its keeper is stopped by the next that takes the user', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const command = `sleep ${BASE + 50}`;
  const copies = (): number => living(command).length;
  const one = (): true | undefined => (copies() === 1 ? true : undefined);
  after(() => host.cleanup());

  /** Waits until the daemon runs and the one live `command` is its current run's. */
  async function onlyCopyRuns(id: string, command: string): Promise<void> {
    const daemon = await host.waitForDaemon('alice', id, (d) => d.state === 'running', 'to run');
    await waitFor(`${id} to run once, as pid ${daemon.pid}`, () =>
      living(command)
        .map((entry) => entry.pid)
        .join() === String(daemon.pid)
        ? true
        : undefined,
    );
  }

  test("this config's own, once the user's lock comes free after its start", async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'a', `start=exec ${command}\n`);
    await host.startManager();
    await waitFor('the daemon to run', one);
    await killBoth(host);
    const from = await aliceTakenLater(host, copies);
    assert.equal(copies(), 1, 'the first manager survivor alone');
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor('the survivor replaced', () =>
      /survive from a manager that is gone; replacing them/.test(host.managerLog.slice(from))
        ? true
        : undefined,
    );
    await onlyCopyRuns('alice/a', command);
    await host.stopManager();
  });

  test('a listen= daemon is bound again once its survivor is stopped', async () => {
    const port = 40_000 + randomInt(20_000);
    const held = `sleep ${BASE + 51}`;
    host.writeDaemon('alice', 'web', `start=exec ${held}\nlisten=tcp:127.0.0.1:${port}\n`);
    await host.startManager();
    await waitFor('both daemons to run', () =>
      copies() === 1 && living(held).length === 1 ? true : undefined,
    );
    // The survivor holds the port (its fd 3) while the next manager binds it.
    await killBoth(host);
    const from = host.managerLog.length;
    await host.startManager();
    await onlyCopyRuns('alice/web', held);
    // Waiting for its sockets is no failed start: no respawn counted, no back-off step
    // (an outside review: each crash of the manager doubled its cooldown, up to 16 s).
    const [web] = (await host.status('alice')).filter((d) => d.id === host.id('alice/web'));
    assert.equal(web?.respawns, 0);
    assert.equal(web?.cooldownStep, 0);
    const log = host.managerLog.slice(from);
    assert.doesNotMatch(log, /web: cannot start|web: cooling down/);
    await host.stopManager();
    rmSync(host.daemonFile('alice', 'web'));
  });

  test('a listen=unix: daemon is bound again once its survivor is stopped, even if its socket outlives the stop', async () => {
    const alice = host.user('alice');
    const path = join(alice.home, 'run', 'lisu.sock');
    host.mkdirAs(alice, dirname(path));
    const held = `sleep ${BASE + 52}`;
    host.writeDaemon('alice', 'lisu', `start=exec ${held}\nlisten=unix:${path}\n`);
    await host.startManager();
    await waitFor('both daemons to run', () =>
      copies() === 1 && living(held).length === 1 ? true : undefined,
    );
    const [survivor] = living(held);
    assert.ok(survivor);
    await killBoth(host);
    // Another process keeps a copy of the survivor's socket (its fd 3) past its stop, as
    // a process of the user's outside the daemon may: the socket file still has a listener
    // when the daemon starts again, and its bind fails once more.
    const holder = spawnCollecting([
      'python3',
      '-c',
      'import ctypes, os, signal, sys\n' +
        'fd = ctypes.CDLL(None, use_errno=True).syscall(438, os.pidfd_open(int(sys.argv[1])), 3, 0)\n' +
        'print("holding" if fd >= 0 else f"pidfd_getfd failed: {ctypes.get_errno()}", flush=True)\n' +
        'signal.pause()\n',
      String(survivor.pid),
    ]);
    try {
      await waitFor(
        'the holder to hold the socket',
        () => (/holding/.test(holder.output()) ? true : undefined),
        { describe: holder.output },
      );
      const from = host.managerLog.length;
      await host.startManager();
      const failed = /lisu: \S+: cannot listen on unix:\S+: exists already/g;
      await waitFor(
        'a bind that fails after the survivor stopped',
        () => ((host.managerLog.slice(from).match(failed)?.length ?? 0) >= 2 ? true : undefined),
        { describe: () => host.managerLog.slice(from) },
      );
    } finally {
      await holder.stop();
    }
    await onlyCopyRuns('alice/lisu', held);
    const [lisu] = (await host.status('alice')).filter((d) => d.id === host.id('alice/lisu'));
    assert.notEqual(lisu?.pid, survivor.pid, 'started again, not the survivor');
    assert.equal(lisu?.wanted, 'up');
    assert.equal(await tryConnect({ path }), 'ok');
    // The stale file was replaced by one bound as its owner.
    assert.ok(lstatSync(path).isSocket());
    assert.equal(lstatSync(path).uid, alice.uid);
    await host.stopManager();
    rmSync(host.daemonFile('alice', 'lisu'));
  });

  test('a keeper whose state directory was deleted is named, and once killed its daemons are replaced', async () => {
    // The keeper of the test before may still be on its way out: this one's is the one named.
    await waitFor('no keeper left from before', () => (host.keeperPid() === 0 ? true : undefined));
    await host.startManager();
    await waitFor('the daemon to run', one);
    const stray = host.keeperPid();
    // Stopped first: a manager that writes its state meanwhile makes the rm fail (ENOTEMPTY).
    const manager = host.managerProcess();
    manager?.kill('SIGSTOP');
    rmSync(join(host.dir, 'state'), { recursive: true, force: true });
    const exited = new Promise((resolve) => manager?.once('exit', resolve));
    manager?.kill('SIGKILL');
    await exited;
    const from = host.managerLog.length;
    await host.startManager();
    await waitFor(
      'the stray keeper to be named',
      () =>
        host.managerLog
          .slice(from)
          .includes(`from before (pid ${stray}) still runs without its socket`)
          ? true
          : undefined,
      {
        describe: () =>
          `stray ${stray}, alive ${isAlive(stray)}; log: ${host.managerLog.slice(from)}`,
      },
    );
    assert.equal(copies(), 1);
    process.kill(stray, 'SIGKILL');
    await waitFor('the stray keeper to go', () => (isAlive(stray) ? undefined : true));
    process.kill(host.managerPid(), 'SIGHUP');
    await onlyCopyRuns('alice/a', command);
    // The survivor, found by its cgroup alone, was no start (the log said `started, pid 0`).
    assert.doesNotMatch(host.managerLog.slice(from), /started, pid 0\b/);
    await host.stopManager();
    assert.equal(copies(), 0);
  });
});

/**
 * A `.lock` that is not a regular file of the user's cannot be held: an outside review
 * made it a FIFO, and the next manager ran the user's daemons holding no lock, silently.
 */
describe("a user's .lock that cannot be held", { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const command = `sleep ${BASE + 60}`;
  after(() => host.cleanup());

  // A symbolic link too: a later review linked it to a file of the user's, and root's
  // manager and a personal one both ran the daemons, neither holding the lock.
  // A unix socket too (an outside review, 54a, F4: loaded with no lock held, and a personal
  // manager ran every daemon a second time).
  for (const [what, make] of [
    ['a FIFO', (lock: string) => ['mkfifo', lock]],
    ['a symbolic link', (lock: string) => ['ln', '-s', `${lock}.elsewhere`, lock]],
    ['a unix socket', (lock: string) => [...BIND_SOCKET, lock]],
  ] as const)
    test(`${what} keeps their daemons from being loaded, says why, and a rescan loads them once it is gone`, async () => {
      host.writeMaster('[can_run_as]\n{alice}\n');
      host.writeDaemon('alice', 'a', `start=exec ${command}\n`);
      const lock = join(host.user('alice').home, '.daemon-manager/daemons/.lock');
      rmSync(lock, { force: true });
      execFileSync('runuser', ['-u', host.user('alice').name, '--', ...make(lock)]);
      const from = host.managerLog.length;
      await host.startManager();
      await waitFor('the refusal', () =>
        /\.lock is not a regular file of theirs/.test(host.managerLog.slice(from))
          ? true
          : undefined,
      );
      assert.equal(living(command).length, 0);
      const problems = await host.dmctl('alice', 'problems');
      assert.match(problems.stdout, /\.lock is not a regular file of theirs/);
      // Said as what it is: no other manager runs them (an outside review, 40a, F3).
      const refused = await host.dmctl('alice', 'rescan');
      assert.match(refused.stdout + refused.stderr, /their \.lock is not a regular file of theirs/);
      assert.doesNotMatch(refused.stdout + refused.stderr, /run by another manager/);
      rmSync(lock);
      await host.dmctl('alice', 'rescan');
      await host.waitForDaemon('alice', 'alice/a', (d) => d.state === 'running', 'to run');
      await host.stopManager();
    });

  test('one made a unix socket while the manager runs is found at the next rescan', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'a', `start=exec ${command}\n`);
    const lock = join(host.user('alice').home, '.daemon-manager/daemons/.lock');
    rmSync(lock, { force: true });
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/a', (d) => d.state === 'running', 'to run');
    rmSync(lock);
    execFileSync('runuser', ['-u', host.user('alice').name, '--', ...BIND_SOCKET, lock]);
    const from = host.managerLog.length;
    await host.dmctl('alice', 'rescan');
    await waitFor('the socket found', () =>
      /\.lock is not the file this manager locked/.test(host.managerLog.slice(from))
        ? true
        : undefined,
    );
    await waitFor('the refusal', () =>
      /\.lock is not a regular file of theirs/.test(host.managerLog.slice(from)) ? true : undefined,
    );
    // Its daemon, run with no lock held from then on, is stopped.
    await waitFor('the daemon stopped', () => (living(command).length === 0 ? true : undefined));
    rmSync(lock);
    await host.stopManager();
  });
});

/** A command that binds a unix socket at the path given after it, then exits (the file stays). */
/**
 * The same, of a `restart=no` task: its run cut short by its keeper's death, it was run
 * again once its survivor was stopped, its work done twice (found hunting an outside
 * review's finding, 69a, F3, where the state knew the run). It is left down, and said.
 */
describe('a restart=no task that survives a manager killed with its keeper, its user taken later', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const command = `sleep ${BASE + 53}`;
  after(() => host.cleanup());

  test('is stopped and left down, not run again', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'task', `start=exec ${command}\nrestart=no\n`);
    await host.startManager();
    await waitFor('the task to run', () => (living(command).length === 1 ? true : undefined));
    const [survivor] = living(command);
    await killBoth(host);
    await aliceTakenLater(host, () => living(command).length);
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor('the survivor stopped', () =>
      survivor !== undefined && !isAlive(survivor.pid) ? true : undefined,
    );
    const row = await host.waitForDaemon(
      'alice',
      'alice/task',
      (d) => d.state === 'stopped',
      'to be left down',
    );
    assert.equal(row.wanted, 'down', JSON.stringify(row));
    assert.deepEqual(living(command), [], 'not run again');
    const why = (await host.dmctl('alice', 'task', 'why')).stdout;
    assert.match(why, /cut short: restart=no leaves it down, not run again/, why);
    await host.stopManager();
  });
});

/** kill -9 of the manager and its keeper at once; its daemons run on. */
async function killBoth(host: TestHost): Promise<void> {
  const keeper = host.keeperPid();
  const manager = host.managerProcess();
  const exited = new Promise((resolve) => manager?.once('exit', resolve));
  manager?.kill('SIGKILL');
  process.kill(keeper, 'SIGKILL');
  await exited;
  await waitFor('the keeper to go', () => (host.keeperPid() === 0 ? true : undefined));
}

/**
 * Alice's personal manager takes her lock first (and runs a copy of her daemon: `copies`
 * counts 2), a manager is started and leaves her to it, and the personal manager stops:
 * the manager loads her at its next look (a SIGHUP). Where the manager's log was at its start.
 */
async function aliceTakenLater(host: TestHost, copies: () => number): Promise<number> {
  const personal = spawnPersonal(host, 'alice');
  await waitFor('the personal copy', () => (copies() === 2 ? true : undefined), {
    describe: personal.output,
  });
  const from = host.managerLog.length;
  await host.startManager();
  await waitFor('alice left to the personal manager', () =>
    /run by another manager/.test(host.managerLog.slice(from)) ? true : undefined,
  );
  personal.child.kill('SIGTERM');
  await new Promise((resolve) => personal.child.once('exit', resolve));
  return from;
}

const BIND_SOCKET = [
  'python3',
  '-c',
  'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
] as const;

// An outside review (74b, F4: 19 of 19): a manager started while the first one shut down
// was refused, "already running", and a moment later the host had no manager and no
// daemon. It waits for the first to exit, then runs them.
describe('a manager started while the first shuts down', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('waits for it to exit, then runs every daemon once', async () => {
    const slow = `sleep ${BASE + 7}`;
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'slow', `start=trap '' TERM; ${slow}\nstop_timeout=3s\n`);
    const first = await host.startManager();
    await host.waitForDaemon('alice', 'alice/slow', (d) => d.state === 'running', 'to run');
    const firstExit = new Promise((resolve) => first.once('exit', resolve));
    first.kill('SIGTERM');
    await waitFor('the shutdown to be under way', () =>
      existsSync(join(host.dir, 'state', 'shutting-down')) ? true : undefined,
    );
    const second = spawnCollecting([DAEMON_MANAGER, '--config', host.configFile, '-f']);
    const secondExit = new Promise((resolve) => second.child.once('exit', resolve));
    try {
      await waitFor(
        'the second to say it waits',
        () =>
          new RegExp(
            `the manager running \\(pid ${first.pid}\\) is shutting down: waiting up to 60 s for it to exit`,
          ).test(second.output())
            ? true
            : undefined,
        { describe: second.output },
      );
      await firstExit;
      await waitFor('the second to run', () =>
        /daemon-manager running/.test(second.output()) ? true : undefined,
      );
      await waitFor('the daemon to run once', () => (living(slow).length === 1 ? true : undefined));
      assert.equal(second.child.exitCode, null, second.output());
    } finally {
      second.child.kill('SIGTERM');
      await secondExit;
    }
  });
});
