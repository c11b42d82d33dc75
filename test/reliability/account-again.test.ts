import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  type AccountAgain,
  deleteAccount,
  endRun,
  killManager,
  makeAccountAgain,
  makeAccountAgainSameUid,
  saved,
  stopSaved,
  writeDaemonAgain,
} from '../helpers/accounts.ts';
import { showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { livePidsOfUid } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/** A daemon that says, line after line, the uid it runs as. */
const TALKER = 'start=while :; do echo "written by uid $(id -u)"; sleep 0.1; done\noutput=log\n';

/** The lines a log of `home` has from a run as `uid`. */
function linesOf(home: string, name: string, uid: number): number {
  const log = join(home, '.daemon-manager/logs', `${name}.log`);
  if (!existsSync(log)) return 0;
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line === `written by uid ${uid}`).length;
}

/** A host whose manager is stopped and whose sandbox is removed after its tests. */
function stoppedAfter(): TestHost {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await host.stopManager().catch(() => undefined);
    await host.cleanup();
  });
  return host;
}

/**
 * alice, allowed to run daemons (`master`), runs `x` (`start=exec sleep X`) and `others`
 * under a new manager, then stops x herself, the stop saved: what an account that is not
 * hers must not get. Returns her account and the pid each daemon ran with.
 */
async function aliceStoppedX(
  host: TestHost,
  x: string,
  others: Readonly<Record<string, string>> = {},
  master = '[can_run_as]\n{alice}\n',
): Promise<{ alice: ReturnType<TestHost['user']>; pids: Record<string, number> }> {
  const alice = host.user('alice');
  host.writeMaster(master);
  host.writeDaemon('alice', 'x', `start=exec sleep ${x}\n`);
  for (const [name, sleep] of Object.entries(others))
    host.writeDaemon('alice', name, `start=exec sleep ${sleep}\n`);
  await host.startManager();
  const pids: Record<string, number> = {};
  for (const name of ['x', ...Object.keys(others)])
    pids[name] = (
      await host.waitForDaemon('alice', `alice/${name}`, (d) => d.pid > 0, 'to run')
    ).pid;
  assert.equal((await host.dmctl('alice', 'stop', 'x', '--wait=10')).code, 0);
  await stopSaved(host);
  return { alice, pids };
}

/**
 * Deletes alice and makes her account again with her name, uid and gid (as `userdel` then
 * `useradd` give the highest ones back) and a new home with `daemons` (`start=exec sleep
 * N` each); returns it.
 */
function aliceAgain(
  alice: { name: string; uid: number; gid: number; home: string },
  daemons: Readonly<Record<string, string>>,
): string {
  const again = makeAccountAgainSameUid(alice);
  for (const [name, sleep] of Object.entries(daemons))
    writeDaemonAgain(again, name, `start=exec sleep ${sleep}\n`);
  return again.home;
}

/**
 * The second outside review: eve's account made again under her name twice, once while
 * the manager ran and once while it was down (kill -9; the keeper holds on), left the
 * third account's daemon dying at each start with exit 141 (SIGPIPE), "start banner not
 * written (Broken pipe)", until the keeper itself was stopped. The old run's read end of
 * its output pipe ended while a start of the new one was on its way, and the manager's
 * "drop the pipe of eve/talker" reached the keeper after that start had stored the new
 * pipe under the same name: the new pipe's only reader but the manager's went, and with
 * the manager killed, none was left. And the second account's run, stopped for the third,
 * showed as the third's daemon's last exit and in its `why`.
 */
describe('a daemon of an account made again twice, once while the manager ran and once while it was down', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let second: AccountAgain;
  let third: AccountAgain;
  let secondPid = 0;
  after(() => host.cleanup());

  before(async () => {
    host.writeMaster('[can_run_as]\n{eve}\n');
    host.writeDaemon('eve', 'talker', TALKER);
    let manager = await host.startManager();
    await host.waitForDaemon('root', 'eve/talker', (d) => d.pid > 0, 'to run');
    await killManager(manager);
    // Her home goes while no manager runs: what the run wrote meanwhile has no log to go to.
    // So do her configs as last read (a home not there may come back: it keeps her daemons
    // with those): the run is one no config claims.
    rmSync(host.user('eve').home, { recursive: true, force: true });
    rmSync(join(host.dir, 'state/configs'), { recursive: true, force: true });
    const from = host.managerLog.length;
    manager = await host.startManager();
    await waitFor(
      'the run no config claims to be stopped',
      () =>
        /eve\/talker: no config claims it/.test(host.managerLog.slice(from)) ? true : undefined,
      { describe: () => host.managerLog.slice(from) },
    );

    // Made again while the manager runs, with a daemon of the same name.
    second = makeAccountAgain(host, 'eve');
    writeDaemonAgain(second, 'talker', TALKER);
    // The manager sees it by its watch of /etc or the SIGHUP, whichever comes first.
    process.kill(host.managerPid(), 'SIGHUP');
    secondPid = (
      await host.waitForDaemon('root', 'eve/talker', (d) => d.pid > 0, 'to run as the second')
    ).pid;
    await waitFor(
      'the second account’s run to write into its log',
      () => (linesOf(second.home, 'talker', second.uid) > 0 ? true : undefined),
      { describe: () => host.managerLog.slice(from) },
    );
    // Killed once the state says whose run it is (saves are batched, up to a second).
    await waitFor('the state to save the daemon with the second account’s uid', () =>
      saved(host, 'eve/talker')?.ownerUid === second.uid ? true : undefined,
    );
    await killManager(manager);

    // Made again while no manager runs.
    third = makeAccountAgain(host, 'eve');
    writeDaemonAgain(third, 'talker', TALKER);
    await host.startManager();
  });

  test('runs for the third account, its output in its log', async () => {
    await waitFor(
      'ten lines of the third account’s run in its log',
      () => (linesOf(third.home, 'talker', third.uid) >= 10 ? true : undefined),
      { describe: () => host.managerLog.split('\n').slice(-20).join('\n') },
    );
    const row = await host.waitForDaemon('root', 'eve/talker', (d) => d.pid > 0, 'to run');
    assert.notEqual(row.pid, secondPid);
    assert.equal(row.respawns, 0);
  });

  test('the second account’s log has nothing the first account’s run wrote', () => {
    assert.ok(linesOf(second.home, 'talker', second.uid) > 0);
    assert.equal(linesOf(second.home, 'talker', host.user('eve').uid), 0);
  });

  test('shows nothing of the second account’s run: no last exit, nothing in why', async () => {
    const row = await host.waitForDaemon(
      'root',
      'eve/talker',
      (d) => d.pid > 0 && d.pid !== secondPid && d.uptime >= 1,
      'to run for a second',
    );
    assert.equal(row.lastExit, undefined);
    // Counted from its own start, not left at 0 as one never started.
    assert.ok(row.total >= row.uptime, `total ${row.total}s, uptime ${row.uptime}s`);
    const why = await host.dmctl('eve', 'talker', 'why');
    assert.equal(why.code, 0, why.stderr);
    assert.doesNotMatch(why.stdout, new RegExp(`pid ${secondPid}\\b`));
    assert.doesNotMatch(why.stdout, /SIGTERM|stopping/);
    // The manager's log says how the old account's run ended.
    assert.match(host.managerLog, new RegExp(`eve/talker: pid ${secondPid} ran for the account`));
  });
});

