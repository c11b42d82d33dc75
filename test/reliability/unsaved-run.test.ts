import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { fillWith, mountSmallFs } from '../helpers/small-fs.ts';

const root = process.getuid?.() === 0;

/**
 * Outside reviews (22a, F1; 22c, 1): a run the keeper held that the saved state did not
 * know yet (a respawn or a restart in the last second before a kill -9 of the manager:
 * saves are batched; or any while the state directory was full) was stopped by the next
 * manager without a word, and the daemon started again after a cooldown. It is the
 * daemon's newest run: taken over, as the README says.
 */
describe('a run started after the last save, at a kill -9 of the manager', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const stateDir = (): string => join(host.dir, 'state');
  let mounted = false;
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await host.stopManager();
    if (mounted) execFileSync('umount', ['-l', stateDir()]);
    await cleanUp(host);
  });

  test('is taken over, not stopped and started again', async (t) => {
    // The state directory, a small file system of its own, is filled: nothing is saved.
    mounted = mountSmallFs(stateDir());
    if (!mounted) return t.skip('cannot mount a small tmpfs here');
    host.writeMaster('[can_run_as]\n{alice}\n', 'stable-uptime = 1s');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6700201\n');
    await host.startManager();
    const first = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.uptime >= 2,
      'to run 2 s',
    );
    const filler = join(stateDir(), 'filler');
    fillWith(filler);
    // Ran longer than stable-uptime: respawned at once, and the state not saved.
    process.kill(first.pid, 'SIGKILL');
    const second = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.state === 'running' && d.pid > 0 && d.pid !== first.pid,
      'to be respawned',
    );
    await host.killManager();
    rmSync(filler);
    const from = host.managerLog.length;
    await host.startManager();
    const after_ = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    assert.equal(after_.pid, second.pid, 'the respawned run taken over');
    assert.ok(isAlive(second.pid));
    assert.match(
      host.managerLog.slice(from),
      new RegExp(`alice/web: pid ${second.pid} was started after the last save`),
    );
  });
});
