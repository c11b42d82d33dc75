import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DAEMON_LINES_AT_ONCE } from '../../src/logging/user-lines.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const skip = process.getuid?.() !== 0 && 'needs root';

/**
 * An outside review (38a, F3): the manager's lines about one user's daemons (starts,
 * exits, restarts) were unlimited: their daemons restarted in a loop pushed the 60 MB of a
 * default rotated log out in about 70 minutes, and daemons that crash past the back-off
 * (each run as long as `stable-uptime`) do it as fast as they exit. The lines about one
 * user's daemons are limited, as journald limits each service's; past that they are
 * counted, and the count is said. `dmctl why` keeps each daemon's events.
 */
describe("a flood of lines about one user's daemons", { skip }, () => {
  const host = new TestHost();

  before(async () => {
    // The account made before the manager starts: made after, it is seen once /etc/passwd
    // settles, and a request asked at once found no socket of theirs yet.
    host.user('mallory');
    // Respawned at once after each exit: no back-off holds them.
    host.writeMaster('[can_run_as]\n{mallory}\n{alice}\n', 'stable-uptime = 0s');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6903600\n');
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.pid > 0, 'to run');
  });
  after(() => host.cleanup());

  test('logs a bounded number, then a count; lines about others are logged', async () => {
    const from = host.managerLog.length;
    const mallory = host.user('mallory').name;
    for (let index = 0; index < 8; index++)
      host.writeDaemon('mallory', `crash${index}`, 'start=exit 3\n');
    assert.equal((await host.dmctl('mallory', 'rescan')).code, 0);
    const told = await waitFor(
      'the count of lines not logged',
      () =>
        new RegExp(`${mallory}: (\\d+) more lines about their daemons not logged one by one`).exec(
          host.managerLog.slice(from),
        )?.[1],
      { timeoutMs: 180_000 },
    );
    const theirs = host.managerLog
      .slice(from)
      .split('\n')
      .filter((line) => line.includes(` ${mallory}/crash`)).length;
    assert.ok(theirs <= DAEMON_LINES_AT_ONCE + 600, `${theirs} logged one by one`);
    assert.ok(Number(told) > 0, told);
    // Lines about another user's daemon are logged all the same, and why keeps theirs.
    const alice = host.managerLog.length;
    assert.equal((await host.dmctl('root', host.id('alice/web'), 'restart')).code, 0);
    // The answer may come before the manager's line is read from its output.
    await waitFor('alice’s daemon started again, in the log', () =>
      /alice\/web: started, pid \d+/.test(host.managerLog.slice(alice)) ? true : undefined,
    );
    const why = await host.dmctl('mallory', 'crash0', 'why');
    assert.match(why.stdout, /started, pid \d+/);
    for (let index = 0; index < 8; index++)
      assert.equal((await host.dmctl('mallory', `crash${index}`, 'stop')).code, 0);
  });
});