/**
 * Found while fixing the above: an account made again under its name while no manager
 * ran, its daemon of that name's old run over, got the new account's daemon of that name
 * started at once into the old account's output pipe (the keeper still kept it), whose
 * content the manager drops as the old account's: nothing that run wrote reached its log.
 */
describe('an account made again while no manager ran, the old run of its daemon over', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('the new account’s daemon of that name has its output in its log', async () => {
    host.writeMaster('[can_run_as]\n{fay}\n');
    host.writeDaemon('fay', 'talker', 'start=echo done\nrestart=no\noutput=log\n');
    const manager = await host.startManager();
    await host.waitForDaemon('root', 'fay/talker', (d) => d.state === 'exited', 'to be done');
    await waitFor('the state to save its end', () =>
      saved(host, 'fay/talker')?.ended === 'exited' ? true : undefined,
    );
    await killManager(manager);
    const again = makeAccountAgain(host, 'fay');
    writeDaemonAgain(again, 'talker', TALKER);
    await host.startManager();
    await waitFor(
      'ten lines of the new account’s run in its log',
      () => (linesOf(again.home, 'talker', again.uid) >= 10 ? true : undefined),
      { describe: () => host.managerLog.split('\n').slice(-20).join('\n') },
    );
  });
});

/**
 * Found while fixing the above: an account deleted and made again under its name while
 * the manager ran, its daemon slow to stop (it ignores SIGTERM), got the old account's
 * record for its own daemon of that name: the old run's pid, exits and SIGKILL in its
 * `why`, its last exit, and left stopped (wanted down) whatever its autostart said.
 */
describe('an account made again while the manager runs, its daemon slow to stop', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('the new account’s daemon of that name starts afresh, with nothing of the old one', async () => {
    host.writeMaster('[can_run_as]\n{gus}\n');
    host.writeDaemon('gus', 'talker', `start=trap "" TERM; ${TALKER.slice('start='.length)}`);
    await host.startManager();
    const { pid } = await host.waitForDaemon('root', 'gus/talker', (d) => d.pid > 0, 'to run');
    const again = makeAccountAgain(host, 'gus');
    writeDaemonAgain(again, 'talker', TALKER);
    // The manager sees it by its watch of /etc or the SIGHUP, whichever comes first.
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor(
      'ten lines of the new account’s run in its log',
      () => (linesOf(again.home, 'talker', again.uid) >= 10 ? true : undefined),
      { timeoutMs: 30_000, describe: () => host.managerLog.split('\n').slice(-20).join('\n') },
    );
    const row = await host.waitForDaemon('root', 'gus/talker', (d) => d.pid > 0, 'to run');
    assert.notEqual(row.pid, pid);
    assert.equal(row.lastExit, undefined);
    const why = await host.dmctl('gus', 'talker', 'why');
    assert.equal(why.code, 0, why.stderr);
    assert.doesNotMatch(why.stdout, new RegExp(`pid ${pid}\\b`));
  });
});

/**
 * The old account's run, stopping (it ignores SIGTERM) after its account was deleted and
 * made again under its name while the manager ran, was the new account's to see and act
 * on: its pid and uptime in their `dmctl status`, its events in their `why`, and their
 * `dmctl kill` had root signal the processes of the deleted uid.
 */
describe('an account made again while the manager runs, the old run still stopping', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let again: AccountAgain;
  let oldPid = 0;
  after(() => {
    // The old run ignores SIGTERM for 120 s: the cleanup's stop of the manager would wait.
    endRun(oldPid, host.user('hal').uid);
    return host.cleanup();
  });

  /** Whether a process is there (a zombie counts: it has not been reaped yet). */
  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  before(async () => {
    host.writeMaster('[can_run_as]\n{hal}\n');
    host.writeDaemon(
      'hal',
      'talker',
      `start=trap "" TERM; ${TALKER.slice('start='.length)}stop_timeout=120\n`,
    );
    await host.startManager();
    oldPid = (await host.waitForDaemon('root', 'hal/talker', (d) => d.pid > 0, 'to run')).pid;
    again = makeAccountAgain(host, 'hal');
    writeDaemonAgain(again, 'talker', TALKER);
    // The manager sees it by its watch of /etc or the SIGHUP, whichever comes first.
    process.kill(host.managerPid(), 'SIGHUP');
    // Seen as another account, or first as gone (read between userdel and useradd).
    await host.waitForDaemon('root', 'hal/talker', (d) => d.state === 'stopping', 'to stop');
  });

  test('the new account’s status shows nothing of the old run', async () => {
    const rows = await host.status('hal');
    assert.deepEqual(
      rows.filter((row) => row.pid === oldPid || row.id === host.id('hal/talker')),
      [],
    );
    const text = await host.dmctl('hal', 'status');
    assert.equal(text.code, 0, text.stderr);
    assert.doesNotMatch(text.stdout, new RegExp(`\\b${oldPid}\\b`));
    assert.ok(alive(oldPid));
  });

  test('the new account can neither signal nor act on the old run, nor read of it', async () => {
    for (const args of [
      ['talker', 'kill', '-KILL'],
      [host.id('hal/talker'), 'kill', '-TERM'],
      ['talker', 'why'],
      ['talker', 'info'],
      ['talker', 'log'],
      ['talker', 'stop'],
      ['talker', 'start'],
      ['talker', 'restart'],
    ]) {
      const result = await host.dmctl('hal', ...args);
      assert.notEqual(result.code, 0, `dmctl ${args.join(' ')}: ${result.stdout}`);
      assert.doesNotMatch(result.stdout + result.stderr, new RegExp(`\\b${oldPid}\\b`));
    }
    assert.ok(alive(oldPid), `pid ${oldPid} was killed`);
    const row = await host.waitForDaemon('root', 'hal/talker', () => true, 'to be listed');
    assert.equal(row.state, 'stopping');
    assert.equal(row.wanted, 'down');
  });

  test('root sees it stopping, with no pid, and cannot signal it either', async () => {
    const row = await host.waitForDaemon('root', 'hal/talker', () => true, 'to be listed');
    assert.equal(row.state, 'stopping');
    assert.equal(row.pid, 0);
    const kill = await host.dmctl('root', host.id('hal/talker'), 'kill', '-KILL');
    assert.notEqual(kill.code, 0, kill.stdout);
    assert.match(kill.stderr, /the daemon of the account that had the name/);
    for (const command of ['start', 'restart', 'log']) {
      const result = await host.dmctl('root', host.id('hal/talker'), command);
      assert.notEqual(result.code, 0, `${command}: ${result.stdout}`);
      assert.match(result.stderr, /the daemon of the account that had the name/);
    }
    // Whose it was, in its why: the uid's account gone, or under another name (the
    // sandbox holds a deleted account's uid under a name of its own, see deleteAccount).
    const why = await host.dmctl('root', host.id('hal/talker'), 'why');
    assert.equal(why.code, 0, why.stderr);
    const uid = host.user('hal').uid;
    assert.match(
      why.stdout,
      new RegExp(
        `the account of uid ${uid} that had this name is gone|its owner is called \\S+ now \\(uid ${uid}\\)`,
      ),
    );
    assert.ok(alive(oldPid), `pid ${oldPid} was killed`);
    const row2 = await host.waitForDaemon('root', 'hal/talker', () => true, 'to be listed');
    assert.equal(row2.state, 'stopping');
  });

  test('once the old run is gone, the new account’s daemon starts as its own', async () => {
    // Its end, sooner than the stop's SIGKILL after 120 s.
    process.kill(-oldPid, 'SIGKILL');
    const row = await host.waitForDaemon(
      'hal',
      'hal/talker',
      (d) => d.pid > 0 && d.pid !== oldPid,
      'to run for the new account',
    );
    assert.equal(row.lastExit, undefined);
    assert.equal(row.wanted, 'up');
    await waitFor('ten lines of the new account’s run in its log', () =>
      linesOf(again.home, 'talker', again.uid) >= 10 ? true : undefined,
    );
    const why = await host.dmctl('hal', 'talker', 'why');
    assert.equal(why.code, 0, why.stderr);
    assert.doesNotMatch(why.stdout, new RegExp(`\\b${oldPid}\\b|SIGKILL|SIGTERM|dmctl`));
  });
});

