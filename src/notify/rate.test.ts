import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimit } from './rate.ts';

test('a burst is allowed, then the rate, with time passed in', () => {
  const rate = new RateLimit(3, 2, 0);
  assert.deepEqual(
    [rate.take(0), rate.take(0), rate.take(0), rate.take(0)],
    [true, true, true, false],
  );
  assert.equal(rate.take(499), false);
  assert.equal(rate.take(500), true);
  assert.equal(rate.take(10_000), true);
  assert.equal(rate.take(10_000), true);
  assert.equal(rate.take(10_000), true);
  assert.equal(rate.take(10_000), false);
});

test('a take may cost more than one token, as bytes do', () => {
  const rate = new RateLimit(10_000, 1_000, 0);
  assert.deepEqual(
    [rate.take(0, 4_000), rate.take(0, 4_000), rate.take(0, 4_000)],
    [true, true, false],
  );
  assert.equal(rate.take(1_000, 3_000), true);
});
