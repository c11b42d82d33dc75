import assert from 'node:assert/strict';
import { readFileSync, rmdirSync } from 'node:fs';
import { after, afterEach, describe, test } from 'node:test';
import { living } from '../helpers/census.ts';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const LEFTOVER = 'sleep 6000041';

/**
 * The keeper watches a run's cgroup.events until the cgroup empties. An outside review
 * found a keeper at full CPU for good: the cgroup it watched had been removed (only an
 * empty one can be), its file answered ENODEV, which was taken for "not empty yet", and
 * the watch fired again at once, forever; the run never ended.
 */
describe('a watched cgroup removed before the keeper read that it emptied', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog.slice(-4000)));
  after(() => cleanUp(host));

  test('ends the run', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    // The main process leaves at once; what it left in a session of its own ignores
    // SIGTERM, so the run is watched (stopping) for the hour of its stop_timeout.
    host.writeDaemon(
      'alice',
      'left',
      `start=trap '' TERM; setsid ${LEFTOVER} & exit 0\nstop_timeout=1h\n`,
    );
    await host.startManager();
    const [leftover] = await waitFor('the leftover', () => {
      const found = living(LEFTOVER);
      return found.length === 1 ? found : undefined;
    });
    assert.ok(leftover);
    const row = await host.waitForDaemon(
      'alice',
      'alice/left',
      (d) => d.state === 'stopping',
      'stopping',
    );
    const cgroup = readFileSync(`/proc/${leftover.pid}/cgroup`, 'utf8')
      .split('\n')
      .find((line) => line.startsWith('0::'))
      ?.slice(3);
    assert.ok(cgroup, 'the leftover is in a cgroup2 cgroup');
    const keeper = host.keeperPid();
    process.kill(keeper, 'SIGSTOP');
    try {
      process.kill(leftover.pid, 'SIGKILL');
      await waitFor('the leftover to die', () => (isAlive(leftover.pid) ? undefined : true));
      await waitFor('its cgroup to be removed', () => {
        try {
          rmdirSync(`/sys/fs/cgroup/unified${cgroup}`);
          return true;
        } catch {
          return undefined;
        }
      });
    } finally {
      process.kill(keeper, 'SIGCONT');
    }
    await host.waitForDaemon(
      'alice',
      'alice/left',
      (d) => d.state !== 'stopping' || d.respawns > row.respawns,
      'to be done stopping',
    );
    await host.stopManager();
  });
});
