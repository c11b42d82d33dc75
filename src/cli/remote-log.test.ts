import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LogChunk } from '../protocol/messages.ts';
import {
  followRemoteLog,
  lastLines,
  type ReadChunk,
  tailStart,
  WholeLines,
  withLinesBefore,
} from './remote-log.ts';

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

// An outside review (64b, F2): a log whose last line is over 1 MiB began a tail with nothing.
test('tailStart shows the end of a last line over 1 MiB', () => {
  const text = `${'x'.repeat(1024 * 1024)}\n`;
  const chunk = { data: Buffer.from(text).toString('base64'), next: 5_000_000, size: 5_000_000 };
  assert.equal(tailStart(chunk).length, text.length);
  const short = `${'x'.repeat(1000)}\n`;
  const cut = { data: Buffer.from(short).toString('base64'), next: 5_000_000, size: 5_000_000 };
  assert.equal(tailStart(cut).length, 0, 'a cut line under 1 MiB: left out');
});

// An outside review (60b, F1): a tail that fell behind showed the pieces of lines a gap cut
// as lines of their own.
describe('WholeLines', () => {
  const fed = (lines: WholeLines, text: string): string => lines.take(Buffer.from(text)).toString();

  test('shows a line once its newline has come, in this piece or a later one', () => {
    const lines = new WholeLines();
    assert.equal(fed(lines, 'a\nthe start of '), 'a\n');
    assert.equal(fed(lines, 'b, '), '');
    assert.equal(fed(lines, 'its end\nc'), 'the start of b, its end\n');
    assert.equal(lines.rest().toString(), 'c', 'the end of a log without its newline');
  });

  test('leaves out the lines a gap cut, on both sides', () => {
    const lines = new WholeLines();
    assert.equal(fed(lines, 'a\nlost its end'), 'a\n');
    lines.gap(true);
    assert.equal(fed(lines, 'the rest of a li'), '');
    assert.equal(fed(lines, 'ne\nb\n'), 'b\n');
    lines.gap(false);
    assert.equal(fed(lines, 'c\n'), 'c\n', 'a top that begins with a line');
  });

  test('shows a line longer than it holds in pieces', () => {
    const lines = new WholeLines();
    const long = 'x'.repeat(1024 * 1024 + 1);
    assert.equal(fed(lines, long).length, long.length);
    assert.equal(fed(lines, 'y\n'), 'y\n');
  });

  // An outside review (65b, F1): the next whole line after a gap was glued to the piece of a
  // line over 1 MiB the gap cut.
  test('ends the piece of a line a gap cut before the lines after it', () => {
    const lines = new WholeLines();
    fed(lines, 'x'.repeat(1024 * 1024 + 1));
    assert.equal(lines.gap(false).toString(), '\n');
    assert.equal(fed(lines, 'next\n'), 'next\n');
    assert.equal(lines.gap(false).toString(), '', 'after a whole line: nothing');
  });
});

// An outside review (62b, F1): a tail through the manager began with the whole lines of the
// last 64 KiB only (13 of 5 KB, none over 64 KiB).
describe('withLinesBefore', () => {
  /** A reader of one file, as the manager answers: a negative offset counts from the end. */
  const fileReader = (text: string, midLine = false): ReadChunk => {
    const file = Buffer.from(text);
    return async (offset, id) => {
      if (id !== undefined && id !== 'f1') return { error: 'another file' };
      const start = offset < 0 ? Math.max(0, file.length + offset) : offset;
      const data = file.subarray(start, start + 64 * 1024);
      const top = id === undefined && start === 0 && midLine;
      return {
        data: data.toString('base64'),
        next: start + data.length,
        size: file.length,
        file: 'f1',
        ...(top ? { midLine: true } : {}),
      };
    };
  };
  const tailOf = async (read: ReadChunk): Promise<string[]> => {
    const first = (await read(-64 * 1024)) as LogChunk;
    return tailStart(await withLinesBefore(read, first))
      .toString()
      .split('\n')
      .slice(0, -1);
  };
  const numbered = (count: number, length: number): string =>
    Array.from({ length: count }, (_, n) => `${`${n}`.padEnd(length, 'x')}\n`).join('');

  test('reads back until it has the last 50 whole lines', async () => {
    const shown = await tailOf(fileReader(numbered(120, 5000)));
    assert.equal(shown.length, 50);
    assert.match(shown[0] ?? '', /^70x/);
    const long = await tailOf(fileReader(numbered(60, 70_000)));
    // At most 1 MiB (and a piece) back: some 14 lines of 70 KB, the last ones.
    assert.ok(long.length > 10 && long.length < 16, `${long.length} lines`);
    assert.match(long.at(-1) ?? '', /^59x/);
  });

  test('reads back to the top, where the manager says whether it begins with a rest', async () => {
    const text = `rest of a line\n${numbered(20, 5000)}`;
    assert.equal((await tailOf(fileReader(text))).length, 21);
    assert.equal((await tailOf(fileReader(text, true))).length, 20);
  });
});

