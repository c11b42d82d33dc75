import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { livePidsOfUid, v1CgroupOf } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const TASKS = 30;

describe("quotas on the sum of a user's daemons", { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  let ownMemory = '';

  before(async () => {
    host.writeMaster(
      `[can_run_as]\n{alice}\n{bob}\n{carol}\n[limits]\n{alice}: memory=64M, cpu=50, tasks=${TASKS}\n{carol}: memory=64M\n`,
    );
    host.writeDaemon('alice', 'web', 'start=exec sleep 6800001\n');
    // Touches 300 MB: past the quota, the OOM killer takes it.
    host.writeDaemon(
      'alice',
      'hog',
      `start=exec python3 -c "x = b'x' * (300 * 1024 * 1024); import time; time.sleep(1000)"\n`,
    );
    // Forks more processes than the user's tasks quota allows.
    host.writeDaemon(
      'alice',
      'forker',
      'start=for i in $(seq 1 60); do sleep 6800003 & done; wait\noutput=log\n',
    );
    host.writeDaemon('bob', 'plain', 'start=exec sleep 6800002\n');
    // The same hog under a shell that forks it (dash does, without `exec`): the shell
    // exits with status 137, and the OOM kill is still said.
    host.writeDaemon(
      'carol',
      'hog',
      `start=python3 -c "x = b'x' * (300 * 1024 * 1024); import time; time.sleep(1000)"\n`,
    );
    await host.startManager();
    ownMemory = v1CgroupOf(host.managerPid(), 'memory');
  });
  after(() => host.cleanup());

  test("a user's daemons share one cgroup per quota'd controller, with the quota written", async () => {
    const web = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    const memory = v1CgroupOf(web.pid, 'memory');
    assert.match(memory, new RegExp(`/daemon-manager\\.[0-9a-f]+/${host.user('alice').name}$`));
    const base = '/sys/fs/cgroup';
    assert.equal(
      readFileSync(join(base, 'memory', memory, 'memory.limit_in_bytes'), 'utf8').trim(),
      String(64 * 1024 * 1024),
    );
    const cpu = v1CgroupOf(web.pid, 'cpu');
    assert.equal(readFileSync(join(base, 'cpu', cpu, 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
    const pids = v1CgroupOf(web.pid, 'pids');
    assert.equal(
      readFileSync(join(base, 'pids', pids, '..', 'pids.max'), 'utf8').trim(),
      String(TASKS),
    );
  });

  test('a user without a quota joins no controller but cpu, for their fair share, uncapped', async () => {
    const plain = await host.waitForDaemon('bob', 'bob/plain', (d) => d.pid > 0, 'to run');
    assert.equal(v1CgroupOf(plain.pid, 'memory'), ownMemory);
    const cpu = v1CgroupOf(plain.pid, 'cpu');
    assert.match(cpu, new RegExp(`/daemon-manager\\.[0-9a-f]+/${host.user('bob').name}$`));
    const base = '/sys/fs/cgroup/cpu';
    assert.equal(readFileSync(join(base, cpu, 'cpu.cfs_quota_us'), 'utf8').trim(), '-1');
    assert.doesNotMatch(v1CgroupOf(plain.pid, 'pids'), /daemon-manager/);
  });

  test('a daemon past the memory quota is killed by the OOM killer, and says so', async () => {
    const hog = await host.waitForDaemon(
      'alice',
      'alice/hog',
      (d) => (d.lastExit ?? '').includes('out of memory'),
      'to be killed for memory',
    );
    assert.match(hog.lastExit ?? '', /killed by SIGKILL: out of memory/);
    assert.match(host.managerLog, /alice\/hog: .*out of memory/);
  });

  test('an OOM kill under a shell is said too, with the status the shell exited with', async () => {
    const hog = await host.waitForDaemon(
      'carol',
      'carol/hog',
      (d) => (d.lastExit ?? '').includes('out of memory'),
      'to be killed for memory',
    );
    assert.match(hog.lastExit ?? '', /^exit status 137: out of memory/);
    const table = await host.dmctl('carol', 'status');
    assert.match(table.stdout, /exit 137 \(OOM\)/);
  });

  test('forks past the tasks quota fail in the daemon; the user never has more', async () => {
    const log = join(host.user('alice').home, '.daemon-manager/logs/forker.log');
    await waitFor('a fork to fail', () => {
      try {
        return /fork/i.test(readFileSync(log, 'utf8')) ? true : undefined;
      } catch {
        return undefined;
      }
    });
    assert.ok(livePidsOfUid(host.user('alice').uid).length <= TASKS);
  });
});
