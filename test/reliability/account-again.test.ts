import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type AccountAgain, makeAccountAgain, writeDaemonAgain } from '../helpers/accounts.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/** A daemon that says, line after line, the uid it runs as. */
const TALKER = 'start=while :; do echo "written by uid $(id -u)"; sleep 0.1; done\noutput=log\n';

/** Kills the manager with SIGKILL (its keeper holds on) and waits for it to be gone. */
async function killManager(manager: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => manager.once('exit', resolve));
  manager.kill('SIGKILL');
  await exited;
}

/** The lines a log of `home` has from a run as `uid`. */
function linesOf(home: string, name: string, uid: number): number {
  const log = join(home, '.daemon-manager/logs', `${name}.log`);
  if (!existsSync(log)) return 0;
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line === `written by uid ${uid}`).length;
}

/** What the manager's state file says of a daemon, if anything. */
function saved(host: TestHost, id: string): { ownerUid?: number; ended?: string } | undefined {
  const file = join(host.dir, 'state', 'state.json');
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, 'utf8')) as {
    daemons?: Record<string, { ownerUid?: number; ended?: string }>;
  };
  return state.daemons?.[host.id(id)];
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
    rmSync(host.user('eve').home, { recursive: true, force: true });
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
