import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { judgeConfigFile } from '../../src/files/config-dir.ts';
import { TestHost } from '../helpers/host.ts';
import { filesOf, mkdirOwned, writeOwned } from '../helpers/user-files.ts';

describe('readConfigDir is bounded work', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const dir = (): string => join(host.user('alice').home, '.daemon-manager/daemons');

  before(() => {
    const alice = host.user('alice');
    mkdirOwned(dir(), alice);
    // 30 configs of 100 bytes each, written out of order, plus files that are not configs.
    for (let index = 30; index >= 1; index--)
      writeOwned(
        join(dir(), `d${String(index).padStart(2, '0')}.conf`),
        `start=${'x'.repeat(93)}\n`,
        alice,
      );
    writeOwned(join(dir(), 'notes.txt'), 'not a config', alice);
    writeOwned(join(dir(), 'big.conf'), 'x'.repeat(5000), alice);
    mkdirSync(join(dir(), 'sub.conf'));
  });
  after(() => host.cleanup());

  test('lists the *.conf names sorted and reads each one', async () => {
    const result = await filesOf(host.user('alice')).readConfigDir(dir(), {
      maxFiles: 100,
      maxFileBytes: 1000,
      maxTotalBytes: 1_000_000,
    });
    assert.ok(result.ok);
    if (!result.ok) return;
    const names = result.value.files.map((file) => file.name);
    assert.deepEqual(names, [
      'big.conf',
      ...Array.from({ length: 30 }, (_, i) => `d${String(i + 1).padStart(2, '0')}.conf`),
      'sub.conf',
    ]);
    assert.equal(result.value.total, 32);
    const d01 = result.value.files[1];
    assert.equal(d01?.data?.length, 100);
    assert.equal(d01?.stat?.uid, host.user('alice').uid);
    // Over maxFileBytes: described, not read; the judging refuses it by its size.
    const big = result.value.files[0];
    assert.equal(big?.data, undefined);
    assert.equal(big?.stat?.size, 5000);
    const rules = {
      ownerUid: host.user('alice').uid,
      ownerName: 'alice',
      privateGid: undefined,
      maxBytes: 1000,
      refuseExecutable: true,
    };
    assert.deepEqual(big && judgeConfigFile(big, rules), {
      ok: false,
      reason: 'is larger than 1000 bytes',
    });
    const sub = result.value.files.at(-1);
    assert.deepEqual(sub && judgeConfigFile(sub, rules), {
      ok: false,
      reason: 'is not a regular file',
    });
  });

  test('maxFiles: only the first files in byte order are read; total says how many there are', async () => {
    const result = await filesOf(host.user('alice')).readConfigDir(dir(), {
      maxFiles: 5,
      maxFileBytes: 1000,
      maxTotalBytes: 1_000_000,
    });
    assert.ok(result.ok);
    if (!result.ok) return;
    assert.deepEqual(
      result.value.files.map((file) => file.name),
      ['big.conf', 'd01.conf', 'd02.conf', 'd03.conf', 'd04.conf'],
    );
    assert.equal(result.value.total, 32);
  });

  test('maxTotalBytes: no file is read once the budget is used, and those are marked skipped', async () => {
    const result = await filesOf(host.user('alice')).readConfigDir(dir(), {
      maxFiles: 100,
      maxFileBytes: 1000,
      maxTotalBytes: 1000,
    });
    assert.ok(result.ok);
    if (!result.ok) return;
    const read = result.value.files
      .filter((file) => file.data !== undefined)
      .map((file) => file.name);
    // big.conf is not read (too big), d01..d10 are (1,000 bytes), the rest are skipped.
    assert.deepEqual(
      read,
      Array.from({ length: 10 }, (_, i) => `d${String(i + 1).padStart(2, '0')}.conf`),
    );
    const skipped = result.value.files.filter((file) => file.skipped).map((file) => file.name);
    assert.equal(skipped.length, 21);
    assert.equal(skipped[0], 'd11.conf');
    const rules = {
      ownerUid: host.user('alice').uid,
      ownerName: 'alice',
      privateGid: undefined,
      maxBytes: 1000,
      refuseExecutable: true,
    };
    const first = result.value.files.find((file) => file.skipped);
    assert.deepEqual(first && judgeConfigFile(first, rules), {
      ok: false,
      reason: 'not read: the daemon directory has more config bytes than allowed',
    });
  });

  test('a missing or unreadable directory is an error naming it', async () => {
    const missing = await filesOf(host.user('alice')).readConfigDir(join(dir(), 'nope'), {
      maxFiles: 1,
      maxFileBytes: 1,
      maxTotalBytes: 1,
    });
    assert.equal(
      missing.ok ? 'listed' : missing.error.message,
      `${join(dir(), 'nope')}: does not exist`,
    );
    const bob = await filesOf(host.user('bob')).readConfigDir(dir(), {
      maxFiles: 1,
      maxFileBytes: 1,
      maxTotalBytes: 1,
    });
    assert.equal(bob.ok, true, "alice's directory is 0755: bob may list it");
  });
});
