import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hasErrors, PROBLEM_LIMITS, ProblemList } from './problems.ts';

describe('ProblemList', () => {
  test('cuts a message that quotes a very long text', () => {
    const list = new ProblemList('f.conf');
    list.error(1, `got '${'x'.repeat(100_000)}'`);
    const [problem] = list.items;
    assert.equal(problem?.message.length, PROBLEM_LIMITS.messageChars + 3);
    assert.ok(problem?.message.endsWith('...'));
  });

  test('keeps at most perFile problems, then one error that says the rest were dropped', () => {
    const list = new ProblemList('f.conf');
    for (let line = 1; line <= 100_000; line++) list.warning(line, 'odd');
    assert.equal(list.items.length, PROBLEM_LIMITS.perFile + 1);
    assert.deepEqual(list.items.at(-1), {
      file: 'f.conf',
      severity: 'error',
      message: `more than ${PROBLEM_LIMITS.perFile} problems; the rest are not shown`,
    });
    assert.ok(hasErrors(list.items), 'a file with too many problems is not loaded');
  });
});
