import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDuration } from './durations.ts';

describe('parseDuration', () => {
  const cases: [string, number | undefined][] = [
    ['10', 10_000],
    ['10s', 10_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['0', 0],
    ['0ms', 0],
    ['1.5s', 1_500],
    ['0.0015s', 2],
    ['  7s  ', 7_000],
    ['10 s', 10_000],
    ['24h', 86_400_000],
    ['86400', 86_400_000],
    ['24.001h', undefined],
    ['25h', undefined],
    ['', undefined],
    ['s', undefined],
    ['-1', undefined],
    ['1d', undefined],
    ['1S', undefined],
    ['1.', undefined],
    ['.5s', undefined],
    ['1e3', undefined],
    ['1s 2s', undefined],
    ['ten', undefined],
    ['9'.repeat(400), undefined],
  ];
  for (const [text, expected] of cases) {
    test(`'${text.length > 20 ? `${text.length} nines` : text}' is ${expected === undefined ? 'refused' : `${expected} ms`}`, () => {
      assert.equal(parseDuration(text), expected);
    });
  }
});
