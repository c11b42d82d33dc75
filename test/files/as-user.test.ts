import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closeFd } from '../../src/files/user-files.ts';
import { TestHost } from '../helpers/host.ts';
import { filesOf, mkdirOwned, writeOwned } from '../helpers/user-files.ts';

describe('user files are touched as their user, on the worker thread only', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const secret = (): string => join(host.dir, 'root-secret');

  before(() => {
    writeOwned(secret(), 'root only\n', undefined, 0o600);
    for (const short of ['alice', 'bob']) {
      const user = host.user(short);
      writeOwned(join(user.home, 'private'), `${short}'s own\n`, user, 0o600);
    }
  });
  after(() => host.cleanup());

  test("a root-only 0600 file cannot be read as a user; the user's own file can", async () => {
    const files = filesOf(host.user('alice'));
    const refused = await files.readChunk(secret(), 0, 100);
    assert.equal(refused.ok, false);
    if (!refused.ok) {
      assert.equal(refused.error.code, 'EACCES');
      assert.match(refused.error.message, /root-secret: permission denied to dmt\w+alice/);
    }
    const own = await files.readChunk(join(host.user('alice').home, 'private'), 0, 100);
    assert.ok(own.ok);
    if (own.ok) assert.equal(own.value.data.toString(), "alice's own\n");
  });

  test('directories and files made as a user belong to the user', async () => {
    const alice = host.user('alice');
    const files = filesOf(alice);
    const deep = join(alice.home, 'a/b/c');
    assert.deepEqual(await files.mkdirs([deep], 0o750), { ok: true, value: undefined });
    for (const dir of ['a', 'a/b', 'a/b/c'])
      assert.equal(statSync(join(alice.home, dir)).uid, alice.uid);
    assert.equal(statSync(deep).mode & 0o777, 0o750);
    const opened = await files.openAppend(join(deep, 'x.log'), 0o640);
    assert.ok(opened.ok);
    if (opened.ok) {
      assert.equal(opened.value.stat.uid, alice.uid);
      assert.equal(opened.value.stat.gid, alice.gid);
      writeFileSync(opened.value.fd, 'appended\n');
      closeFd(opened.value.fd);
    }
    assert.equal(readFileSync(join(deep, 'x.log'), 'utf8'), 'appended\n');
    const denied = await files.mkdirs([join(host.dir, 'not-hers/x')], 0o755);
    assert.equal(denied.ok, false);
    if (!denied.ok) {
      assert.equal(denied.error.code, 'EACCES');
      assert.equal(denied.error.path, join(host.dir, 'not-hers'));
    }
    assert.equal(existsSync(join(host.dir, 'not-hers')), false);
  });

  test('concurrent operations as different users each keep their own identity', async () => {
    const alice = filesOf(host.user('alice'));
    const bob = filesOf(host.user('bob'));
    const own = (short: string): string => join(host.user(short).home, 'private');
    const outcomes: Promise<string>[] = [];
    for (let round = 0; round < 100; round++) {
      for (const [files, me, other] of [
        [alice, 'alice', 'bob'],
        [bob, 'bob', 'alice'],
      ] as const) {
        outcomes.push(
          files
            .readChunk(own(me), 0, 100)
            .then((r) => (r.ok ? r.value.data.toString() : r.error.code)),
          files.readChunk(own(other), 0, 100).then((r) => (r.ok ? 'read!' : r.error.code)),
        );
      }
      // The event loop's thread stays root throughout.
      assert.equal(process.geteuid?.(), 0);
      assert.equal(readFileSync(secret(), 'utf8'), 'root only\n');
    }
    const seen = await Promise.all(outcomes);
    for (let index = 0; index < seen.length; index += 4) {
      assert.deepEqual(seen.slice(index, index + 4), [
        "alice's own\n",
        'EACCES',
        "bob's own\n",
        'EACCES',
      ]);
    }
  });

  test('rotate shifts NAME.log to NAME.log.1 ... as the user, dropping the oldest', async () => {
    const alice = host.user('alice');
    const dir = join(alice.home, 'logs');
    mkdirOwned(dir, alice);
    const log = join(dir, 'web.log');
    const contents: [string, string][] = [
      ['', 'now'],
      ['.1', 'one'],
      ['.2', 'two'],
    ];
    for (const [suffix, text] of contents) writeOwned(`${log}${suffix}`, text, alice);
    assert.deepEqual(await filesOf(alice).rotate(log, 2), { ok: true, value: undefined });
    assert.equal(existsSync(log), false);
    assert.equal(readFileSync(`${log}.1`, 'utf8'), 'now');
    assert.equal(readFileSync(`${log}.2`, 'utf8'), 'one');
    // In a directory of root's, the user cannot rename: the error says where.
    const rootDir = join(host.dir, 'root-logs');
    mkdirOwned(rootDir, { ...alice, uid: 0, gid: 0 });
    writeOwned(join(rootDir, 'web.log'), 'x', alice);
    const refused = await filesOf(alice).rotate(join(rootDir, 'web.log'), 2);
    assert.equal(refused.ok ? 'rotated' : refused.error.code, 'EACCES');
  });

  test('readChunk reads from the end with a negative offset, and says where it stopped', async () => {
    const alice = host.user('alice');
    const file = join(alice.home, 'numbers');
    writeOwned(file, '0123456789', alice);
    const tail = await filesOf(alice).readChunk(file, -4, 100);
    assert.ok(tail.ok);
    if (tail.ok) {
      assert.equal(tail.value.data.toString(), '6789');
      assert.equal(tail.value.next, 10);
      assert.equal(tail.value.size, 10);
    }
    const middle = await filesOf(alice).readChunk(file, 2, 3);
    assert.equal(middle.ok && middle.value.data.toString(), '234');
  });
});