/**
 * Found while fixing the above: the manager killed (its keeper alive) while the old
 * account's run still stopped, the next manager saved it as the new account's (its uid
 * then): it took that run for the new account's daemon of that name, showed them its pid
 * and let them signal it.
 */
describe('an account made again while the manager runs, the manager killed while the old run stops', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let pid = 0;
  after(() => {
    endRun(pid, host.user('ida').uid);
    return host.cleanup();
  });

  test('the next manager shows the new account nothing of it, and starts their daemon after it', async () => {
    host.writeMaster('[can_run_as]\n{ida}\n');
    host.writeDaemon(
      'ida',
      'talker',
      `start=trap "" TERM; ${TALKER.slice('start='.length)}stop_timeout=120\n`,
    );
    const manager = await host.startManager();
    pid = (await host.waitForDaemon('root', 'ida/talker', (d) => d.pid > 0, 'to run')).pid;
    const again = makeAccountAgain(host, 'ida');
    // Its stop_timeout is the one of the stop resumed by the next manager: 120 s, as before.
    writeDaemonAgain(again, 'talker', `${TALKER}stop_timeout=120\n`);
    process.kill(host.managerPid(), 'SIGHUP');
    await host.waitForDaemon('root', 'ida/talker', (d) => d.state === 'stopping', 'to stop');
    // Killed once the state has the stop (saves are batched, up to a second).
    await waitFor('the state to save the stop', () =>
      saved(host, 'ida/talker')?.state === 'stopping' ? true : undefined,
    );
    await killManager(manager);
    await host.startManager();
    await host.waitForDaemon('root', 'ida/talker', (d) => d.state === 'stopping', 'to stop');
    const rows = await host.status('ida');
    assert.deepEqual(
      rows.filter((row) => row.pid === pid),
      [],
    );
    const kill = await host.dmctl('ida', 'talker', 'kill', '-KILL');
    assert.notEqual(kill.code, 0, kill.stdout);
    const why = await host.dmctl('ida', 'talker', 'why');
    assert.doesNotMatch(why.stdout, new RegExp(`\\b${pid}\\b|SIGTERM`));
    process.kill(pid, 0);
    // Still the old run's stop: what was refused was not the new account's own daemon.
    assert.equal(
      (await host.status('root')).find((d) => d.id === host.id('ida/talker'))?.state,
      'stopping',
    );
    // Its end, sooner than the stop's SIGKILL after 120 s.
    process.kill(-pid, 'SIGKILL');
    const row = await host.waitForDaemon(
      'ida',
      'ida/talker',
      (d) => d.pid > 0 && d.pid !== pid,
      'to run for the new account',
    );
    assert.equal(row.lastExit, undefined);
    await waitFor('ten lines of the new account’s run in its log', () =>
      linesOf(again.home, 'talker', again.uid) >= 10 ? true : undefined,
    );
    const after = await host.dmctl('ida', 'talker', 'why');
    assert.equal(after.code, 0, after.stderr);
    assert.doesNotMatch(after.stdout, new RegExp(`\\b${pid}\\b|SIGKILL|SIGTERM`));
  });
});

/**
 * An outside review (35a): an account made again while no manager ran, with a broken file
 * of the old daemon's name: the old account's run was stopped at the takeover as "no
 * config claims it (its file is broken now, and the config it ran with was not saved)",
 * and that stop was in the new account's `why`, though the run was never theirs.
 */
describe('an account made again while no manager ran, a broken file of the old daemon’s name', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('the old run is stopped as the old account’s, and the new account’s why shows nothing of it', async () => {
    host.writeMaster('[can_run_as]\n{jo}\n');
    host.writeDaemon('jo', 'talker', TALKER);
    const manager = await host.startManager();
    const { pid } = await host.waitForDaemon('jo', 'jo/talker', (d) => d.pid > 0, 'to run');
    await waitFor('its run to be saved', () =>
      saved(host, 'jo/talker')?.state === 'running' ? true : undefined,
    );
    await killManager(manager);
    const again = makeAccountAgain(host, 'jo');
    writeDaemonAgain(again, 'talker', `${TALKER}autostart=maybe\n`);
    const from = host.managerLog.length;
    await host.startManager();
    await waitFor('the old run to be gone', () => (existsSync(`/proc/${pid}`) ? undefined : true));
    assert.match(
      host.managerLog.slice(from),
      /jo\/talker: no config claims it any more \(its owner then, uid \d+, ran it \(that account was renamed, or another has this name now\)\)/,
    );
    const why = await host.dmctl('jo', 'talker', 'why');
    assert.equal(why.code, 0, why.stderr);
    assert.match(why.stdout, /autostart/, 'its own file’s problem');
    assert.doesNotMatch(why.stdout, /stopped at the takeover|not saved/);
  });
});

/**
 * Found hunting an outside review's finding (36a, F4): the old account's run, stopped at a
 * takeover as claimed by no config, is taken back by a daemon loaded later under that id
 * so that it never runs beside it; for the new account of the name, it stays the old
 * account's: not shown, not in their why, and their daemon starts once it is gone.
 */
