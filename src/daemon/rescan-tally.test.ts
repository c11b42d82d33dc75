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
    tally.holdBack('amy/fixed', 'accepted');
    assert.equal(tally.heldBack(), 3);
    tally.explain('try again in 1 s');
    const report = tally.report();
    assert.deepEqual(report.changed, ['amy/web']);
    assert.deepEqual(report.restarted, []);
    assert.deepEqual(report.added, []);
    assert.deepEqual(report.notRestarted, ['amy/web']);
    assert.deepEqual(report.notLoaded, ['amy/new']);
    assert.deepEqual(report.notStarted, ['amy/fixed']);
    assert.deepEqual(formatRescan(report), [
      'new: amy/new (not loaded)',
      'changed: amy/web (not restarted)',
      'accepted: amy/fixed (not started)',
      'held back: 3 of the starts and restarts this rescan would make: try again in 1 s. A later rescan makes them; until then a changed daemon runs with the config it was started with',
    ]);
    assert.equal(refusedAny(report), true);
  });
});
