import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STARTS_AT_ONCE, STARTS_PER_MINUTE, StartBudget } from './start-budget.ts';

test('a user may ask for every start at once, then a few a minute; others are not charged', () => {
  const budget = new StartBudget();
  for (let index = 0; index < STARTS_AT_ONCE; index++)
    assert.equal(budget.take('mallory', 0), undefined, `start ${index}`);
  assert.match(budget.take('mallory', 0) ?? '', /more than 1,000 starts .* try again in 1 s/);
  assert.equal(budget.take('alice', 0), undefined, 'another user');
  // One comes back every 60 / STARTS_PER_MINUTE s.
  const one = 60_000 / STARTS_PER_MINUTE;
  assert.equal(budget.take('mallory', one), undefined);
  assert.notEqual(budget.take('mallory', one), undefined);
  // A quiet while fills it again, up to STARTS_AT_ONCE.
  const later = one + (60_000 * STARTS_AT_ONCE) / STARTS_PER_MINUTE;
  for (let index = 0; index < STARTS_AT_ONCE; index++)
    assert.equal(budget.take('mallory', later), undefined);
  assert.notEqual(budget.take('mallory', later), undefined);
});
