import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pidsMaxOf } from './cgroup.ts';

// Found hunting an outside review's finding (36b, F1): a user's `limit_nproc` above what the
// kernel's pids.max takes (PID_MAX_LIMIT, 4,194,304 on 64 bits) was refused by it (EINVAL).
test('pidsMaxOf gives the kernel no limit it refuses', () => {
  assert.equal(pidsMaxOf(undefined), 'max');
  assert.equal(pidsMaxOf(40), '40');
  assert.equal(pidsMaxOf(4_194_304), '4194304');
  assert.equal(pidsMaxOf(4_194_305), 'max');
  assert.equal(pidsMaxOf(2 ** 31 - 1), 'max');
});
