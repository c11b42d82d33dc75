import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { REFUSALS_NAMED, RescanTally } from './rescan-tally.ts';

describe('RescanTally', () => {
  test('reports what was added, changed (and restarted), removed and refused', () => {
    const tally = new RescanTally();
    tally.add('amy/new');
    tally.change('amy/web', true);
    tally.change('amy/idle', false);
    tally.remove('amy/old');
    tally.refuse('amy/bad');
    assert.deepEqual(tally.report(), {
      added: ['amy/new'],
      changed: ['amy/web', 'amy/idle'],
      restarted: ['amy/web'],
      removed: ['amy/old'],
      refused: ['amy/bad'],
      refusedMore: 0,
    });
  });

  test('names a bounded number of refusals and counts the rest', () => {
    const tally = new RescanTally();
    for (let index = 0; index < 1000; index++) tally.refuse(`m/${index}`);
    const report = tally.report();
    assert.equal(report.refused.length, REFUSALS_NAMED);
    assert.equal(report.refusedMore, 1000 - REFUSALS_NAMED);
  });
});
