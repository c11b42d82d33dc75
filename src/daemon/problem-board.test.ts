import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Problem } from '../config/problems.ts';
import { PROBLEMS_KEPT_PER_USER, ProblemBoard } from './problem-board.ts';

function problems(file: string, count: number): Problem[] {
  return Array.from({ length: count }, (_, index) => ({
    file,
    line: index + 1,
    severity: 'warning',
    message: 'odd',
  }));
}

describe('ProblemBoard', () => {
  test('keeps every problem of a user below the cap, formatted', () => {
    const board = new ProblemBoard();
    board.set('amy', '/a.conf', problems('/a.conf', 2));
    assert.deepEqual(board.formatted(['amy']), [
      '/a.conf:1: warning: odd',
      '/a.conf:2: warning: odd',
    ]);
    assert.equal(board.count('amy'), 2);
  });

  test('past the cap per user, problems are counted and said in one last line', () => {
    const board = new ProblemBoard();
    for (let file = 0; file < 1000; file++)
      board.set('mallory', `/m/${file}.conf`, problems(`/m/${file}.conf`, 100));
    const lines = board.formatted(['mallory']);
    assert.equal(lines.length, PROBLEMS_KEPT_PER_USER + 1);
    assert.equal(
      lines.at(-1),
      `... and ${100_000 - PROBLEMS_KEPT_PER_USER} more problems in the files of mallory`,
    );
    assert.equal(board.count('mallory'), 100_000);
  });

  test("one user's flood does not cut another user's problems", () => {
    const board = new ProblemBoard();
    board.set('mallory', '/m.conf', problems('/m.conf', 5000));
    board.set('amy', '/a.conf', problems('/a.conf', 3));
    assert.equal(board.formatted(['amy']).length, 3);
  });

  test('a file read again replaces its own problems', () => {
    const board = new ProblemBoard();
    board.set('amy', '/a.conf', problems('/a.conf', 3));
    board.set('amy', '/a.conf', problems('/a.conf', 1));
    assert.equal(board.count('amy'), 1);
    board.set('amy', '/a.conf', []);
    assert.deepEqual(board.formatted(['amy']), []);
  });
});
