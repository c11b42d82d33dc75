import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sourceOf } from './scan.ts';

describe('sourceOf: what a config file says, as a digest', () => {
  test('blanks around = and after export, comments and blank lines are no change', () => {
    const plain = sourceOf('start=sleep 1\nautostart=yes\nexport A=b\n');
    assert.equal(sourceOf('start = sleep 1\n\n# note\nautostart =yes  \nexport   A = b\n'), plain);
  });

  test('a value, a key, or blanks inside a value are a change', () => {
    const plain = sourceOf('start=sleep 1\nautostart=yes\n');
    assert.notEqual(sourceOf('start=sleep 1\nautostart=no\n'), plain);
    assert.notEqual(sourceOf('start=sleep  1\nautostart=yes\n'), plain);
    assert.notEqual(sourceOf('start=sleep 1\noutput=yes\n'), plain);
  });
});
