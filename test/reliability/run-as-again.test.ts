import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import {
  deleteAccount,
  endRun,
  killManager,
  makeAccountAgain,
  saved,
} from '../helpers/accounts.ts';
import { showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/** Says, line after line, the uid it runs as; ends at SIGTERM. */
const TALKER = 'start=while :; do echo "written by uid $(id -u)"; sleep 0.1; done\n';

/** The real uid of a process, from /proc; undefined once it is gone. */
function uidOf(pid: number): number | undefined {
  try {
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return uid === undefined ? undefined : Number(uid);
  } catch {
    return undefined;
  }
}

/** ann's daemon `svc` runs as bob, whom `[can_run_as]` lets her run as by name. */
function setUp(host: TestHost): void {
  host.writeMaster('[can_run_as]\n{ann}: {bob}\n');
  host.mkdirAs(host.user('ann'), join(host.user('ann').home, '.daemon-manager/daemons'));
  host.writeDaemon('ann', 'svc', `user=${host.user('bob').name}\n${TALKER}`);
}

/** What the manager's log says of ann's daemon restarted as bob made again with `uid`. */
function restartedAsNew(host: TestHost, uid: number): RegExp {
  const { name, uid: was } = host.user('bob');
  return new RegExp(
    `ann/svc: its run-as account ${name} is another account now \\(uid ${was}, now ${uid}\\); restarting it as the new one`,
  );
}

/**
 * A test host for one describe, and the runs it leaves (pid, uid) to end after it: the
 * old account's runs are not the sandbox's users' any more.
 */
function sandbox(): { host: TestHost; pids: Array<{ pid: number; uid: number }> } {
  const host = new TestHost();
  const pids: Array<{ pid: number; uid: number }> = [];
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => {
    for (const { pid, uid } of pids) endRun(pid, uid);
    return host.cleanup();
  });
  return { host, pids };
}

/** Waits for ann's daemon to run as `uid` (a run other than `oldPid`); its pid. */
async function runsAs(host: TestHost, uid: number, oldPid: number): Promise<number> {
  const row = await host.waitForDaemon(
    'ann',
    'ann/svc',
    (d) => d.state === 'running' && d.pid > 0 && d.pid !== oldPid && uidOf(d.pid) === uid,
    `to run as the new bob (uid ${uid})`,
  );
  return row.pid;
}

/**
 * Outside review 10, B: bob, whom ann's daemon runs as (`user=`), deleted and made again
 * under his name (another uid) while no manager ran. The next manager stopped the old
 * account's run, rightly, but saved the daemon as wanted down and never started it again,
 * and said ann "may no longer run as" bob, whom the grant names. A manager that saw the
 * same while it ran restarted the daemon as the new bob: the takeover now does the same.
 */
describe('a daemon’s run-as account made again while no manager runs, the state saved', {
  skip: !root && 'needs root',
}, () => {
  const { host, pids } = sandbox();

  test('the old account’s run is stopped, and the daemon starts as the new one by itself', async () => {
    setUp(host);
    const manager = await host.startManager();
    const old = await host.waitForDaemon('root', 'ann/svc', (d) => d.pid > 0, 'to run');
    pids.push({ pid: old.pid, uid: host.user('bob').uid });
    await waitFor('the state to save the daemon running', () =>
      saved(host, 'ann/svc')?.state === 'running' ? true : undefined,
    );
    await killManager(manager);
    const bob = makeAccountAgain(host, 'bob');
    const from = host.managerLog.length;
    await host.startManager();
    const pid = await runsAs(host, bob.uid, old.pid);
    pids.push({ pid, uid: bob.uid });
    const log = host.managerLog.slice(from);
    assert.match(log, restartedAsNew(host, bob.uid));
    assert.doesNotMatch(log, /may no longer run as/);
    const why = await host.dmctl('ann', 'svc', 'why');
    assert.equal(why.code, 0, why.stderr);
    assert.match(why.stdout, /is another account now/);
    assert.doesNotMatch(why.stdout, /may no longer run as/);
    assert.equal(uidOf(old.pid), undefined, `the old account’s run (pid ${old.pid}) still runs`);
    await waitFor('the state to save the daemon wanted up, running as the new bob', () => {
      const entry = saved(host, 'ann/svc') as { wanted?: string; state?: string } | undefined;
      return entry?.wanted === 'up' && entry.state === 'running' ? true : undefined;
    });
  });
});

/**
 * Outside review 10, E: the same while the manager runs was handled right (the old run
 * stopped, the daemon started as the new bob) but said as a group taken away: "bob is no
 * longer in gid N; restarting it without supplementary groups its run had".
 */
