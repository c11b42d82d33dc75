import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

/** Sets the manager's open-files limit while it runs (prlimit on its pid). */
function limitOpenFiles(pid: number, soft: number | 'unlimited'): void {
  const hard = execFileSync('prlimit', [
    '--pid',
    String(pid),
    '--nofile',
    '--raw',
    '--noheadings',
    '--output=HARD',
  ])
    .toString()
    .trim();
  const value = soft === 'unlimited' ? hard : String(soft);
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${value}:${hard}`]);
}

describe('a manager out of file descriptors', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();

  before(async () => {
    // Quick exits cool down briefly, so the retry after the fault comes soon.
    host.writeMaster('[can_run_as]\n{alice}\n', 'cooldown-step = 1s\nstable-uptime = 1s');
    for (const name of ['one', 'two', 'three'])
      host.writeDaemon('alice', name, 'start=exec sleep 100000\noutput=log\n');
    await host.startManager();
  });
  after(() => host.cleanup());

  test('says so, keeps every other daemon, and respawns once descriptors are back', async () => {
    const running = (d: DaemonStatus): boolean => d.state === 'running' && d.pid > 0;
    const first = await host.waitForDaemon('alice', 'alice/one', running, 'running');
    const others = await Promise.all(
      ['alice/two', 'alice/three'].map((id) => host.waitForDaemon('alice', id, running, 'running')),
    );
    const manager = host.managerPid();
    const logFrom = host.managerLog.length;
    // No descriptor to spare: a respawn needs a pipe for the log and one for the environment.
    limitOpenFiles(manager, readdirSync(`/proc/${manager}/fd`).length);
    process.kill(first.pid, 'SIGKILL');
    await waitFor(
      'the manager to report the failed respawn',
      () => (/EMFILE|too many open files/i.test(host.managerLog.slice(logFrom)) ? true : undefined),
      { describe: () => host.managerLog.slice(logFrom) },
    );
    assert.ok(isAlive(manager), 'the manager is alive');
    for (const other of others) assert.ok(isAlive(other.pid), `${other.id} kept running`);

    limitOpenFiles(manager, 'unlimited');
    const back = await host.waitForDaemon(
      'alice',
      'alice/one',
      (d) => running(d) && d.pid !== first.pid,
      'respawned',
    );
    assert.ok(isAlive(back.pid));
    const now = await host.status('alice');
    for (const other of others)
      assert.equal(
        now.find((d) => d.id === other.id)?.pid,
        other.pid,
        `${other.id} is the same process`,
      );
  });
});
