import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collecting } from '../../test/helpers/collecting-logger.ts';
import { USER_LINES_AT_ONCE, USER_LINES_PER_MINUTE, UserLines } from './user-lines.ts';

test("one user's lines past the budget are counted, then said as a count; root's never", () => {
  const { log, lines } = collecting();
  let now = 1_000_000;
  const limited = new UserLines(log, () => now);
  for (let index = 0; index < USER_LINES_AT_ONCE + 50; index++)
    limited.info('mallory', `m${index}`);
  limited.info('alice', 'a0');
  limited.info('root', 'r0');
  assert.equal(lines.filter((line) => line.startsWith('m')).length, USER_LINES_AT_ONCE);
  assert.ok(lines.includes('a0') && lines.includes('r0'));
  // One comes back every 60 / USER_LINES_PER_MINUTE s: the count is said before it.
  now += 60_000 / USER_LINES_PER_MINUTE;
  limited.warn('mallory', 'back');
  assert.match(
    lines.at(-2) ?? '',
    /^audit: mallory: 50 more lines of their requests not logged one by one since /,
  );
  assert.equal(lines.at(-1), 'back');
  // Flooding on: the lines let through are not each preceded by a count.
  limited.info('mallory', 'over');
  now += 60_000 / USER_LINES_PER_MINUTE;
  limited.info('mallory', 'through');
  assert.equal(lines.at(-1), 'through');
  assert.doesNotMatch(lines.at(-2) ?? '', /more lines/);
  limited.tellUntold();
  assert.match(lines.at(-1) ?? '', /^audit: mallory: 1 more lines/);
  limited.tellUntold();
  assert.equal(
    lines.filter((line) => /^audit: mallory: 1 more lines/.test(line)).length,
    1,
    'said once',
  );
});
