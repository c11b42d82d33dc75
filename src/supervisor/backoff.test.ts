import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BackoffPolicy, cooldownAfterExit } from './backoff.ts';

/** The original Daemon Manager's numbers: grow by 10 s up to 60 s, reset after 60 s up. */
const ORIGINAL: BackoffPolicy = { stepMs: 10_000, maxMs: 60_000, stableMs: 60_000 };

describe('cooldownAfterExit', () => {
  const cases: { name: string; cooldown: number; ran: number; expected: number }[] = [
    { name: 'a first quick exit waits one step', cooldown: 0, ran: 0, expected: 10_000 },
    {
      name: 'an exit just before stable still counts as quick',
      cooldown: 0,
      ran: 59_999,
      expected: 10_000,
    },
    {
      name: 'each quick exit grows the cooldown by a step',
      cooldown: 10_000,
      ran: 5_000,
      expected: 20_000,
    },
    { name: 'growth stops at the maximum', cooldown: 50_000, ran: 1, expected: 60_000 },
    { name: 'at the maximum it stays there', cooldown: 60_000, ran: 1, expected: 60_000 },
    { name: 'a step that would overshoot is capped', cooldown: 55_000, ran: 1, expected: 60_000 },
    {
      name: 'running exactly the stable time resets the cooldown',
      cooldown: 60_000,
      ran: 60_000,
      expected: 0,
    },
    {
      name: 'running longer than stable resets the cooldown',
      cooldown: 30_000,
      ran: 3_600_000,
      expected: 0,
    },
    {
      name: 'a stable run with no cooldown respawns at once',
      cooldown: 0,
      ran: 60_000,
      expected: 0,
    },
  ];
  for (const { name, cooldown, ran, expected } of cases) {
    test(`${name} (cooldown ${cooldown} ms, ran ${ran} ms -> ${expected} ms)`, () => {
      assert.equal(cooldownAfterExit(ORIGINAL, cooldown, ran), expected);
    });
  }

  test('a daemon crashing at once waits 10, 20 ... 60, 60 s, then 0 and 10 after a good run', () => {
    const runs = [0, 0, 0, 0, 0, 0, 0, 61_000, 100];
    const cooldowns: number[] = [];
    let cooldown = 0;
    for (const ran of runs) {
      cooldown = cooldownAfterExit(ORIGINAL, cooldown, ran);
      cooldowns.push(cooldown);
    }
    assert.deepEqual(
      cooldowns,
      [10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 60_000, 0, 10_000],
    );
  });

  test('other policies are followed as given', () => {
    const quick: BackoffPolicy = { stepMs: 500, maxMs: 1_200, stableMs: 2_000 };
    assert.deepEqual(
      [0, 500, 1_000, 1_200].map((cooldown) => cooldownAfterExit(quick, cooldown, 1_999)),
      [500, 1_000, 1_200, 1_200],
    );
    assert.equal(cooldownAfterExit(quick, 1_200, 2_000), 0);
  });
});