describe('an account made again while no manager ran, its file written after the takeover', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('the new account sees nothing of the old run, and its daemon starts once that run is gone', async () => {
    host.writeMaster('[can_run_as]\n{kim}\n', 'stop-timeout = 6s');
    host.writeDaemon('kim', 'talker', `start=trap "" TERM; ${TALKER.slice('start='.length)}`);
    const manager = await host.startManager();
    const { pid } = await host.waitForDaemon('kim', 'kim/talker', (d) => d.pid > 0, 'to run');
    await waitFor('its run to be saved', () =>
      saved(host, 'kim/talker')?.state === 'running' ? true : undefined,
    );
    await killManager(manager);
    const again = makeAccountAgain(host, 'kim');
    await host.startManager();
    writeDaemonAgain(again, 'talker', TALKER);
    assert.equal((await host.dmctl('kim', 'rescan')).code, 0);
    const rows = await host.status('kim');
    assert.deepEqual(
      rows.filter((row) => row.pid === pid),
      [],
      'the old run is not shown to the new account',
    );
    const why = await host.dmctl('kim', 'talker', 'why');
    assert.doesNotMatch(why.stdout, new RegExp(`\\b${pid}\\b|SIGTERM`));
    const row = await host.waitForDaemon(
      'kim',
      'kim/talker',
      (d) => d.state === 'running' && d.pid > 0,
      'to run for the new account',
    );
    assert.ok(!existsSync(`/proc/${pid}`), 'after the old run is gone');
    await waitFor('the new account’s run in its log', () =>
      linesOf(again.home, 'talker', again.uid) > 0 && row.pid > 0 ? true : undefined,
    );
  });
});

/**
 * An outside review (45b, F3, 6 of 6): an account deleted while its daemon's run was being
 * stopped, the manager and its keeper killed, a new account given the name: its `dmctl
 * kill` of its daemon of that name reached the old account's processes (found in the
 * daemon's cgroup, the keeper's record of whose they were gone with the keeper).
 * The next (47b, F1, High, 5 of 5): the manager alone killed, the new account made while
 * the next one ran, then the manager and its keeper killed: the next manager took the old
 * run, saved as the one the new account's daemon waited for, as that daemon's own, and the
 * new account's `kill` ended the old account's processes.
 */
for (const way of [
  'the manager and its keeper killed',
  'the manager killed, then the manager and its keeper',
] as const)
  describe(`an account made again while its old run stops, ${way}`, {
    skip: !root && 'needs root',
  }, () => {
    const host = new TestHost();
    after(() => host.cleanup());

    test('the new account’s kill reaches nothing of the old run', async () => {
      host.writeMaster('[can_run_as]\n{kim}\n');
      const mark = join(host.user('kim').home, 'signalled');
      host.writeDaemon(
        'kim',
        'other',
        `start=trap "echo USR1 >> ${mark}" USR1; trap "" TERM; while :; do sleep 0.2; done\nstop_timeout=20s\n`,
      );
      await host.startManager();
      const { pid } = await host.waitForDaemon('kim', 'kim/other', (d) => d.pid > 0, 'to run');
      deleteAccount(host, 'kim');
      await waitFor('its stop to be saved', () =>
        saved(host, 'kim/other')?.state === 'stopping' ? true : undefined,
      );
      const bothFirst = way === 'the manager and its keeper killed';
      if (bothFirst) await host.killManagerAndKeeper();
      else await host.killManager();
      await host.startManager();
      const from = host.managerLog.length;
      const again = makeAccountAgain(host, 'kim');
      writeDaemonAgain(again, 'other', 'start=exec sleep 100000\n');
      await rescanOnceSeen(host, again);
      if (!bothFirst) {
        await waitFor('the new daemon to wait for the old run', () =>
          /kim\/other: its run before/.test(host.managerLog.slice(from)) ? true : undefined,
        );
        await waitFor('the old run saved as the one the new daemon waits for', () =>
          saved(host, 'kim/other')?.former === true ? true : undefined,
        );
        await host.killManagerAndKeeper();
        await host.startManager();
      }
      await host.waitForDaemon('kim', 'kim/other', () => true, 'to be loaded');
      const kill = await host.dmctl('kim', 'other', 'kill', '-USR1');
      assert.notEqual(kill.code, 0, `${kill.stdout}${kill.stderr}`);
      if (!bothFirst) {
        const row = await host.waitForDaemon('kim', 'kim/other', () => true, 'to be listed');
        assert.equal(row.pid, 0, JSON.stringify(row));
      }
      await waitFor('the old run gone', () => (existsSync(`/proc/${pid}`) ? undefined : true), {
        timeoutMs: 40_000,
      });
      assert.ok(!existsSync(mark), 'the old account’s process got the new account’s signal');
      // Nor said to be replaced by it (48a, F3: "replacing it" read as the old bug).
      assert.doesNotMatch(
        host.managerLog.slice(from),
        /kim\/other: .*survives from a previous manager; replacing it/,
      );
    });
  });

/**
 * The same review (45b, F4, 2 of 2): an account renamed to a name not allowed while its
 * owner's stop was under way, the manager and its keeper killed, a new account given the
 * old name: its `why` showed the old account's pid and stop, read as its own.
 */
describe('an account renamed to a name not allowed, the manager and its keeper killed, a new account given the name', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const away = host.expand('{kimwas}');
  after(async () => {
    await host.stopManager().catch(() => undefined);
    try {
      execFileSync('userdel', [away], { stdio: 'ignore' });
    } catch {
      // Not renamed.
    }
    await host.cleanup();
  });

  test('the new account’s why shows nothing of the old one', async () => {
    host.user('carol');
    host.writeMaster('[can_run_as]\n{kim}: {carol}\n');
    host.writeDaemon(
      'kim',
      'web',
      `start=trap "" TERM; exec sleep 6800121\nuser=${host.expand('{carol}')}\nstop_timeout=10s\n`,
    );
    await host.startManager();
    const { pid } = await host.waitForDaemon('kim', 'kim/web', (d) => d.pid > 0, 'to run');
    assert.equal((await host.dmctl('kim', 'web', 'stop')).code, 0);
    const history = join(host.dir, 'state', 'history.json');
    await waitFor('the stop in the saved history', () =>
      existsSync(history) &&
      JSON.stringify(
        JSON.parse(readFileSync(history, 'utf8')).daemons[`${host.user('kim').name}/web`] ?? [],
      ).includes('ran dmctl stop')
        ? true
        : undefined,
    );
    execFileSync('usermod', ['-l', away, host.user('kim').name]);
    await host.killManagerAndKeeper();
    await host.startManager();
    const again = makeAccountAgain(host, 'kim');
    writeDaemonAgain(again, 'web', 'start=exec sleep 100000\n');
    await rescanOnceSeen(host, again);
    await host.waitForDaemon('kim', 'kim/web', () => true, 'to be loaded');
    const why = await host.dmctl('kim', 'web', 'why');
    assert.doesNotMatch(why.stdout, new RegExp(`\\b${pid}\\b|ran dmctl stop`), why.stdout);
    await host.stopManager();
  });
});

