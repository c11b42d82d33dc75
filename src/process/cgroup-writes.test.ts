import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CgroupWrites } from './cgroup-writes.ts';

// Plain files stand for a cgroup's: what is checked is when the manager writes, not the kernel.
describe('CgroupWrites', () => {
  const root = mkdtempSync(join(tmpdir(), 'dm-cgroup-writes-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const read = (file: string): string => readFileSync(file, 'utf8');

  test('writes a value once, and again when it changes', () => {
    const writes = new CgroupWrites();
    const dir = join(root, 'changes', 'alice');
    writes.makeDirs(dir);
    const file = join(dir, 'cpu.shares');
    writes.write(file, '1024');
    // Another writer: the same value from the manager is not written again...
    writeFileSync(file, 'edited');
    writes.write(file, '1024');
    assert.equal(read(file), 'edited');
    // ...another value is.
    writes.write(file, '2048');
    assert.equal(read(file), '2048');
  });

  test('writes again below a directory found missing and made anew', () => {
    const writes = new CgroupWrites();
    const dir = join(root, 'remade', 'alice');
    writes.makeDirs(dir);
    const file = join(dir, 'cpu.shares');
    writes.write(file, '1024');
    rmSync(dir, { recursive: true });
    writes.makeDirs(dir);
    writes.write(file, '1024');
    assert.equal(read(file), '1024');
  });

  test('writes everything again after forgetAll (a reload)', () => {
    const writes = new CgroupWrites();
    const dir = join(root, 'reload', 'alice');
    writes.makeDirs(dir);
    const file = join(dir, 'cpu.cfs_quota_us');
    writes.write(file, '-1');
    writeFileSync(file, '50000');
    writes.forgetAll();
    writes.write(file, '-1');
    assert.equal(read(file), '-1');
  });

  test('a write that failed is tried again', () => {
    const writes = new CgroupWrites();
    const file = join(root, 'missing', 'pids.max');
    assert.throws(() => writes.write(file, 'max'), { code: 'ENOENT' });
    writes.makeDirs(join(root, 'missing'));
    writes.write(file, 'max');
    assert.equal(read(file), 'max');
  });
});
