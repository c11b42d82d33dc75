import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildHangFs, fuseMissing, type HangFs, mountHangFs } from '../helpers/hang-fs.ts';
import { TestHost } from '../helpers/host.ts';
import { v1CgroupOf } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * A daemon whose cgroup cannot be frozen (a process stuck in the kernel: here a lookup in
 * a FUSE file system that never answers, as a dead NFS server's) cannot have its processes
 * moved into the user's cgroups when a quota is given: it is restarted inside them, and
 * the manager's log and `why` say so. Left running, it would escape the quota for good.
 */
describe('a quota given by SIGHUP to a daemon that cannot be frozen', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const master = '[can_run_as]\n{carol}\n';
  let mount: HangFs | undefined;
  let missing: string | undefined;

  before(async () => {
    missing = fuseMissing();
    if (missing !== undefined) return;
    const carol = host.user('carol');
    const mountpoint = join(carol.home, 'hanging');
    host.mkdirAs(carol, mountpoint);
    mount = await mountHangFs(buildHangFs(host.dir), mountpoint, carol, 'owner_only');
    host.writeMaster(master);
    host.writeDaemon('carol', 'stuck', `start=exec cat ${mountpoint}/never\nstop_timeout=2s\n`);
    await host.startManager();
  });
  after(async () => {
    // Unmounted first: killing the server fails the lookups, and the daemon can end.
    await mount?.stop();
    await host.cleanup();
  });

  test('is restarted inside the quota, and the log and why say so', async (t) => {
    if (missing) return t.skip(missing);
    const carol = host.user('carol');
    const stuck = await host.waitForDaemon('carol', 'carol/stuck', (d) => d.pid > 0, 'to run');
    await waitFor(
      'cat to wait for the lookup',
      () => (/fuse|request_wait_answer/.test(wchanOf(stuck.pid)) ? true : undefined),
      { describe: () => wchanOf(stuck.pid) },
    );
    const from = host.managerLog.length;

    host.writeMaster(`${master}[limits]\n{carol}: memory=64M\n`);
    process.kill(host.managerPid(), 'SIGHUP');
    const said = await waitFor(
      'the quota to be applied',
      () => /the quota of '[^']+' is now [^\n]*\n/.exec(host.managerLog.slice(from))?.[0],
    );
    assert.match(
      said,
      /restarted \S+\/stuck inside it \(its processes could not all be moved: .* was not frozen/,
    );

    const again = await host.waitForDaemon(
      'carol',
      'carol/stuck',
      (d) => d.pid > 0 && d.pid !== stuck.pid,
      'to run again',
    );
    // Its pid is known from the fork; it joins the cgroups before its exec (an RCU grace
    // period each, long on a loaded machine): judged once it is cat.
    await waitFor('the new run to be cat', () => (commOf(again.pid) === 'cat' ? true : undefined), {
      describe: () => commOf(again.pid),
    });
    assert.match(
      v1CgroupOf(again.pid, 'memory'),
      new RegExp(`/daemon-manager\\.[0-9a-f]+/${carol.name}$`),
    );
    const why = await host.dmctl('carol', 'stuck', 'why');
    assert.match(why.stdout, /restarted inside the quota of '[^']+' \(memory=67108864\)/);
  });
});

/** The name of the program a process runs (empty once it is gone). */
function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Where in the kernel a process waits (`0` when it runs). */
function wchanOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/wchan`, 'latin1');
  } catch {
    return '';
  }
}

/**
 * An outside review: root gave a quota to a user whose daemons could not be frozen, then
 * sent SIGTERM: the stop waited for every freeze to give up (2 s a daemon, twice), and the
 * daemons were started again after it. The stop goes ahead now, and starts nothing.
 */
describe('a SIGTERM while a quota waits for daemons that cannot be frozen', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const master = '[can_run_as]\n{dave}\n';
  let mount: HangFs | undefined;
  let missing: string | undefined;

  before(async () => {
    missing = fuseMissing();
    if (missing !== undefined) return;
    const dave = host.user('dave');
    const mountpoint = join(dave.home, 'hanging');
    host.mkdirAs(dave, mountpoint);
    mount = await mountHangFs(buildHangFs(host.dir), mountpoint, dave, 'owner_only');
    host.writeMaster(master);
    // A name each: cats looking up one name wait on the first's lookup, not in FUSE.
    for (const name of ['s1', 's2', 's3'])
      host.writeDaemon(
        'dave',
        name,
        `start=exec cat ${mountpoint}/never-${name}\nstop_timeout=2s\n`,
      );
    await host.startManager();
  });
  after(async () => {
    await mount?.stop();
    await host.cleanup();
  });

  test('stops the manager without starting any daemon again', async (t) => {
    if (missing) return t.skip(missing);
    for (const name of ['s1', 's2', 's3']) {
      const run = await host.waitForDaemon('dave', `dave/${name}`, (d) => d.pid > 0, 'to run');
      await waitFor(
        'cat to wait for the lookup',
        () => (/fuse|request_wait_answer/.test(wchanOf(run.pid)) ? true : undefined),
        { describe: () => wchanOf(run.pid) },
      );
    }
    const child = host.managerProcess();
    assert.ok(child);
    const from = host.managerLog.length;
    host.writeMaster(`${master}[limits]\n{dave}: tasks=200\n`);
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor('the reload', () =>
      /SIGHUP: reloading/.test(host.managerLog.slice(from)) ? true : undefined,
    );
    process.kill(host.managerPid(), 'SIGTERM');
    // The lookups go on waiting: the manager gives their processes up after its SIGKILL.
    const code = await waitFor('the manager to exit', () => child.exitCode ?? undefined, {
      timeoutMs: 120_000,
    });
    assert.equal(code, 0);
    const afterStop = host.managerLog.slice(
      host.managerLog.indexOf('SIGTERM: stopping every daemon'),
    );
    assert.doesNotMatch(afterStop, /started, pid/);
    // The freezes not begun when the stop came are not tried (2 s each): before, all three were.
    const tried = afterStop.match(/inside it \(its processes could not all be moved/g) ?? [];
    assert.ok(tried.length < 3, `the freezes tried after the SIGTERM:\n${afterStop}`);
  });
});