/**
 * A host for a describe whose test deletes alice and gives her uid to a new account `dave`
 * (home in the sandbox, daemon `x` started by `start`); `giveUid` makes it and returns
 * its name. At the end the manager is stopped and that account removed.
 */
function uidReuseHost(): { host: TestHost; giveUid: (uid: number, start: string) => string } {
  const host = new TestHost();
  let made = '';
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await host.stopManager().catch(() => undefined);
    if (made !== '') execFileSync('userdel', ['-f', made], { stdio: 'ignore' });
    await host.cleanup();
  });
  const giveUid = (uid: number, start: string): string => {
    made = host.expand('{dave}');
    const home = join(host.dir, 'home-dave');
    execFileSync('useradd', ['-M', '-N', '-o', '-u', String(uid), '-d', home, made]);
    mkdirSync(home, { mode: 0o755 });
    chownSync(home, uid, 100);
    writeDaemonAgain({ uid, home }, 'x', start);
    return made;
  };
  return { host, giveUid };
}

/**
 * An outside review (50a, F1, High, 3 of 3): an account deleted (its daemon stopped by its
 * owner), then a new account given its uid under another name (useradd gives a freed uid
 * back; another session took one within seconds): taken for a rename, the new account's
 * daemon of that name was left stopped, nobody having stopped it, and its `why` showed the
 * deleted account's pids and who stopped its daemon.
 */
describe('a new account given the uid of an account deleted', {
  skip: !root && 'needs root',
}, () => {
  const { host, giveUid } = uidReuseHost();

  test('is someone else: its daemon starts, with none of the deleted account’s history', async () => {
    const alice = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n{dave}\n');
    host.writeDaemon('alice', 'x', 'start=exec sleep 6800300\n');
    await host.startManager();
    const first = await host.waitForDaemon('alice', 'alice/x', (d) => d.pid > 0, 'to run');
    assert.equal((await host.dmctl('alice', 'stop', 'x', '--wait=10')).code, 0);
    const from = host.managerLog.length;
    execFileSync('userdel', ['-f', alice.name]);
    await waitFor('alice gone', () =>
      host.managerLog.slice(from).includes(`${alice.name} may no longer run daemons`)
        ? true
        : undefined,
    );
    const dave = giveUid(alice.uid, 'start=exec sleep 6800301\n');
    const theirs = await host.waitForDaemon('root', 'dave/x', (d) => d.pid > 0, 'to run');
    assert.notEqual(theirs.pid, first.pid);
    const why = (await host.dmctl('root', `${dave}/x`, 'why')).stdout;
    assert.doesNotMatch(why, new RegExp(`ran dmctl stop|pid ${first.pid}\\b`), why);
    assert.doesNotMatch(host.managerLog.slice(from), new RegExp(`is now called ${dave}`));
  });
});

/**
 * An outside review (52a, F1, High, 7 of 7): an account deleted while the manager ran, its
 * deletion in the log, then a `kill -9` of the manager within 0.3 s and a new account given
 * the uid under another name: the state saved before the deletion was read as a rename,
 * and the new account got the deleted one's stop and history. The log says when the
 * deletion is saved; a crash after that line does not undo it.
 */
describe('an account deleted, the manager killed once the deletion is saved', {
  skip: !root && 'needs root',
}, () => {
  const { host, giveUid } = uidReuseHost();

  test('is gone for good: a new account given its uid gets nothing of it', async () => {
    const alice = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n{dave}\n');
    host.writeDaemon('alice', 'x', 'start=exec sleep 6800304\n');
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/x', (d) => d.pid > 0, 'to run');
    assert.equal((await host.dmctl('alice', 'stop', 'x', '--wait=10')).code, 0);
    const from = host.managerLog.length;
    execFileSync('userdel', ['-f', alice.name]);
    const saved = `saved: the account of ${alice.name} (uid ${alice.uid}) is deleted`;
    await waitFor('the deletion saved', () =>
      host.managerLog.slice(from).includes(saved) ? true : undefined,
    );
    await host.killManager();
    const dave = giveUid(alice.uid, 'start=exec sleep 6800305\n');
    await host.startManager();
    await host.waitForDaemon('root', 'dave/x', (d) => d.pid > 0, 'to run');
    const why = (await host.dmctl('root', `${dave}/x`, 'why')).stdout;
    assert.doesNotMatch(why, /ran dmctl stop|left stopped/, why);
  });
});

/**
 * An outside review (53a, F2, Low): an account deleted while no manager ran was never said
 * saved as deleted, and an admin told to wait for that line waited for good.
 */
describe('an account deleted while no manager ran', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  after(async () => {
    await host.stopManager().catch(() => undefined);
    await host.cleanup();
  });

  test('is said saved as deleted at the takeover', async () => {
    const alice = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'x', 'start=exec sleep 6800306\n');
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/x', (d) => d.pid > 0, 'to run');
    assert.equal((await host.dmctl('alice', 'stop', 'x', '--wait=10')).code, 0);
    await host.killManager();
    execFileSync('userdel', ['-f', alice.name]);
    const from = host.managerLog.length;
    await host.startManager();
    const saved = `saved: the account of ${alice.name} (uid ${alice.uid}) is deleted`;
    await waitFor('the deletion said saved', () =>
      host.managerLog.slice(from).includes(saved) ? true : undefined,
    );
  });
});

/**
 * An outside review (51a, F2, High, 4 of 4): an account renamed to a name not allowed and
 * deleted while the manager ran, the manager killed seconds later, then a new account given
 * its uid under an allowed name: the deletion was not saved, and the new account had the
 * deleted one's daemon left stopped and its history shown.
 */