describe('a daemon’s run-as account made again while the manager runs', {
  skip: !root && 'needs root',
}, () => {
  const { host, pids } = sandbox();

  test('is said as another account, and the daemon restarted as the new one', async () => {
    setUp(host);
    await host.startManager();
    const old = await host.waitForDaemon('root', 'ann/svc', (d) => d.pid > 0, 'to run');
    pids.push({ pid: old.pid, uid: host.user('bob').uid });
    const from = host.managerLog.length;
    const bob = makeAccountAgain(host, 'bob');
    // The manager sees it by its watch of /etc or the SIGHUP, whichever comes first.
    process.kill(host.managerPid(), 'SIGHUP');
    const pid = await runsAs(host, bob.uid, old.pid);
    pids.push({ pid, uid: bob.uid });
    const log = host.managerLog.slice(from);
    assert.match(log, restartedAsNew(host, bob.uid));
    assert.doesNotMatch(log, /no longer in|without supplementary groups/);
    const why = await host.dmctl('ann', 'svc', 'why');
    assert.equal(why.code, 0, why.stderr);
    assert.match(why.stdout, /is another account now/);
    assert.doesNotMatch(why.stdout, /supplementary groups/);
  });
});

/**
 * Outside review 12, A (4 of 4): bob, whom ann's daemon runs as, deleted while the manager
 * runs (his uid then given to another account, here the sandbox's placeholder). The grant
 * still names bob, so the run went on, as the deleted uid and then as whoever has it now,
 * with nothing said. Nothing of that name is there to run as: the run is stopped, and said.
 */
describe('a daemon’s run-as account deleted while the manager runs', {
  skip: !root && 'needs root',
}, () => {
  const { host, pids } = sandbox();

  test('stops the run, and says why', async () => {
    setUp(host);
    await host.startManager();
    const old = await host.waitForDaemon('root', 'ann/svc', (d) => d.pid > 0, 'to run');
    pids.push({ pid: old.pid, uid: host.user('bob').uid });
    const from = host.managerLog.length;
    deleteAccount(host, 'bob');
    // The manager sees it by its watch of /etc or the SIGHUP, whichever comes first.
    process.kill(host.managerPid(), 'SIGHUP');
    // Stopped; its file, naming no account now, is refused as well.
    await host.waitForDaemon(
      'root',
      'ann/svc',
      (d) => d.pid === 0 && d.wanted === 'down',
      'to be stopped',
    );
    await waitFor('the old run to end', () => (uidOf(old.pid) === undefined ? true : undefined));
    assert.match(
      host.managerLog.slice(from),
      new RegExp(`ann/svc: its run-as account ${host.user('bob').name} is gone; stopping it`),
    );
    const why = await host.dmctl('ann', 'svc', 'why');
    assert.equal(why.code, 0, why.stderr);
    assert.match(why.stdout, /is gone/);
  });
});

/**
 * Outside review 29a, F1: ann's file changed into one refused now (it names a user root
 * did not grant her), her daemon going on with the config it was started with; then bob,
 * whom that config runs it as, deleted and made again under his name (another uid). The
 * daemon was stopped and left down, "ann may no longer run as uid N", where the same with
 * her file accepted restarts it as the new bob. It now restarts as the new bob, with the
 * config its run was started with, whether the manager ran or not.
 */
for (const when of ['while the manager runs', 'while no manager runs'] as const)
  describe(`a daemon whose file is refused now, its run-as account made again ${when}`, {
    skip: !root && 'needs root',
  }, () => {
    const { host, pids } = sandbox();

    test('restarted as the new account, with the config its run was started with', async (t) => {
      setUp(host);
      const refusedUser = host.user('carl').name;
      let manager = await host.startManager();
      t.after(() => host.stopManager());
      const old = await host.waitForDaemon('root', 'ann/svc', (d) => d.pid > 0, 'to run');
      pids.push({ pid: old.pid, uid: host.user('bob').uid });
      host.writeDaemon('ann', 'svc', `user=${refusedUser}\n${TALKER}`);
      let from = host.managerLog.length;
      // Said refused to her (exit 1), and the run goes on.
      const rescan = await host.dmctl('ann', 'rescan');
      assert.match(rescan.stderr, /is not allowed/);
      await waitFor('the refusal to be said', () =>
        /ann\/svc: its changed config file is refused/.test(host.managerLog.slice(from))
          ? true
          : undefined,
      );
      if (when === 'while no manager runs') {
        await waitFor('the state to save the daemon running', () =>
          saved(host, 'ann/svc')?.state === 'running' ? true : undefined,
        );
        await killManager(manager);
      }
      const bob = makeAccountAgain(host, 'bob');
      from = host.managerLog.length;
      if (when === 'while no manager runs') manager = await host.startManager();
      else process.kill(host.managerPid(), 'SIGHUP');
      const pid = await runsAs(host, bob.uid, old.pid);
      pids.push({ pid, uid: bob.uid });
      const log = host.managerLog.slice(from);
      assert.match(log, restartedAsNew(host, bob.uid));
      assert.doesNotMatch(log, /may no longer run as/);
      assert.equal(uidOf(old.pid), undefined, `the old account’s run (pid ${old.pid}) still runs`);
      const status = await host.status('ann');
      assert.equal(status.find((d) => d.id === host.id('ann/svc'))?.state, 'running');
    });
  });
