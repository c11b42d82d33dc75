import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';
import { processesWith, waitForNoProcessWith } from './support.ts';

const skip = process.getuid?.() !== 0 && 'needs root';

/**
 * An outside review (36b, F1, High): a daemon named after a file of the kernel's cgroup
 * interface (`cgroup.procs`, `cgroup.kill` ...) could have no cgroup of its own (its path
 * was that file), ran without one, "following its process group only", and what it forked
 * with setsid outlived `dmctl stop`, unseen by any status, stop or takeover. Such a daemon
 * is refused, said to its owner, and nothing of it runs.
 */
describe('a daemon named after a file of the cgroup interface', { skip }, () => {
  const host = new TestHost();
  const names = ['cgroup.procs', 'cgroup.kill', 'cpu.stat'];

  before(async () => {
    host.writeMaster('[can_run_as]\n{mallory}\n');
    for (const [index, name] of names.entries())
      host.writeDaemon(
        'mallory',
        name,
        `start=setsid -f sleep 690210${index}; exec sleep 690220${index}\nautostart=no\n`,
      );
    host.writeDaemon('mallory', 'plain', 'start=exec sleep 6902300\nautostart=no\n');
    await host.startManager();
  });
  after(() => host.cleanup());

  for (const [index, name] of names.entries())
    test(`${name}: its start is refused with why, and nothing of it runs`, async () => {
      const start = await host.dmctl('mallory', name, 'start');
      assert.notEqual(start.code, 0, start.stdout);
      assert.match(
        `${start.stdout}${start.stderr}`,
        new RegExp(
          `its name '${name.replace('.', '\\.')}' is that of a file of the kernel's cgroup interface`,
        ),
      );
      const row = await host.waitForDaemon(
        'mallory',
        `mallory/${name}`,
        (d) => d.state !== 'running' && d.pid === 0,
        'to be refused',
      );
      assert.equal(row.pid, 0);
      assert.deepEqual(processesWith(`sleep 69022${'0'}${index}`), []);
      assert.deepEqual(processesWith(`sleep 69021${'0'}${index}`), []);
    });

  test('a daemon with an ordinary name still starts in a cgroup of its own', async () => {
    const start = await host.dmctl('mallory', 'plain', 'start');
    assert.equal(start.code, 0, start.stderr);
    const { pid } = await host.waitForDaemon(
      'mallory',
      'mallory/plain',
      (d) => d.pid > 0,
      'to run',
    );
    await waitFor('its cgroup', () => {
      const own = processesWith('sleep 6902300').find((found) => found.pid === pid);
      return own === undefined ? undefined : true;
    });
    assert.equal((await host.dmctl('mallory', 'plain', 'stop')).code, 0);
    await waitForNoProcessWith('sleep 6902300', 'the plain daemon');
  });
});