describe('an account deleted under a name not allowed, the manager killed after', {
  skip: !root && 'needs root',
}, () => {
  const { host, giveUid } = uidReuseHost();

  test('is gone for good: a new account given its uid gets nothing of it', async () => {
    const alice = host.user('alice');
    const walt = host.expand('{walt}');
    host.writeMaster('[can_run_as]\n{alice}\n{dave}\n');
    host.writeDaemon('alice', 'x', 'start=exec sleep 6800302\n');
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/x', (d) => d.pid > 0, 'to run');
    assert.equal((await host.dmctl('alice', 'stop', 'x', '--wait=10')).code, 0);
    const from = host.managerLog.length;
    execFileSync('usermod', ['-l', walt, alice.name]);
    await waitFor('alice no longer allowed', () =>
      host.managerLog.slice(from).includes(`${alice.name} may no longer run daemons`)
        ? true
        : undefined,
    );
    const state = join(host.dir, 'state', 'state.json');
    await waitFor('what the account left saved', () =>
      readFileSync(state, 'utf8').includes('"leftDownByUid"') ? true : undefined,
    );
    const history = join(host.dir, 'state', 'history.json');
    await waitFor('its history kept aside by uid', () =>
      readFileSync(history, 'utf8').includes(`"#${alice.uid}/x"`) ? true : undefined,
    );
    const deletedFrom = host.managerLog.length;
    execFileSync('userdel', ['-f', walt]);
    // Said by the name it was deleted under (an outside review, 54a, F5: by its last
    // allowed name, and an admin waiting for the line by name waited for good).
    const savedLine = `saved: the account of ${walt} (uid ${alice.uid}) is deleted`;
    await waitFor('the deletion said saved by its name', () =>
      host.managerLog.slice(deletedFrom).includes(savedLine) ? true : undefined,
    );
    // Both files: the history is saved beside the state, a moment after it.
    await waitFor('the deletion saved', () =>
      readFileSync(state, 'utf8').includes('"leftDownByUid"') ||
      readFileSync(history, 'utf8').includes(`"#${alice.uid}/x"`)
        ? undefined
        : true,
    );
    await host.killManager();
    const dave = giveUid(alice.uid, 'start=exec sleep 6800303\n');
    await host.startManager();
    await host.waitForDaemon('root', 'dave/x', (d) => d.pid > 0, 'to run');
    const why = (await host.dmctl('root', `${dave}/x`, 'why')).stdout;
    assert.doesNotMatch(why, /ran dmctl stop|left stopped/, why);
  });
});

/**
 * What a test of a new account given the uid of an account deleted (alice, her daemon `x`
 * stopped by her) does in between: `replace` deletes alice and gives her uid to `dave` (see
 * uidReuseHost), with a manager running after. dave is someone else: his daemon `x` starts, with none of alice's history,
 * and the log says why he is not taken for alice renamed.
 */
async function uidGivenAgain(
  host: TestHost,
  replace: (alice: { name: string; uid: number }) => Promise<string>,
): Promise<void> {
  const alice = host.user('alice');
  await host.startManager();
  await host.waitForDaemon('alice', 'alice/x', (d) => d.pid > 0, 'to run');
  assert.equal((await host.dmctl('alice', 'stop', 'x', '--wait=10')).code, 0);
  const from = host.managerLog.length;
  const dave = await replace(alice);
  await host.waitForDaemon('root', 'dave/x', (d) => d.pid > 0, 'to run');
  const why = (await host.dmctl('root', `${dave}/x`, 'why')).stdout;
  assert.doesNotMatch(why, /ran dmctl stop|left stopped/, why);
  const log = host.managerLog.slice(from);
  assert.match(
    log,
    new RegExp(`${dave} \\(uid ${alice.uid}\\) is a new account given the uid of ${alice.name}`),
  );
  assert.doesNotMatch(log, new RegExp(`is now called ${dave}`), log);
  // Its own lock noted as its account's, for the next time its uid is given again.
  await waitFor('the new account’s lock saved as its own', () => {
    const saved = JSON.parse(readFileSync(join(host.dir, 'state', 'state.json'), 'utf8'));
    return saved.lockFiles?.[alice.uid]?.name === dave ? true : undefined;
  });
}

/**
 * An outside review (51a, F1, High, 3 of 3): an account deleted and its uid given to a new
 * account under another name while no manager ran (killed, the keeper holding on or killed
 * too): the takeover read /etc/passwd as a rename, and the new account's daemon of the
 * deleted one's daemon's name was left stopped, its `why` the deleted account's. The
 * new account's daemon directory's lock is not the deleted one's: it is someone else.
 */
for (const [way, kill] of [
  ['the keeper holding on', (host: TestHost) => host.killManager()],
  ['the keeper killed too', (host: TestHost) => host.killManagerAndKeeper()],
] as const)
  describe(`an account deleted and its uid given to a new account while no manager ran, ${way}`, {
    skip: !root && 'needs root',
  }, () => {
    const { host, giveUid } = uidReuseHost();

    test('is someone else: its daemon starts, with none of the deleted account’s history', async () => {
      host.writeMaster('[can_run_as]\n{alice}\n{dave}\n');
      host.writeDaemon('alice', 'x', 'start=exec sleep 6800307\n');
      await uidGivenAgain(host, async (alice) => {
        await kill(host);
        execFileSync('userdel', ['-f', alice.name]);
        const dave = giveUid(alice.uid, 'start=exec sleep 6800308\n');
        await host.startManager();
        return dave;
      });
    });
  });

/**
 * An outside review (52a, F2, High, 3 of 3): an account deleted and a new account given its
 * uid at once, the manager reading both changes as one (here it is stalled meanwhile): taken
 * for a rename, as in 51a, F1.
 */
describe('an account deleted and its uid given to a new account, read as one change', {
  skip: !root && 'needs root',
}, () => {
  const { host, giveUid } = uidReuseHost();

  test('is someone else: its daemon starts, with none of the deleted account’s history', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n{dave}\n');
    host.writeDaemon('alice', 'x', 'start=exec sleep 6800309\n');
    await uidGivenAgain(host, async (alice) => {
      const pid = host.managerPid();
      process.kill(pid, 'SIGSTOP');
      try {
        execFileSync('userdel', ['-f', alice.name]);
        return giveUid(alice.uid, 'start=exec sleep 6800310\n');
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    });
  });
});

/**
 * The same mistake for an account away under a name not allowed (its lock let go, what it
 * left kept by uid): deleted there and its uid given to a new account under an allowed name
 * while no manager ran, the manager and its keeper killed, the saved state alone said whose
 * the uid was.
 */
describe('an account under a name not allowed, deleted and its uid given to a new account while no manager ran', {
  skip: !root && 'needs root',
}, () => {
  const { host, giveUid } = uidReuseHost();

  test('is someone else: its daemon starts, with none of the deleted account’s history', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n{dave}\n');
    host.writeDaemon('alice', 'x', 'start=exec sleep 6800311\n');
    await uidGivenAgain(host, async (alice) => {
      const walt = host.expand('{walt}');
      const from = host.managerLog.length;
      execFileSync('usermod', ['-l', walt, alice.name]);
      await waitFor('alice no longer allowed', () =>
        host.managerLog.slice(from).includes(`${alice.name} may no longer run daemons`)
          ? true
          : undefined,
      );
      const state = join(host.dir, 'state', 'state.json');
      await waitFor('what the account left saved', () =>
        readFileSync(state, 'utf8').includes('"leftDownByUid"') ? true : undefined,
      );
      await host.killManagerAndKeeper();
      execFileSync('userdel', ['-f', walt]);
      const dave = giveUid(alice.uid, 'start=exec sleep 6800312\n');
      await host.startManager();
      return dave;
    });
  });
});

/**
 * An account deleted and made again with its name and its uid (useradd gives the highest
 * uid back) and a new home while no manager ran: /etc/passwd is as before, and only its
 * daemon directory, made anew, tells. The new account gets nothing of the old one.
 */
