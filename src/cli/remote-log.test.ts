import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lastLines, tailStart } from './remote-log.ts';

describe('lastLines', () => {
  const cases: [string, string, boolean, number, string][] = [
    ['from the top, fewer lines than asked: everything', 'a\nb\n', true, 5, 'a\nb\n'],
    ['from the top, more lines than asked: the last ones', 'a\nb\nc\n', true, 2, 'b\nc\n'],
    [
      'a piece of the file: its cut first line is left out',
      'rt of a line\nb\nc\n',
      false,
      5,
      'b\nc\n',
    ],
    ['a last line still being written counts as a line', 'a\nb\nc', true, 2, 'b\nc'],
    ['a piece that is one cut line shows nothing', 'no newline at all', false, 5, ''],
    ['a piece whose only newline ends it shows nothing', 'cut line\n', false, 5, ''],
    ['an empty file', '', true, 5, ''],
  ];
  for (const [what, data, fromTop, lines, expected] of cases)
    test(what, () => {
      assert.equal(lastLines(Buffer.from(data), fromTop, lines).toString(), expected);
    });
});

// An outside review (56b, F5): a tail through the manager began with the end of a line
// over 4 KiB that a rotation had split, not with whole lines.
test('tailStart leaves out the rest of a line the file before began', () => {
  const text = 'rest of a long line\nb\nc\n';
  const chunk = {
    data: Buffer.from(text).toString('base64'),
    next: text.length,
    size: text.length,
  };
  assert.equal(tailStart(chunk).toString(), text, 'a file that begins with a line');
  assert.equal(tailStart({ ...chunk, midLine: true }).toString(), 'b\nc\n');
});
