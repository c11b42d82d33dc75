import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FILE_COST, NAME_COST, RescanBudget, rescanCost } from './rescan-budget.ts';

const MIB = 1024 * 1024;

test('a rescan costs the bytes read, and a share per file opened and per name listed', () => {
  assert.equal(rescanCost(4 * MIB, 1000, 51_000), 4 * MIB + 1000 * FILE_COST + 51_000 * NAME_COST);
});

test('a user may rescan until the minute’s budget is spent, then is told when to try again', () => {
  const budget = new RescanBudget(64 * MIB);
  const now = 1_000;
  let allowed = 0;
  while (budget.refusal('mallory', now) === undefined) {
    budget.charge('mallory', 8 * MIB, now);
    allowed++;
  }
  assert.equal(allowed, 8);
  assert.match(
    budget.refusal('mallory', now) ?? '',
    /^rescan refused: your rescans cost more than 64 MiB of reading in the last minute .*; try again in \d+ s$/,
  );
});

test('the budget refills with time, at most to one minute’s worth', () => {
  const budget = new RescanBudget(60 * MIB);
  budget.charge('mallory', 61 * MIB, 0);
  assert.match(budget.refusal('mallory', 0) ?? '', /try again in 2 s/);
  assert.equal(budget.refusal('mallory', 2_000), undefined);
  // A quiet hour gives one minute's budget, not sixty.
  budget.charge('mallory', 1, 3_600_000);
  budget.charge('mallory', 60 * MIB, 3_600_000);
  assert.notEqual(budget.refusal('mallory', 3_600_000), undefined);
});

test("one user's spent budget refuses nobody else", () => {
  const budget = new RescanBudget(64 * MIB);
  budget.charge('mallory', 100 * MIB, 0);
  assert.notEqual(budget.refusal('mallory', 0), undefined);
  assert.equal(budget.refusal('alice', 0), undefined);
});

test('a refused user waits about a minute at worst, however much was charged', () => {
  const budget = new RescanBudget(60 * MIB);
  for (let charge = 0; charge < 100; charge++) budget.charge('mallory', 60 * MIB, 0);
  assert.match(budget.refusal('mallory', 0) ?? '', /try again in 61 s/);
  assert.equal(budget.refusal('mallory', 61_000), undefined);
});