for (const [way, kill] of [
  ['the keeper holding on', (host: TestHost) => host.killManager()],
  ['the keeper killed too', (host: TestHost) => host.killManagerAndKeeper()],
] as const)
  describe(`an account made again with its name and uid while no manager ran, ${way}`, {
    skip: !root && 'needs root',
  }, () => {
    const host = stoppedAfter();

    test('is someone else: its daemon starts, with none of the old account’s history', async () => {
      const { alice, pids } = await aliceStoppedX(host, '6800313');
      await kill(host);
      aliceAgain(alice, { x: '6800314' });
      const from = host.managerLog.length;
      await host.startManager();
      const now = await host.waitForDaemon('root', 'alice/x', (d) => d.pid > 0, 'to run');
      assert.notEqual(now.pid, pids.x);
      const why = (await host.dmctl('root', `${alice.name}/x`, 'why')).stdout;
      assert.doesNotMatch(why, /ran dmctl stop|left stopped/, why);
      assert.match(
        host.managerLog.slice(from),
        new RegExp(`${alice.name} \\(uid ${alice.uid}\\) is an account made again`),
      );
    });
  });

/**
 * An outside review (55a, F1: 4 of 4): the account made again with its name and uid while
 * no manager ran, its new home kept unreadable until the manager had started, was taken
 * for the same account for good: the deleted one's stop and `why` were the new one's, and
 * the old run of its daemon was taken over as theirs. Not known yet at the start (taken for
 * the same account meanwhile, as a home unreadable at a restart after a crash keeps its
 * daemons running), it is judged once its home can be read, an upgrade meanwhile or not.
 */
for (const [way, meanwhile] of [
  ['', async (_host: TestHost) => undefined],
  [', an upgrade meanwhile', (host: TestHost) => host.upgrade()],
] as const)
  describe(`an account made again with its name and uid while no manager ran, its home unreadable at the start${way}`, {
    skip: !root && 'needs root',
  }, () => {
    const host = stoppedAfter();

    test('is someone else once it can be read: nothing of the old account is theirs', async () => {
      const { alice, pids } = await aliceStoppedX(host, '6800323', { y: '6800324' });
      const oldY = pids.y as number;
      await host.killManager();
      // The same files (nothing restarted as changed), the same gid (nor for a group).
      const home = aliceAgain(alice, { x: '6800323', y: '6800324' });
      chmodSync(home, 0);
      const from = host.managerLog.length;
      try {
        await host.startManager();
        await host.waitForDaemon('root', 'alice/y', (d) => d.pid > 0, 'to run');
        await meanwhile(host);
      } finally {
        chmodSync(home, 0o755);
      }
      const x = await host.waitForDaemon('root', 'alice/x', (d) => d.pid > 0, 'to run');
      assert.equal(x.lastExit, undefined, 'the old run’s end is not theirs');
      // The old run of y, taken over while the account was not known yet, is not theirs:
      // restarted, nothing of theirs reaches it (an outside review, 56a, F4).
      await waitFor('the old run of y gone', () =>
        existsSync(`/proc/${oldY}`) ? undefined : true,
      );
      const y = await host.waitForDaemon('root', 'alice/y', (d) => d.pid > 0, 'to run anew');
      // Nor is its end (an outside review, 57a, Low).
      assert.equal(y.lastExit, undefined, 'the old run’s end is not theirs');
      const yWhy = (await host.dmctl('alice', 'y', 'why')).stdout;
      assert.doesNotMatch(yWhy, new RegExp(`pid ${oldY}\\b`), yWhy);
      assert.match(
        host.managerLog.slice(from),
        new RegExp(`${alice.name} \\(uid ${alice.uid}\\) is an account made again`),
      );
      assert.match(
        host.managerLog.slice(from),
        new RegExp(`${alice.name} \\(uid ${alice.uid}\\) is not known yet`),
      );
      for (const daemon of ['x', 'y']) {
        const why = (await host.dmctl('alice', daemon, 'why')).stdout;
        assert.doesNotMatch(why, /ran dmctl stop|left stopped/, why);
      }
    });
  });

/**
 * An outside review (61a, F3, High, 4 of 4): judged made again while the manager ran, each
 * running daemon was restarted in place: one of which the new account had no file ran the
 * deleted account's config (its secrets in its environment) as the new account.
 */
describe('an account made again with its name and uid while no manager ran, without a file of a daemon the deleted one ran', {
  skip: !root && 'needs root',
}, () => {
  const host = stoppedAfter();

  test('runs none of the deleted account’s configs once judged', async () => {
    const { alice, pids } = await aliceStoppedX(host, '6800406', { y: '6800407' });
    await host.killManager();
    // Its own x, no y.
    const home = aliceAgain(alice, { x: '6800408' });
    chmodSync(home, 0);
    const from = host.managerLog.length;
    try {
      await host.startManager();
      await host.waitForDaemon('root', 'alice/y', (d) => d.state !== 'stopped', 'to be taken over');
    } finally {
      chmodSync(home, 0o755);
    }
    await waitFor('the judgement', () =>
      / is an account made again/.test(host.managerLog.slice(from)) ? true : undefined,
    );
    await waitFor('the old run of y gone', () =>
      existsSync(`/proc/${pids.y}`) ? undefined : true,
    );
    await host.waitForDaemon('root', 'alice/x', (d) => d.pid > 0, 'its own x to run');
    await waitFor('y forgotten', async () =>
      (await host.status('root')).some((d) => d.id === host.id('alice/y')) ? undefined : true,
    );
    const ys = livePidsOfUid(alice.uid).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('6800407');
      } catch {
        return false;
      }
    });
    assert.deepEqual(ys, [], 'the deleted account’s y runs as the new account');
  });
});

/**
 * An outside review (56a, F5, High, 6 of 6): an account made again with its name and uid
 * while no manager ran, its name allowed only after the start (a SIGHUP, a group), was
 * never judged: the new account got the deleted one's stops and `why`.
 */
describe('an account made again with its name and uid while no manager ran, allowed only after the start', {
  skip: !root && 'needs root',
}, () => {
  const host = stoppedAfter();

  test('is someone else once allowed: nothing of the old account is theirs', async () => {
    const { alice } = await aliceStoppedX(host, '6800328');
    await host.killManager();
    aliceAgain(alice, { x: '6800329' });
    host.user('bob');
    host.writeMaster('[can_run_as]\n{bob}\n');
    const from = host.managerLog.length;
    await host.startManager();
    await host.reload('[can_run_as]\n{bob}\n{alice}\n');
    await host.waitForDaemon('root', 'alice/x', (d) => d.pid > 0, 'to run');
    const why = (await host.dmctl('alice', 'x', 'why')).stdout;
    assert.doesNotMatch(why, /ran dmctl stop|left stopped|6800328/, why);
    assert.match(
      host.managerLog.slice(from),
      new RegExp(`${alice.name} \\(uid ${alice.uid}\\) is an account made again`),
    );
  });
});

