import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatRescan, refusedAny } from '../cli/report.ts';
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

  test('reports what the start budget held back, and why, for dmctl to say', () => {
    const tally = new RescanTally('amy');
    tally.holdBack('amy/web', 'changed');
    tally.holdBack('amy/new', 'new');
    assert.equal(tally.heldBack(), 2);
    tally.explain('try again in 1 s');
    const report = tally.report();
    assert.deepEqual(report.changed, ['amy/web']);
    assert.deepEqual(report.restarted, []);
    assert.deepEqual(report.added, []);
    assert.deepEqual(report.notRestarted, ['amy/web']);
    assert.deepEqual(report.notStarted, ['amy/new']);
    assert.deepEqual(formatRescan(report), [
      'new: amy/new (not loaded)',
      'changed: amy/web (not restarted)',
      'held back: 1 changed daemon not restarted and 1 new daemon not loaded: try again in 1 s. A rescan then loads and starts the new ones and restarts the changed ones (until then they run with the config they were started with)',
    ]);
    assert.equal(refusedAny(report), true);
  });
});
