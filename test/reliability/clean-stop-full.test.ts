import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { fillWith, mountSmallFs } from '../helpers/small-fs.ts';

const root = process.getuid?.() === 0;

/**
 * An outside review (75b, F1: 3 of 3): a clean SIGTERM of the manager with its state
 * directory full: its last save (the clean mark) failed, and the next manager took the
 * stop for a crash: an `autostart=no` daemon started again, every `why` saying its run
 * "ended while no manager watched it". The `running` mark it takes away at a clean exit
 * needs no room.
 */
describe('a clean stop with the state directory full', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const stateDir = (): string => join(host.dir, 'state');
  let mounted = false;
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await host.stopManager();
    if (mounted) execFileSync('umount', ['-l', stateDir()]);
    await cleanUp(host);
  });

  test('is taken for the clean stop it was', async (t) => {
    mounted = mountSmallFs(stateDir());
    if (!mounted) return t.skip('cannot mount a small tmpfs here');
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'up', 'start=exec sleep 6700301\n');
    host.writeDaemon('alice', 'manual', 'start=exec sleep 6700302\nautostart=no\n');
    await host.startManager();
    assert.equal((await host.dmctl('alice', 'manual', 'start', '--wait')).code, 0);
    await host.waitForDaemon('alice', 'alice/up', (d) => d.state === 'running', 'to run');
    const filler = join(stateDir(), 'filler');
    fillWith(filler);
    await host.stopManager();
    rmSync(filler);
    const from = host.managerLog.length;
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/up', (d) => d.state === 'running', 'to run again');
    const manual = (await host.status('alice')).find((d) => d.name === 'manual');
    assert.equal(manual?.state, 'stopped', 'autostart=no after a clean stop');
    assert.match(host.managerLog.slice(from), /taken as the clean stop it was/);
    const why = (await host.dmctl('alice', 'manual', 'why')).stdout;
    assert.doesNotMatch(why, /while no manager watched it/, why);
    assert.match(why, /its run at the last save, is gone: the manager before stopped cleanly/, why);
  });
});
