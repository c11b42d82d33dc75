import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatElapsed } from './elapsed.ts';

test('formatElapsed shows tenths under a second, then the two largest units', () => {
  assert.deepEqual([400, 42_000, 200_000, 60_000, 18_720_000, 183_600_000].map(formatElapsed), [
    '0.4s',
    '42s',
    '3m20s',
    '1m',
    '5h12m',
    '2d3h',
  ]);
});
