import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileOps } from '../../src/files/native-ops.ts';
import { buildHangFs, fuseMissing, type HangFs, mountHangFs } from '../helpers/hang-fs.ts';
import { TestHost } from '../helpers/host.ts';
import { filesOf, mkdirOwned, writeOwned } from '../helpers/user-files.ts';
import { waitFor } from '../helpers/wait.ts';

const LIMITS = { maxFiles: 10, maxFileBytes: 1024, maxTotalBytes: 10_000 };
const NO_ANSWER = /: no answer within 1\.5 s \(an NFS or FUSE mount\?\)$/;

/**
 * A user's own FUSE file system that never answers. How the kernel treats the manager
 * there depends on allow_other: without it, FUSE lets in only processes whose real,
 * effective and saved uids are all the mount's owner (fuse_allow_current_process); a
 * manager thread running as the user keeps real uid 0, so it is refused at once (EACCES)
 * and can never hang. With allow_other (user_allow_other in /etc/fuse.conf lets users
 * ask for it), the manager's lookup reaches the user's server, which may never answer:
 * that is what the deadline is for.
 */
describe('a user tree that never answers', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const mounts: HangFs[] = [];
  let binary = '';
  let missing: string | undefined;

  before(() => {
    missing = fuseMissing();
    if (missing === undefined) binary = buildHangFs(host.dir);
    for (const short of ['alice', 'bob']) {
      const user = host.user(short);
      mkdirOwned(join(user.home, '.daemon-manager/daemons'), user);
      writeOwned(join(user.home, '.daemon-manager/daemons/web.conf'), 'start=x\n', user);
    }
  });
  after(async () => {
    // Unmounted first: removing the sandbox must not walk into a mount that hangs.
    for (const mount of mounts) await mount.stop();
    await host.cleanup();
  });

  test('without allow_other the kernel refuses the manager at once (its real uid is root)', async (t) => {
    if (missing) return t.skip(missing);
    const alice = host.user('alice');
    const mountpoint = join(alice.home, 'owner-only');
    mkdirOwned(mountpoint, alice);
    mounts.push(await mountHangFs(binary, mountpoint, alice, false));
    const result = await filesOf(alice, 1500).readConfigDir(join(mountpoint, 'daemons'), LIMITS);
    assert.equal(result.ok ? 'listed' : result.error.code, 'EACCES');
  });

  test('an operation that never returns times out; nobody else waits; the event loop turns', async (t) => {
    if (missing) return t.skip(missing);
    const alice = host.user('alice');
    const mountpoint = join(alice.home, 'hanging');
    mkdirOwned(mountpoint, alice);
    const mount = await mountHangFs(binary, mountpoint, alice, true);
    mounts.push(mount);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    try {
      const aliceFiles = filesOf(alice, 1500);
      let settled = false;
      const stuck = aliceFiles.readConfigDir(join(mountpoint, 'daemons'), LIMITS).finally(() => {
        settled = true;
      });
      // Bob's operations run meanwhile, and finish before alice's hits its deadline.
      const bob = host.user('bob');
      for (let round = 0; round < 20; round++) {
        const listed = await filesOf(bob, 1500).readConfigDir(
          join(bob.home, '.daemon-manager/daemons'),
          LIMITS,
        );
        assert.deepEqual(listed.ok && listed.value.files.map((file) => file.name), ['web.conf']);
      }
      assert.equal(settled, false, "bob's 20 listings were done while alice's waited");
      const ticksBefore = ticks;
      const result = await stuck;
      assert.ok(ticks > ticksBefore, 'timers kept firing while the operation hung');
      assert.equal(result.ok ? 'listed' : result.error.code, 'TIMEOUT');
      if (!result.ok) {
        assert.match(result.error.message, NO_ANSWER);
        assert.ok(result.error.message.startsWith(join(mountpoint, 'daemons')));
      }
      // Alice's tree is marked not answering: even her healthy paths fail at once, with
      // the same message, and nothing more is queued behind the stuck call.
      const healthy = join(alice.home, '.daemon-manager/daemons');
      const refused = await aliceFiles.readConfigDir(healthy, LIMITS);
      assert.equal(refused.ok ? 'listed' : refused.error.code, 'NOT_ANSWERING');
      if (!refused.ok && !result.ok) assert.equal(refused.error.message, result.error.message);
      assert.equal(fileOps().filePoolCounts().jobs, 1, 'one thread is held: the stuck call');
      // Once the server goes away, the stuck call returns and alice's tree works again.
      await mount.server.stop();
      const back = await waitFor('alice to be served again', async () => {
        const listed = await aliceFiles.readConfigDir(healthy, LIMITS);
        return listed.ok ? listed.value : undefined;
      });
      assert.deepEqual(
        back.files.map((file) => file.name),
        ['web.conf'],
      );
    } finally {
      clearInterval(ticker);
    }
  });
});
