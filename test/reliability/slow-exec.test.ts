import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { buildHangFs, fuseMissing, type HangFs, mountHangFs } from '../helpers/hang-fs.ts';
import { TestHost } from '../helpers/host.ts';
import { mkdirOwned } from '../helpers/user-files.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * A start is answered once its program runs. An outside review put a daemon's program on
 * a file system whose open took 40 s: `dmctl start` gave up at 30 s saying the manager
 * was down, while it answered everyone else (2 of 2). The program here lies on a FUSE file
 * system root mounted that never answers (an administrator's hung mount): the start is
 * answered with what is known, and the manager goes on answering.
 */
describe('a program whose exec does not return', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let mount: HangFs | undefined;
  let missing: string | undefined;
  /** The process of the run stuck in its exec, as the start named it. */
  let stuckPid = 0;

  before(async () => {
    missing = fuseMissing();
    if (missing) return;
    const alice = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n');
    const point = join(alice.home, 'hung');
    mkdirOwned(point, alice);
    mount = await mountHangFs(buildHangFs(host.dir), point, alice, 'root', 'all');
    host.writeDaemon('alice', 'slow', `start=exec ${point}/program\nautostart=no\n`);
    host.writeDaemon('alice', 'fine', 'start=exec sleep 100000\nautostart=no\n');
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    // The server first: its end fails the exec still held.
    await mount?.stop();
    await cleanUp(host);
  });

  test('dmctl start is answered that the program has not begun, and the manager answers on', async (t) => {
    if (missing) return t.skip(missing);
    const start = await host.dmctl('alice', 'slow', 'start');
    assert.notEqual(start.code, 0);
    assert.match(
      start.stderr,
      /slow is not started yet: its program has not begun 10 s after its process \(pid [1-9]\d*\) was made .*the start goes on/,
    );
    stuckPid = Number(/\(pid (\d+)\)/.exec(start.stderr)?.[1]);
    const other = await host.dmctl('alice', 'fine', 'start');
    assert.equal(other.code, 0, other.stderr);
  });

  /**
   * An outside review: the process stuck in its exec held every descriptor of the keeper's
   * (only marked close-on-exec): the keeper's socket, every user's control socket and
   * `.lock`. After a stop, no manager could start again ("dm-keeper (pid N) has not answered
   * hello for 10 s", N gone) until the user's file system answered.
   */
  test('the stuck process holds nothing of the keeper, and a manager stopped starts again', async (t) => {
    if (missing) return t.skip(missing);
    const pid = stuckPid;
    assert.ok(pid > 0, 'the stuck run named by the start before');
    const held = readdirSync(`/proc/${pid}/fd`).map((fd) => ({
      fd: Number(fd),
      target: readlinkSync(`/proc/${pid}/fd/${fd}`),
    }));
    // Its standard descriptors, and the exec error pipe that closes at the exec.
    const beyond = held.filter(({ fd }) => fd > 2);
    assert.ok(
      beyond.length <= 1 && beyond.every(({ target }) => target.startsWith('pipe:')),
      `the stuck process holds ${JSON.stringify(held)}`,
    );
    await host.stopManager();
    const from = host.managerLog.length;
    await host.startManager();
    const fine = await host.dmctl('alice', 'fine', 'start');
    assert.equal(fine.code, 0, fine.stderr);
    // The stuck process is still in its cgroup: nothing says it ended (an outside review
    // read "what survived in its cgroup ended", then saw it killed again 3 s later).
    const said = await waitFor(
      'the next word on the stuck survivor',
      () =>
        /slow: (what survived of its run ended|still running after the stop timeout)/.exec(
          host.managerLog.slice(from),
        )?.[1],
    );
    assert.equal(said, 'still running after the stop timeout');
  });
});
