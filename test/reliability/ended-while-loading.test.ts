import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import {
  buildHangFs,
  endHang,
  fuseMissing,
  type HangFs,
  mountHangWriteFs,
  saidBy,
  switchHang,
} from '../helpers/hang-fs.ts';
import { TestHost } from '../helpers/host.ts';
import { processState } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Outside review 29b, F1: a run that ended while the manager taking over (an upgrade, or
 * a start after a kill -9) still read its user's files. The keeper told of its end at
 * once, before the run's daemon was loaded, and the manager dropped it: the daemon was
 * then taken over as the keeper's first report had it, running, and stayed shown so with
 * a pid long gone, never respawned (50-83 of 300 daemons after an upgrade). Here bob's
 * daemon directory is on a file system whose reads wait from a SIGUSR1 of its server to a
 * SIGUSR2 (test/fixtures/hang-write-fs.c), so the run ends while his file is being read.
 */
describe('a run that ends while the manager taking over reads its file', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let mount: HangFs | undefined;
  let missing: string | undefined;
  const said = (text: string): number => saidBy(mount, text);
  const hang = (on: boolean): Promise<void> => switchHang(mount, on);

  before(async () => {
    missing = fuseMissing();
    if (missing) return;
    const bob = host.user('bob');
    host.writeMaster('[can_run_as]\n{bob}\n');
    const daemons = join(bob.home, '.daemon-manager/daemons');
    host.mkdirAs(bob, daemons);
    mount = await mountHangWriteFs(buildHangFs(host.dir, 'hang-write-fs'), daemons, bob, 'reads');
    writeFileSync(join(daemons, 'worker.conf'), 'start=exec sleep 100000\n', { mode: 0o644 });
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  afterEach(async () => {
    await endHang(mount);
  });
  after(async () => {
    await mount?.stop();
    await cleanUp(host);
  });

  for (const how of ['an upgrade', 'a kill -9 of the manager'] as const)
    test(`after ${how}: its end is seen and it is respawned`, async (t) => {
      if (missing) return t.skip(missing);
      const { pid } = await host.waitForDaemon(
        'bob',
        'bob/worker',
        (row) => row.state === 'running' && row.pid > 0,
        'to run',
      );
      await hang(true);
      const held = said('read held');
      const from = host.managerLog.length;
      let starting: Promise<unknown> = Promise.resolve();
      if (how === 'an upgrade') process.kill(host.managerPid(), 'SIGUSR2');
      else {
        await host.killManager();
        starting = host.startManager();
        starting.catch(() => {});
      }
      await waitFor('the manager taking over to read bob’s file', () =>
        said('read held') > held ? true : undefined,
      );
      process.kill(pid, 'SIGKILL');
      // Reaped by the keeper, which told the manager of its end on the spot.
      await waitFor(`pid ${pid} to be reaped`, () =>
        processState(pid) === undefined ? true : undefined,
      );
      await hang(false);
      if (how === 'an upgrade')
        await waitFor('the upgrade to be done', () =>
          host.managerLog.slice(from).includes('upgrade done: ') ? true : undefined,
        );
      await starting;
      const row = await host.waitForDaemon(
        'bob',
        'bob/worker',
        (row) => row.state === 'running' && row.pid > 0 && row.pid !== pid,
        'to be respawned',
      );
      assert.ok(processState(row.pid) !== undefined, `pid ${row.pid} is there`);
      assert.doesNotMatch(host.managerLog.slice(from), new RegExp(`pid ${pid} taken over`));
    });
});
