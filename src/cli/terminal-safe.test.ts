import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sequenceLength, TerminalSafe } from './terminal-safe.ts';

const shown = (...pieces: (string | number[])[]): string => {
  const safe = new TerminalSafe();
  return pieces
    .map((piece) =>
      safe.text(typeof piece === 'string' ? Buffer.from(piece, 'utf8') : Buffer.from(piece)),
    )
    .join('');
};

test('text, line breaks and tabs as they are; control characters escaped', () => {
  assert.equal(shown('a\tb\nc\x1b[2J\n'), 'a\tb\nc\\x1b[2J\n');
});

// An outside review (64b, F7): bytes that are not UTF-8 became U+FFFD, lost.
test('each byte that is not part of valid UTF-8 is shown escaped, not replaced', () => {
  assert.equal(shown([0x66, 0x66, 0xfe, 0xff, 0x0a]), 'ff\\xfe\\xff\n');
  assert.equal(shown([0xc0, 0xaf]), '\\xc0\\xaf', 'an overlong form');
  assert.equal(shown([0xed, 0xa0, 0x80]), '\\xed\\xa0\\x80', 'a surrogate');
  assert.equal(shown([0xe2, 0x82, 0x41]), '\\xe2\\x82A', 'a sequence cut short');
  assert.equal(shown('é€😀\uFFFD'), 'é€😀\uFFFD', 'valid characters, U+FFFD itself too');
});

test('a character split between pieces is shown whole', () => {
  assert.equal(shown([0x61, 0xe2, 0x82], [0xac, 0x62]), 'a€b');
  assert.equal(shown([0xf0], [0x9f, 0x98], [0x80]), '😀');
});

test('sequenceLength', () => {
  assert.equal(sequenceLength(Buffer.from([0xc3, 0xa9]), 0), 2);
  assert.equal(sequenceLength(Buffer.from([0xf4, 0x90, 0x80, 0x80]), 0), 0, 'past U+10FFFF');
  assert.equal(sequenceLength(Buffer.from([0xe2, 0x82]), 0), -1, 'ends before it does');
  assert.equal(sequenceLength(Buffer.from([0x80]), 0), 0, 'a stray continuation byte');
});
