import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import {
  type AccountAgain,
  endRun,
  makeAccountAgain,
  whileSuccessorHeld,
  writeDaemonAgain,
} from '../helpers/accounts.ts';
import { showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * An outside review (8 of 8): an account deleted and made again under its name while the
 * manager ran, the old account's daemon slow to stop (it ignores SIGTERM), the new
 * account's daemon started; then an upgrade while the old run still stopped. The new code
 * took the user's lock the keeper kept for the old account's (its run was the old uid's),
 * and let it go; the new account's lock, which it was, stayed held by the manager on its
 * way out: the new code found their daemons "run by another manager", stopped the new
 * account's running daemon and left it down for good.
 */
describe('an upgrade while the old run of an account made again still stops', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let again: AccountAgain;
  let oldPid = 0;
  after(() => {
    // The old run ignores SIGTERM for 120 s: the cleanup's stop of the manager would wait.
    endRun(oldPid, host.user('joy').uid);
    return host.cleanup();
  });

  test('keeps the new account’s daemon running with the same pid, and their daemons loaded', async () => {
    host.writeMaster('[can_run_as]\n{joy}\n');
    host.writeDaemon(
      'joy',
      'slow',
      'start=trap "" TERM; while :; do sleep 1; done\nstop_timeout=120\n',
    );
    await host.startManager();
    oldPid = (await host.waitForDaemon('root', 'joy/slow', (d) => d.pid > 0, 'to run')).pid;
    again = makeAccountAgain(host, 'joy');
    writeDaemonAgain(again, 'fresh', 'start=exec sleep 100000\n');
    // The manager sees it by its watch of /etc or the SIGHUP, whichever comes first.
    const before = host.managerPid();
    process.kill(before, 'SIGHUP');
    await host.waitForDaemon('root', 'joy/slow', (d) => d.state === 'stopping', 'to stop');
    const { pid } = await host.waitForDaemon(
      'joy',
      'joy/fresh',
      (d) => d.state === 'running' && d.pid > 0,
      'to run for the new account',
    );

    const from = host.managerLog.length;
    process.kill(before, 'SIGUSR2');
    await waitFor(
      'the upgrade to be done and the old manager gone',
      () =>
        /upgrade done: /.test(host.managerLog.slice(from)) && !isAlive(before) ? true : undefined,
      { timeoutMs: 60_000, describe: () => host.managerLog.slice(from) },
    );
    assert.notEqual(host.managerPid(), before);
    assert.ok(isAlive(oldPid), `the old run (pid ${oldPid}) ended: the test proves nothing`);

    const rows = await host.status('joy');
    const fresh = rows.find((row) => row.id === host.id('joy/fresh'));
    assert.equal(fresh?.state, 'running', JSON.stringify(rows));
    assert.equal(fresh?.pid, pid);
    const text = await host.dmctl('joy', 'status');
    assert.equal(text.code, 0, text.stderr);
    assert.doesNotMatch(text.stdout + text.stderr, /another manager/);
    assert.doesNotMatch(host.managerLog.slice(from), /another manager|\/fresh: no config claims/);
  });
});

/**
 * An outside review (1 of 7): an account made again while an upgrade was under way. The
 * old manager, handed over and waiting for the new one to be done, saw the change too:
 * it removed the control socket of that account and bound one of its own, which died
 * with it (every dmctl call of the new account refused, ECONNREFUSED), and took their
 * lock (the new manager found their daemons "run by another manager"). Here the new code
 * is held stopped from the moment it is handed over to, until the old manager has seen
 * the change.
 */
describe('an account made again while an upgrade hands over', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('is the new manager’s alone: their socket answers, their daemon runs', async () => {
    host.writeMaster('[can_run_as]\n{lou}\n');
    host.writeDaemon('lou', 'sl', 'start=exec sleep 6300600\n');
    await host.startManager();
    await host.waitForDaemon('lou', 'lou/sl', (d) => d.pid > 0, 'to run');
    const old = host.managerPid();
    const from = host.managerLog.length;
    const since = (): string => host.managerLog.slice(from);
    // The new code is held as soon as the old manager hands over to it: the old one then
    // waits for it, handed over, while the account changes. (Not the keeper: an upgrade
    // is refused while it does not answer.)
    await whileSuccessorHeld(host, since, async () => {
      // Other users' changes (a shared machine) are seen too: only one seen after this counts.
      const fromChange = host.managerLog.length;
      const again = makeAccountAgain(host, 'lou');
      writeDaemonAgain(again, 'fresh', 'start=exec sleep 6300601\n');
      await waitFor(
        'the old manager to see the change of users',
        () =>
          /users and groups changed/.test(host.managerLog.slice(fromChange)) ? true : undefined,
        { describe: since },
      );
    });
    await waitFor(
      'the upgrade to be done and the old manager gone',
      () => (/upgrade done: /.test(since()) && !isAlive(old) ? true : undefined),
      { timeoutMs: 60_000, describe: since },
    );
    await host.waitForDaemon('lou', 'lou/fresh', (d) => d.pid > 0, 'to run for the new account');
    const status = await host.dmctl('lou', 'status');
    assert.equal(status.code, 0, status.stderr);
    assert.doesNotMatch(status.stdout + status.stderr, /another manager/);
    assert.doesNotMatch(since(), /another manager/);
  });
});
