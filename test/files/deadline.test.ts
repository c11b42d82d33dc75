import assert from 'node:assert/strict';
import { lchownSync, symlinkSync } from 'node:fs';
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
 * A FUSE file system that never answers. One a user mounted (fusermount3 is setuid) is
 * never entered: the walk stops on its root, before any request (native/user_mounts.c),
 * with or without allow_other (without it FUSE itself refused the manager, whose real
 * uid is root, with EACCES; with it, the lookup reached the user's server and waited).
 * One an administrator mounted (user_id=0) is entered as before, and may never answer:
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

  for (const mode of ['owner_only', 'allow_other'] as const)
    test(`a FUSE file system the user mounted (${mode}) is refused at once, naming the mount`, async (t) => {
      if (missing) return t.skip(missing);
      const alice = host.user('alice');
      const mountpoint = join(alice.home, mode);
      mkdirOwned(mountpoint, alice);
      mounts.push(await mountHangFs(binary, mountpoint, alice, mode));
      const result = await filesOf(alice, 60_000).readConfigDir(
        join(mountpoint, 'daemons'),
        LIMITS,
      );
      assert.equal(result.ok ? 'listed' : result.error.code, 'EREMOTE');
      if (!result.ok)
        assert.equal(
          result.error.message,
          `${join(mountpoint, 'daemons')}: is on a FUSE file system mounted by ${alice.name} (uid ${alice.uid}) at ${mountpoint}; the manager does not go there (its server could hold the manager beyond SIGKILL): unmount it`,
        );
    });

  test("a symbolic link into a user's FUSE mount is refused as the mount is", async (t) => {
    if (missing) return t.skip(missing);
    const alice = host.user('alice');
    const mountpoint = join(alice.home, 'linked');
    mkdirOwned(mountpoint, alice);
    mounts.push(await mountHangFs(binary, mountpoint, alice, 'allow_other', 'all'));
    const link = join(alice.home, 'via');
    symlinkSync(mountpoint, link);
    lchownSync(link, alice.uid, alice.gid);
    const result = await filesOf(alice, 60_000).readConfigDir(join(link, 'daemons'), LIMITS);
    assert.equal(result.ok ? 'listed' : result.error.code, 'EREMOTE');
  });

  test('an operation in a FUSE file system root mounted that never returns times out; nobody else waits; the event loop turns', async (t) => {
    if (missing) return t.skip(missing);
    const alice = host.user('alice');
    const mountpoint = join(alice.home, 'hanging');
    mkdirOwned(mountpoint, alice);
    const mount = await mountHangFs(binary, mountpoint, alice, 'root');
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
