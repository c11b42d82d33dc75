import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, afterEach, before, describe, test } from 'node:test';
import { killManager, saved } from '../helpers/accounts.ts';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const FAST = ['one', 'two', 'three'];

/**
 * A manager killed in the middle of its own shutdown (systemd's stop timeout, 90 s by
 * default, ran out before a daemon's long stop_timeout did) had saved every daemon it had
 * stopped as wanted down, as if its user had stopped it: the next manager left them all
 * down (an outside review, 5 of 5). They are the daemons of a manager that crashed: what
 * was running runs again; what a user stopped, or never started, stays down.
 */
describe('a manager killed while it shuts down', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  let manager: ChildProcess | undefined;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    for (const name of FAST) host.writeDaemon('alice', name, 'start=exec sleep 100000\n');
    // Its stop outlasts the kill: the shutdown is under way when the manager dies.
    host.writeDaemon(
      'alice',
      'slow',
      "start=trap '' TERM; while :; do sleep 1; done\nstop_timeout=20s\n",
    );
    host.writeDaemon('alice', 'held', 'start=exec sleep 100000\n');
    host.writeDaemon('alice', 'idle', 'start=exec sleep 100000\nautostart=no\n');
    manager = await host.startManager();
    for (const name of [...FAST, 'slow', 'held'])
      await host.waitForDaemon('alice', `alice/${name}`, (d) => d.state === 'running', 'to run');
    assert.equal((await host.dmctl('alice', 'held', 'stop', '--wait')).code, 0);
    manager.kill('SIGTERM');
    // Saved once stopped by the shutdown, while the slow one still stops.
    await waitFor('the shutdown to save the fast daemons stopped', () =>
      FAST.every((name) => saved(host, `alice/${name}`)?.state === 'stopped') &&
      saved(host, 'alice/slow')?.state === 'stopping'
        ? true
        : undefined,
    );
    await killManager(manager);
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('the daemons the shutdown had stopped run again', async () => {
    for (const name of FAST)
      await host.waitForDaemon('alice', `alice/${name}`, (d) => d.state === 'running', 'to run');
  });

  test('the one it was stopping runs again once that stop is over', async () => {
    // After its stop's deadline, 20 s after the SIGTERM, as saved.
    await waitFor(
      'alice/slow to run again',
      async () =>
        (await host.status('alice')).find((d) => d.name === 'slow' && d.state === 'running'),
      { timeoutMs: 90_000 },
    );
  });

  test('what the user stopped, and what never started, stay down', async () => {
    const status = await host.status('alice');
    for (const name of ['held', 'idle'])
      assert.equal(status.find((d) => d.name === name)?.state, 'stopped', name);
  });
});
