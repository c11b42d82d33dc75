import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { type Spawned, showLogIfFailed, spawnPersonal } from '../helpers/cli.ts';
import { DMCTL, FIXTURES, run, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const CLIENT = join(FIXTURES, 'notify-daemon.py');
const SEND =
  "import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(sys.argv[2].encode(), sys.argv[1]); print('sent')";

/**
 * Without cgroups (a personal manager is no root), a message counts when its sender is
 * the daemon's main process or a descendant of it: here the daemon is `sh -c` and the
 * client its child, while another process of the same user is refused.
 */
describe('ready=notify under a personal manager', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let manager: Spawned | undefined;
  const dir = (): string => host.user('alice').home;
  const statusOf = async (name = 'child'): Promise<DaemonStatus | undefined> => {
    const result = await run(
      ['runuser', '-u', host.user('alice').name, '--', 'env', '-u', 'DAEMON_MANAGER_CONFIG', DMCTL],
      ['--personal', '--json', 'status'],
    );
    return (JSON.parse(result.stdout) as DaemonStatus[]).find((d) => d.name === name);
  };

  before(async () => {
    // `; true` keeps sh as the main process: the client is its child.
    host.writeDaemon(
      'alice',
      'child',
      `start=python3 ${CLIENT} ready ${dir()}; true\nready=notify\n`,
    );
    const fast = join(host.dir, 'notify-fast');
    execFileSync('cc', ['-o', fast, join(FIXTURES, 'notify-fast.c')]);
    host.writeDaemon('alice', 'fast', `start=exec ${fast}\nready=notify\n`);
    manager = spawnPersonal(host, 'alice');
    const running = manager;
    await waitFor('the personal manager to say it runs', () =>
      / running, pid \d+/.test(running.output()) ? true : undefined,
    );
  });
  afterEach(showLogIfFailed(() => manager?.output() ?? ''));
  after(async () => {
    await manager?.stop();
    await host.cleanup();
  });

  test("a descendant's READY=1 counts, another process of the user's does not", async () => {
    const starting = await waitFor('alice/child to be starting with a status', async () => {
      const daemon = await statusOf();
      return daemon?.state === 'starting' && daemon.status !== undefined ? daemon : undefined;
    });
    const environ = readFileSync(`/proc/${starting.pid}/environ`, 'latin1').split('\0');
    const path = environ.find((entry) => entry.startsWith('NOTIFY_SOCKET='))?.slice(14) ?? '';
    assert.equal(path.startsWith(join(dir(), '.daemon-manager', 'notify')), true, path);
    const outsider = await host.runAs('alice', ['python3', '-c', SEND, path, 'READY=1']);
    assert.equal(outsider.stdout.trim(), 'sent', outsider.stderr);
    await waitFor('the manager to ignore the outsider', () =>
      /child: sd_notify: ignored 1 message, the last because pid \d+ .* is not a process of its run/.test(
        manager?.output() ?? '',
      )
        ? true
        : undefined,
    );
    assert.equal((await statusOf())?.state, 'starting');
    writeFileSync(join(dir(), 'go'), '');
    const ready = await waitFor('alice/child to be ready', async () => {
      const daemon = await statusOf();
      return daemon?.state === 'running' ? daemon : undefined;
    });
    assert.deepEqual([ready.pid, ready.status], [starting.pid, 'serving']);
  });

  test('a READY=1 sent before the keeper reports the pid waits for it, then counts', async () => {
    const fast = await waitFor('alice/fast to be ready', async () => {
      const daemon = await statusOf('fast');
      return daemon?.state === 'running' ? daemon : undefined;
    });
    assert.equal(fast.status, 'fast');
  });
});
