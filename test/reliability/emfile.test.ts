import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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

  test('a keeper out of descriptors says so, keeps every other daemon, and respawns once they are back', async () => {
    const running = (d: DaemonStatus): boolean => d.state === 'running' && d.pid > 0;
    const first = await host.waitForDaemon('alice', 'alice/one', running, 'running');
    const others = await Promise.all(
      ['alice/two', 'alice/three'].map((id) => host.waitForDaemon('alice', id, running, 'running')),
    );
    const keeper = host.keeperPid();
    const logFrom = host.managerLog.length;
    // No descriptor to spare (the limit is on descriptor numbers: 3 leaves none above 2):
    // a spawn needs a pipe to learn whether the exec worked, and its cgroup's directory.
    limitOpenFiles(keeper, 3);
    process.kill(first.pid, 'SIGKILL');
    await waitFor(
      'the manager to report the failed respawn',
      () => (/EMFILE|too many open files/i.test(host.managerLog.slice(logFrom)) ? true : undefined),
      { describe: () => host.managerLog.slice(logFrom) },
    );
    assert.ok(isAlive(keeper), 'the keeper is alive');
    for (const other of others) assert.ok(isAlive(other.pid), `${other.id} kept running`);

    limitOpenFiles(keeper, 'unlimited');
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

  test('a manager out of descriptors still has its daemons respawned, and answers once they are back', async () => {
    const running = (d: DaemonStatus): boolean => d.state === 'running' && d.pid > 0;
    const first = await host.waitForDaemon('alice', 'alice/two', running, 'running');
    const manager = host.managerPid();
    const keeper = host.keeperPid();
    limitOpenFiles(manager, 3);
    process.kill(first.pid, 'SIGKILL');
    // The respawn is the keeper's work: it needs nothing of the manager's descriptors.
    await waitFor('a new process of alice/two under the keeper', () => {
      const children = readdirSync(`/proc/${keeper}/task`).flatMap((task) =>
        readFileSync(`/proc/${keeper}/task/${task}/children`, 'latin1').split(' ').filter(Boolean),
      );
      return children.some((pid) => Number(pid) !== first.pid && /sleep/.test(commandOf(pid)))
        ? true
        : undefined;
    });
    assert.ok(isAlive(manager), 'the manager is alive');
    limitOpenFiles(manager, 'unlimited');
    const back = await host.waitForDaemon(
      'alice',
      'alice/two',
      (d) => running(d) && d.pid !== first.pid,
      'respawned',
    );
    assert.ok(isAlive(back.pid));
  });
});

function commandOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return '';
  }
}