/**
 * The same account, its home not there at a start (a file system not mounted yet at boot):
 * not taken for an account made again. Its daemon it stopped stays stopped once the home
 * is back, with its history.
 */
describe('an account whose home is not there when the manager starts', {
  skip: !root && 'needs root',
}, () => {
  const host = stoppedAfter();

  test('is the same account once it is back', async () => {
    const { alice } = await aliceStoppedX(host, '6800315', { y: '6800316' });
    await host.killManagerAndKeeper();
    renameSync(alice.home, `${alice.home}-away`);
    const from = host.managerLog.length;
    await host.startManager();
    renameSync(`${alice.home}-away`, alice.home);
    process.kill(host.managerPid(), 'SIGHUP');
    await host.waitForDaemon('alice', 'alice/y', (d) => d.pid > 0, 'to run again');
    const x = await host.waitForDaemon('alice', 'alice/x', () => true, 'to be loaded');
    assert.equal(x.state, 'stopped');
    const why = (await host.dmctl('alice', 'x', 'why')).stdout;
    assert.match(why, /ran dmctl stop/, why);
    assert.doesNotMatch(host.managerLog.slice(from), /is an account made again|new account given/);
  });
});

/**
 * The device number of a home's file system may be another after a reboot (a btrfs
 * subvolume's is given at its mount, a device-mapper volume's in the order they come up):
 * the same `.lock` on it is the same account. Taken for one made again, every account's
 * stops and `why` went at such a boot.
 */
describe('an account whose home’s device number is another at the next start', {
  skip: !root && 'needs root',
}, () => {
  const host = stoppedAfter();

  test('is the same account: what it stopped stays stopped, with its history', async () => {
    const { alice } = await aliceStoppedX(host, '6800327');
    await host.killManagerAndKeeper();
    const path = join(host.dir, 'state', 'state.json');
    const state = JSON.parse(readFileSync(path, 'utf8'));
    const held = state.lockFiles?.[String(alice.uid)];
    assert.ok(held?.btime, 'the file system keeps birth times');
    held.dev += 1;
    writeFileSync(path, JSON.stringify(state));
    const from = host.managerLog.length;
    await host.startManager();
    const x = await host.waitForDaemon('alice', 'alice/x', () => true, 'to be loaded');
    assert.equal(x.state, 'stopped');
    const why = (await host.dmctl('alice', 'x', 'why')).stdout;
    assert.match(why, /ran dmctl stop/, why);
    assert.doesNotMatch(host.managerLog.slice(from), /is an account made again|not known yet/);
  });
});

/**
 * The inode number alone does not tell a file: ext4 gives a file made after one was
 * deleted its inode number back. A new account given a deleted account's uid, whose
 * `.lock` got the deleted one's inode number (here made where that one was, so that the
 * file system gives it back at once), is someone else all the same.
 */
describe('a new account given the uid of an account deleted, its .lock given the old one’s inode number', {
  skip: !root && 'needs root',
}, () => {
  const { host } = uidReuseHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  let made = '';
  after(() => {
    if (made !== '') execFileSync('userdel', ['-f', made], { stdio: 'ignore' });
  });

  test('is someone else: its daemon starts, with none of the deleted account’s history', async () => {
    const { alice } = await aliceStoppedX(host, '6800317', {}, '[can_run_as]\n{alice}\n{dave}\n');
    await host.killManagerAndKeeper();
    execFileSync('userdel', ['-f', alice.name]);
    const dir = join(alice.home, '.daemon-manager/daemons');
    const lock = join(dir, '.lock');
    const old = statSync(lock).ino;
    rmSync(lock);
    // Files made until one gets the number back (ext4 gives out the lowest free one of the
    // directory's group first), which becomes the new `.lock`.
    const others: string[] = [];
    for (let n = 0; n < 1000 && others.length === n; n++) {
      const file = join(dir, `.made${n}`);
      writeFileSync(file, '');
      if (statSync(file).ino === old) renameSync(file, lock);
      else others.push(file);
    }
    for (const file of others) rmSync(file);
    assert.equal(statSync(lock).ino, old, 'the file system gave the inode number back');
    made = host.expand('{dave}');
    execFileSync('useradd', ['-M', '-N', '-o', '-u', String(alice.uid), '-d', alice.home, made]);
    chownSync(lock, alice.uid, 100);
    writeDaemonAgain({ uid: alice.uid, home: alice.home }, 'x', 'start=exec sleep 6800318\n');
    const from = host.managerLog.length;
    await host.startManager();
    await host.waitForDaemon('root', 'dave/x', (d) => d.pid > 0, 'to run');
    const why = (await host.dmctl('root', `${made}/x`, 'why')).stdout;
    assert.doesNotMatch(why, /ran dmctl stop|left stopped/, why);
    assert.match(host.managerLog.slice(from), /is a new account given the uid of/);
  });
});

/**
 * A new account given a deleted account's uid whose home cannot be read when the manager
 * judges it is not taken for either: judged once it can be read, it is someone else.
 */
describe('a new account given the uid of an account deleted, its home unreadable for a while', {
  skip: !root && 'needs root',
}, () => {
  const { host, giveUid } = uidReuseHost();

  test('is someone else: its daemon starts, with none of the deleted account’s history', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n{dave}\n');
    host.writeDaemon('alice', 'x', 'start=exec sleep 6800319\n');
    await uidGivenAgain(host, async (alice) => {
      const pid = host.managerPid();
      process.kill(pid, 'SIGSTOP');
      let dave = '';
      const home = join(host.dir, 'home-dave');
      try {
        execFileSync('userdel', ['-f', alice.name]);
        dave = giveUid(alice.uid, 'start=exec sleep 6800320\n');
        chmodSync(home, 0);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const from = host.managerLog.length;
      try {
        await waitFor('the new account not judged yet', () =>
          host.managerLog.slice(from).includes(`${dave} (uid ${alice.uid}) is not known yet`)
            ? true
            : undefined,
        );
      } finally {
        chmodSync(home, 0o755);
      }
      return dave;
    });
  });
});

/**
 * `rescan` as the account made again while the manager runs, once the manager has seen it
 * (its control socket is the new uid's): asked before, on a loaded machine, dmctl found no
 * socket yet (the manager looks at /etc/passwd after a change settles).
 */
async function rescanOnceSeen(host: TestHost, again: { readonly uid: number }): Promise<void> {
  const control = join(host.dir, 'run', `${host.user('kim').name}.sock`);
  await waitFor('a control socket of the new account', () =>
    existsSync(control) && lstatSync(control).uid === again.uid ? true : undefined,
  );
  const rescan = await host.dmctl('kim', 'rescan');
  assert.equal(rescan.code, 0, `${rescan.stdout}${rescan.stderr}`);
}
