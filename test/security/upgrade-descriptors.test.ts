import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

/** A process's descriptors and what each is. */
function descriptorsOf(pid: number): [string, string][] {
  return readdirSync(`/proc/${pid}/fd`)
    .sort((a, b) => Number(a) - Number(b))
    .map((fd) => [fd, readlinkSync(`/proc/${pid}/fd/${fd}`)]);
}

/**
 * The first outside review found every daemon started after a SIGUSR2 holding every
 * user's control socket and other daemons' output pipes: the upgrade had cleared
 * close-on-exec on them and the new code never set it back. Daemons are started by the
 * keeper, which closes everything above 2 (and the listening sockets it passes) before
 * the exec, whatever any flag says.
 */
describe('after an upgrade, daemons still get descriptors 0, 1 and 2 only', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();

  before(async () => {
    host.writeMaster('[can_run_as]\n{mallory}\n{alice}\n');
    host.writeDaemon('mallory', 'probe', 'start=exec sleep 6200001\noutput=log\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6200002\noutput=log\n');
    await host.startManager();
    for (const id of ['mallory/probe', 'alice/web'])
      await host.waitForDaemon('root', id, (d) => d.state === 'running' && d.pid > 0, 'to run');
    const from = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGUSR2');
    await waitFor('the upgrade to finish', () =>
      /SIGUSR2[\s\S]* running, pid /.test(host.managerLog.slice(from)) ? true : undefined,
    );
  });
  after(() => host.cleanup());

  for (const short of ['mallory', 'root'])
    test(`${short === 'root' ? "root's daemon" : "a user's daemon"} started after the upgrade`, async () => {
      const id = short === 'root' ? 'root/admin' : host.id('mallory/probe');
      const [before_] = (await host.status('root')).filter((d) => d.id === id);
      if (short === 'root') {
        const rootDaemons = join(host.dir, 'root-daemons');
        mkdirSync(rootDaemons, { recursive: true });
        writeFileSync(join(rootDaemons, 'admin.conf'), 'start=exec sleep 6200003\noutput=log\n', {
          mode: 0o600,
        });
        await host.dmctl('root', 'rescan');
      } else {
        const restart = await host.dmctl('mallory', 'probe', 'restart');
        assert.equal(restart.code, 0, restart.stderr);
      }
      const daemon = await waitFor(`${id} to run after the upgrade`, async () =>
        (await host.status('root')).find(
          (d) => d.id === id && d.state === 'running' && d.pid > 0 && d.pid !== before_?.pid,
        ),
      );
      const fds = descriptorsOf(daemon.pid);
      const output = fds[1]?.[1] ?? '';
      assert.match(output, /^pipe:\[\d+\]$/);
      assert.deepEqual(fds, [
        ['0', '/dev/null'],
        ['1', output],
        ['2', output],
      ]);
    });
});