// An outside review (64b, F4): a tail through the manager ended at 10 of 26 `kill -9`s of
// the manager ("the manager closed the connection before it answered").
test('followRemoteLog asks again a manager that did not answer, from where it was', async () => {
  const answers: (LogChunk | { error: string; passing?: true })[] = [
    { data: Buffer.from('one\n').toString('base64'), next: 4, size: 4, file: 'f1' },
    { error: 'the manager closed the connection before it answered', passing: true },
    { error: 'daemon-manager is not running', passing: true },
    { data: Buffer.from('two\n').toString('base64'), next: 8, size: 8, file: 'f1' },
    { error: 'not allowed' },
  ];
  const asked: [number, string | undefined][] = [];
  const read: ReadChunk = async (offset, file) => {
    asked.push([offset, file]);
    return answers.shift() ?? { error: 'no more' };
  };
  const written: string[] = [];
  // Ends at the refusal, the last answer (said on stderr).
  assert.equal(await followRemoteLog(read, 1, (piece) => written.push(piece.toString())), 1);
  assert.equal(written.join(''), 'one\ntwo\n');
  // Asked again at the offset it had reached, in the same file.
  assert.deepEqual(asked.slice(1, 4), [
    [4, 'f1'],
    [4, 'f1'],
    [4, 'f1'],
  ]);
});

// An outside review (71a, F1): a file begun with the rest of a long line, no newline in it
// yet: nothing of it shown, but the rest that came next was shown as a line (4 of 10 tails).
test('followRemoteLog leaves out the end of a line whose start it did not show', async () => {
  const y = 'y'.repeat(3000);
  const answers: (LogChunk | { error: string })[] = [
    // From the top of the file written now, which begins with the rest of a line.
    { data: Buffer.from(y).toString('base64'), next: 3000, size: 3000, file: 'f1', midLine: true },
    // The rest of that file, rotated since, then the next one.
    { data: Buffer.from(y).toString('base64'), next: 6000, size: 6000, file: 'f1', rotated: true },
    {
      data: Buffer.from(`${y}-END\nnext\n`).toString('base64'),
      next: 3009,
      size: 3009,
      file: 'f2',
    },
    { error: 'not allowed' },
  ];
  const read: ReadChunk = async () => answers.shift() ?? { error: 'no more' };
  const written: string[] = [];
  assert.equal(await followRemoteLog(read, 1, (piece) => written.push(piece.toString())), 1);
  assert.equal(written.join(''), 'next\n');
});

// A CI run: the manager said it stops; its sockets closing refused the next look (asked
// again), and its socket was gone at the one after: the tail ended saying the manager was
// not running, not that it stopped.
test('followRemoteLog ends saying the manager stopped, whatever the last looks met', async (t) => {
  const answers: (LogChunk | { error: string; passing?: true })[] = [
    {
      data: Buffer.from('last\n').toString('base64'),
      next: 5,
      size: 5,
      file: 'f1',
      stopping: true,
    },
    { error: 'the manager closed the connection before it answered', passing: true },
    { error: 'daemon-manager is not running' },
  ];
  const read: ReadChunk = async () => answers.shift() ?? { error: 'no more' };
  const said: string[] = [];
  t.mock.method(process.stderr, 'write', (text: string) => {
    said.push(text);
    return true;
  });
  const written: string[] = [];
  assert.equal(await followRemoteLog(read, 1, (piece) => written.push(piece.toString())), 1);
  t.mock.restoreAll();
  assert.equal(written.join(''), 'last\n');
  assert.match(said.join(''), /the tail ends: daemon-manager stopped/);
});
