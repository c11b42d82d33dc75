import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { v1CgroupOf } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const PIDS = '/sys/fs/cgroup/pids';
const hasPids = existsSync(join(PIDS, 'cgroup.procs'));

const read = (path: string): string => readFileSync(path, 'utf8').trim();

/**
 * What the kernel's files say of a user's `tasks=` quota and a daemon's own process limit,
 * whatever path led to the run: an outside review lifted a quota by taking a daemon away
 * and back, saw root's hand edits survive a SIGHUP, and a `limit-nproc` written into a
 * running daemon along with a quota (never lifted there).
 */
describe("a user's tasks quota, in the kernel's files", {
  skip: (!root && 'needs root') || (!hasPids && 'no v1 pids hierarchy'),
}, () => {
  const host = new TestHost();
  const master = '[can_run_as]\n{alice}\n';
  const quota = (line: string) => `${master}[limits]\n{alice}: ${line}\n`;

  before(async () => {
    host.user('alice');
    host.writeMaster(quota('tasks=30'));
    host.writeDaemon('alice', 'web', 'start=exec sleep 100000\n');
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  /** The daemon's own v1 pids cgroup, once its run is in it. */
  async function ownPidsCgroup(): Promise<string> {
    const web = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    const own = v1CgroupOf(web.pid, 'pids');
    assert.match(own, new RegExp(`/${host.user('alice').name}/web$`), `its pids cgroup is ${own}`);
    return join(PIDS, own);
  }

  test("made again after the user's last daemon went, the user's cgroup has the quota", async () => {
    const own = await ownPidsCgroup();
    const users = dirname(own);
    assert.equal(read(join(users, 'pids.max')), '30');

    // As the user alone: the daemon's file taken away, the daemon stopped and forgotten
    // (the user's cgroups go with it), the file put back.
    const file = host.daemonFile('alice', 'web');
    renameSync(file, `${file}.away`);
    assert.equal((await host.dmctl('alice', 'rescan')).code, 0);
    const stop = await host.dmctl('alice', 'web', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await waitFor("the user's pids cgroup to go", () => (existsSync(users) ? undefined : true));
    renameSync(`${file}.away`, file);
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);

    const again = await ownPidsCgroup();
    assert.equal(dirname(again), users);
    assert.equal(read(join(users, 'pids.max')), '30');
  });

  test("root's hand edit of the user's quota is undone by a SIGHUP", async () => {
    const users = dirname(await ownPidsCgroup());
    writeFileSync(join(users, 'pids.max'), 'max');
    assert.equal(read(join(users, 'pids.max')), 'max');
    await host.reload(quota('tasks=30'));
    await waitFor('the quota written again', () =>
      read(join(users, 'pids.max')) === '30' ? true : undefined,
    );
  });

  test("a limit-nproc given by a SIGHUP with a quota leaves the running daemon's own limit as it started; its next run has it", async () => {
    const own = await ownPidsCgroup();
    assert.equal(read(join(own, 'pids.max')), 'max');
    const { pid } = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    await host.reload(quota('tasks=40, nproc=20'));
    await waitFor('the new quota written', () =>
      read(join(dirname(own), 'pids.max')) === '40' ? true : undefined,
    );
    assert.equal(read(join(own, 'pids.max')), 'max', 'the running daemon keeps its own limit');

    const restart = await host.dmctl('alice', 'web', 'restart');
    assert.equal(restart.code, 0, restart.stderr);
    await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.pid > 0 && d.pid !== pid,
      'to run anew',
    );
    assert.equal(read(join(await ownPidsCgroup(), 'pids.max')), '20');
  });
});

const hasMemory = existsSync('/sys/fs/cgroup/memory/cgroup.procs');

/**
 * An outside review: a memory quota lowered by SIGHUP below what the user's running
 * daemon held was never written (cgroup v1 refuses it, EBUSY, where it cannot reclaim):
 * the daemon grew to 172 MB under a quota of 64M, for as long as it ran.
 */
describe('a memory quota lowered below what the running daemons hold', {
  skip: (!root && 'needs root') || (!hasMemory && 'no v1 memory hierarchy'),
}, () => {
  const host = new TestHost();
  const quota = (memory: string) => `[can_run_as]\n{bob}\n[limits]\n{bob}: memory=${memory}\n`;

  before(async () => {
    host.user('bob');
    host.writeMaster(quota('512M'));
    // Holds 160 MB of touched memory (no swap here: nothing of it can be reclaimed).
    host.writeDaemon(
      'bob',
      'hog',
      `start=exec python3 -c "x = b'x' * (160 * 1024 * 1024); import time; time.sleep(1000)"\n`,
    );
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('is written, the daemon holding the most killed as the OOM killer would, and said', async () => {
    const hog = await host.waitForDaemon('bob', 'bob/hog', (d) => d.pid > 0, 'to run');
    const users = join('/sys/fs/cgroup/memory', v1CgroupOf(hog.pid, 'memory'));
    await waitFor('the hog to hold its memory', () =>
      Number(read(join(users, 'memory.usage_in_bytes'))) > 150 * 2 ** 20 ? true : undefined,
    );
    host.writeMaster(quota('64M'));
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor('the lower limit to be written', () =>
      read(join(users, 'memory.limit_in_bytes')) === String(64 * 2 ** 20) ? true : undefined,
    );
    const killed = await host.waitForDaemon(
      'bob',
      'bob/hog',
      (d) => (d.lastExit ?? '').includes('out of memory'),
      'to be said killed for memory',
    );
    assert.match(killed.lastExit ?? '', /killed by SIGKILL: out of memory/);
    assert.match(
      host.managerLog,
      /bob\/hog: killed \(SIGKILL\) to bring its user's memory under their quota, lowered to 64 MiB: their daemons held 1\d\d MiB/,
    );
  });
});

/**
 * An outside review: memory held by no process (a file in /dev/shm the user's daemon
 * wrote) got every daemon of the user killed, one after the other, and the lower limit
 * was still refused. No kill that cannot help is made.
 */
describe('a memory quota lowered below what shared memory of the user holds', {
  skip: (!root && 'needs root') || (!hasMemory && 'no v1 memory hierarchy'),
}, () => {
  const host = new TestHost();
  const quota = (memory: string) => `[can_run_as]\n{carol}\n[limits]\n{carol}: memory=${memory}\n`;
  let shm = '';

  before(async () => {
    const carol = host.user('carol');
    shm = `/dev/shm/${carol.name}-held`;
    host.writeMaster(quota('512M'));
    // 150 MB in a tmpfs file, charged to carol's memory cgroup; held by no process.
    host.writeDaemon(
      'carol',
      'writer',
      `start=dd if=/dev/zero of=${shm} bs=1M count=150 2>/dev/null; exec sleep 6800041\n`,
    );
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    rmSync(shm, { force: true });
    await host.cleanup();
  });

  test('kills nobody, keeps the limit, and says why', async () => {
    const writer = await host.waitForDaemon('carol', 'carol/writer', (d) => d.pid > 0, 'to run');
    const users = join('/sys/fs/cgroup/memory', v1CgroupOf(writer.pid, 'memory'));
    await waitFor('the file to be written', () =>
      Number(read(join(users, 'memory.usage_in_bytes'))) > 140 * 2 ** 20 ? true : undefined,
    );
    const from = host.managerLog.length;
    host.writeMaster(quota('64M'));
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor('the refusal to be said', () =>
      /killing their daemons cannot bring it under 64 MiB, and none was killed/.test(
        host.managerLog.slice(from),
      )
        ? true
        : undefined,
    );
    assert.equal(read(join(users, 'memory.limit_in_bytes')), String(512 * 2 ** 20));
    const now = await host.waitForDaemon('carol', 'carol/writer', (d) => d.pid > 0, 'to run');
    assert.equal(now.pid, writer.pid, 'the daemon was not killed');
    assert.doesNotMatch(host.managerLog.slice(from), /killed \(SIGKILL\)/);
  });
});
