import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, afterEach, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const DAEMONS = 20;

/** What each of a process's descriptors is (readlink of /proc/PID/fd/N). */
function descriptorsOf(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/${pid}/fd/${fd}`)];
    } catch {
      return []; // Closed meanwhile.
    }
  });
}

/**
 * The keeper held two descriptors per running daemon, its pidfd and its cgroup's
 * directory: 10,000 daemons needed more than 20,000, and the last ones could not start
 * under a hard limit of 20,000 (the limit of the machine the bench runs on, which root
 * there cannot raise). The cgroup is opened when it is needed (the clone, a stop, the
 * check that it emptied) and closed after.
 */
describe("the keeper's descriptors", {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog.slice(-4000)));
  after(() => cleanUp(host));

  test('a running daemon costs one, its pidfd: no cgroup directory is held open', async (t) => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    for (let index = 0; index < DAEMONS; index++)
      host.writeDaemon('alice', `d${index}`, `start=exec sleep ${6_400_000 + index}\n`);
    await host.startManager();
    const running = await waitFor(`the ${DAEMONS} daemons to run`, async () => {
      const rows = (await host.status('root')).filter((d) => d.state === 'running' && d.pid > 0);
      return rows.length === DAEMONS ? rows : undefined;
    });
    const cgroup = readFileSync(`/proc/${running[0]?.pid}/cgroup`, 'utf8');
    if (!/^0::\/.*daemon-manager/m.test(cgroup))
      return t.skip(`the daemons run in no cgroup2 cgroup of the manager here: ${cgroup}`);
    const held = descriptorsOf(host.keeperPid());
    assert.deepEqual(
      held.filter((what) => what.startsWith('/sys/fs/cgroup')),
      [],
      'no cgroup directory or file is held for a running daemon',
    );
    assert.ok(
      held.filter((what) => what === 'anon_inode:[pidfd]').length >= DAEMONS,
      `a pidfd per daemon: ${held.join(', ')}`,
    );
  });
});
