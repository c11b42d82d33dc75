import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { restartDelayOf, restartDelayRefusal } from './restart-delay.ts';

const BOUNDS = { minMs: 1_000, maxMs: 60_000 };

describe('restartDelayRefusal', () => {
  test('no restart_delay asks for nothing', () => {
    assert.equal(restartDelayRefusal(undefined, BOUNDS), undefined);
  });
  test('a delay within the bounds, edges included, is allowed', () => {
    for (const ms of [1_000, 30_000, 60_000])
      assert.equal(restartDelayRefusal(ms, BOUNDS), undefined);
  });
  test('a delay below the minimum names the setting and both values', () => {
    assert.equal(
      restartDelayRefusal(500, BOUNDS),
      "'restart_delay' 500ms is shorter than the admin allows (restart-delay-min = 1s)",
    );
  });
  test('a delay above the maximum names the setting and both values', () => {
    assert.equal(
      restartDelayRefusal(120_000, BOUNDS),
      "'restart_delay' 2m is longer than the admin allows (restart-delay-max = 1m)",
    );
  });
});

describe('restartDelayOf', () => {
  test("a daemon without restart_delay waits the admin's minimum", () => {
    assert.equal(restartDelayOf(undefined, BOUNDS), 1_000);
  });
  test('a delay within bounds is kept; one outside (bounds changed since) is clamped', () => {
    assert.deepEqual(
      [5_000, 10, 999_999].map((ms) => restartDelayOf(ms, BOUNDS)),
      [5_000, 1_000, 60_000],
    );
  });
});
