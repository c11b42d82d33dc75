import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BackoffPolicy, cooldownAfterExit } from './backoff.ts';

/** The original Daemon Manager's numbers: grow by 10 s up to 60 s, reset after 60 s up. */
const ORIGINAL: BackoffPolicy = {
  firstMs: 1_000,
  stepMs: 10_000,
  maxMs: 60_000,
  stableMs: 60_000,
  delayMs: 0,
};
/** The default: doubling from 1 s up to 60 s, reset after 60 s up. */
const DOUBLING: BackoffPolicy = { ...ORIGINAL, stepMs: undefined };

describe('cooldownAfterExit, with cooldown-step set (the original rule)', () => {
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
    const quick: BackoffPolicy = { ...ORIGINAL, stepMs: 500, maxMs: 1_200, stableMs: 2_000 };
    assert.deepEqual(
      [0, 500, 1_000, 1_200].map((cooldown) => cooldownAfterExit(quick, cooldown, 1_999)),
      [500, 1_000, 1_200, 1_200],
    );
    assert.equal(cooldownAfterExit(quick, 1_200, 2_000), 0);
  });
});

/** Cooldowns of a run of exits, each after running the given ms, from a fresh start. */
function cooldownsOf(policy: BackoffPolicy, runs: readonly number[]): number[] {
  const cooldowns: number[] = [];
  let cooldown = 0;
  for (const ran of runs) {
    cooldown = cooldownAfterExit(policy, cooldown, ran);
    cooldowns.push(cooldown);
  }
  return cooldowns;
}

describe('cooldownAfterExit, by default (doubling)', () => {
  test('a crash loop waits 1, 2, 4 ... 32 s, then 60 s, and stays there', () => {
    assert.deepEqual(
      cooldownsOf(DOUBLING, [0, 0, 0, 0, 0, 0, 0, 0]),
      [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000],
    );
  });

  test('a daemon that crashes now and then, after good runs, is respawned at once', () => {
    assert.deepEqual(cooldownsOf(DOUBLING, [3_600_000, 60_000, 86_400_000]), [0, 0, 0]);
  });

  test('a good run forgets the back-off; the next quick exit starts again from 1 s', () => {
    assert.deepEqual(
      cooldownsOf(DOUBLING, [0, 0, 0, 61_000, 100, 100]),
      [1_000, 2_000, 4_000, 0, 1_000, 2_000],
    );
  });

  test("a daemon's restart_delay is waited even after a good run, and doubles from there", () => {
    const delayed = { ...DOUBLING, delayMs: 5_000 };
    assert.deepEqual(
      cooldownsOf(delayed, [61_000, 0, 0, 0, 0, 61_000]),
      [5_000, 10_000, 20_000, 40_000, 60_000, 5_000],
    );
  });

  test('a restart_delay longer than the cap is waited as it is, never less', () => {
    const slow = { ...DOUBLING, delayMs: 120_000 };
    assert.deepEqual(cooldownsOf(slow, [0, 0, 61_000]), [120_000, 120_000, 120_000]);
  });

  test('with cooldown-step set, a restart_delay is still the least wait', () => {
    const linear = { ...ORIGINAL, delayMs: 15_000 };
    assert.deepEqual(cooldownsOf(linear, [61_000, 0, 0]), [15_000, 25_000, 35_000]);
  });
});
