import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MAX_SOCKET_PATH } from '../../src/files/file-error.ts';
import { closeFd } from '../../src/files/user-files.ts';
import { spawnCollecting } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { filesOf, mkdirOwned } from '../helpers/user-files.ts';
import { waitFor } from '../helpers/wait.ts';

describe('directory locks and unix sockets, as the user', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const state = (): string => join(host.user('alice').home, 'state');

  before(() => mkdirOwned(state(), host.user('alice')));
  after(() => host.cleanup());

  test('lockDir: the second locker is told who holds the lock; closing releases it', async () => {
    const files = filesOf(host.user('alice'));
    const first = await files.lockDir(state());
    assert.ok(first.ok);
    const second = await files.lockDir(state());
    assert.equal(second.ok, false);
    if (!second.ok) {
      assert.equal(second.error.holderPid, process.pid);
      assert.equal(second.error.message, `${state()}: is locked by process ${process.pid}`);
    }
    if (first.ok) closeFd(first.value.fd);
    const third = await files.lockDir(state());
    assert.ok(third.ok);
    if (third.ok) closeFd(third.value.fd);
  });

  test('lockDir names another process holding the lock', async () => {
    const holder = spawnCollecting([
      'flock',
      '--exclusive',
      state(),
      '-c',
      'echo locked; exec sleep 100000',
    ]);
    try {
      await waitFor('flock to hold the lock', () =>
        holder.output().includes('locked') ? true : undefined,
      );
      const refused = await filesOf(host.user('alice')).lockDir(state());
      assert.equal(refused.ok ? 'locked' : refused.error.holderPid, holder.child.pid);
    } finally {
      await holder.stop();
    }
  });

  test('bindUnix makes a socket of the user with the mode asked; others are kept out by it', async () => {
    const alice = host.user('alice');
    const path = join(state(), 's.sock');
    const bound = await filesOf(alice).bindUnix(path, 8, 0o600);
    assert.ok(bound.ok);
    const stats = statSync(path);
    assert.ok(stats.isSocket());
    assert.equal(stats.uid, alice.uid);
    assert.equal(stats.mode & 0o777, 0o600);
    assert.deepEqual(await filesOf(alice).connectUnix(path), { ok: true, value: undefined });
    const bob = await filesOf(host.user('bob')).connectUnix(path);
    assert.equal(bob.ok ? 'connected' : bob.error.code, 'EACCES');
    const again = await filesOf(alice).bindUnix(path, 8, 0o600);
    assert.equal(again.ok ? 'bound' : again.error.message, `${path}: exists already`);
    if (bound.ok) closeFd(bound.value.fd);
    const nobody = await filesOf(alice).connectUnix(path);
    assert.equal(nobody.ok ? 'connected' : nobody.error.message, `${path}: nothing listens there`);
  });

  test('a socket path longer than sun_path allows is refused with a clear message', async () => {
    const long = join(state(), `${'s'.repeat(MAX_SOCKET_PATH)}.sock`);
    const refused = await filesOf(host.user('alice')).bindUnix(long, 8, 0o600);
    assert.equal(
      refused.ok ? 'bound' : refused.error.message,
      `${long}: is too long for a unix socket (${Buffer.byteLength(long)} bytes, at most ${MAX_SOCKET_PATH})`,
    );
  });
});
