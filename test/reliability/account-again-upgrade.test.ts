import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  type AccountAgain,
  endRun,
  makeAccountAgain,
  writeDaemonAgain,
} from '../helpers/accounts.ts';
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
