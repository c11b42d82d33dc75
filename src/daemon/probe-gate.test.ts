import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProbeGate } from './probe-gate.ts';

describe('ProbeGate', () => {
  test('a burst at once, then one an interval; each user alone', () => {
    const gate = new ProbeGate(10, 3);
    const waits = Array.from({ length: 6 }, () => gate.book('mallory', 1000));
    assert.deepEqual(waits, [0, 0, 0, 100, 200, 300]);
    assert.equal(gate.book('alice', 1000), 0, "mallory's backlog is not alice's");
  });

  test('an idle user gets the burst back, no more', () => {
    const gate = new ProbeGate(10, 3);
    for (let index = 0; index < 3; index++) gate.book('bob', 0);
    const later = Array.from({ length: 4 }, () => gate.book('bob', 60_000));
    assert.deepEqual(later, [0, 0, 0, 100]);
  });

  test('200 checks asked at once start over 20 s, not at once', () => {
    const gate = new ProbeGate(10, 10);
    const waits = Array.from({ length: 200 }, () => gate.book('mallory', 0));
    assert.equal(waits.filter((wait) => wait === 0).length, 10);
    assert.equal(Math.max(...waits), 19_000);
  });
});
