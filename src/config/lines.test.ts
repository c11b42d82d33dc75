import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ConfigLine, decodeConfigText, meaningfulLines } from './lines.ts';

describe('meaningfulLines', () => {
  const cases: { name: string; text: string; expected: ConfigLine[] }[] = [
    { name: 'empty text has none', text: '', expected: [] },
    {
      name: 'blank and comment-only lines are dropped',
      text: '\n  \n\t\n# c\n   # d\n',
      expected: [],
    },
    {
      name: 'lines are numbered from 1, counting dropped lines',
      text: '# c\n\na\n\nb',
      expected: [
        { line: 3, text: 'a' },
        { line: 5, text: 'b' },
      ],
    },
    {
      name: 'a # anywhere starts a comment',
      text: 'start=echo a#b # c',
      expected: [{ line: 1, text: 'start=echo a', cutWord: true }],
    },
    {
      name: 'white space around the text is trimmed, inside kept',
      text: ' \t key =  a  b \t ',
      expected: [{ line: 1, text: 'key =  a  b' }],
    },
    {
      name: 'a carriage return before the newline is trimmed',
      text: 'a\r\nb\r\n',
      expected: [
        { line: 1, text: 'a' },
        { line: 2, text: 'b' },
      ],
    },
    {
      name: 'a last line without a newline counts',
      text: 'a\nb',
      expected: [
        { line: 1, text: 'a' },
        { line: 2, text: 'b' },
      ],
    },
  ];
  for (const { name, text, expected } of cases) {
    test(name, () => {
      assert.deepEqual(meaningfulLines(text), expected);
    });
  }
});

describe('decodeConfigText', () => {
  const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
  const cases: {
    name: string;
    input: Uint8Array;
    expected: { text: string } | { error: string };
  }[] = [
    { name: 'empty bytes are empty text', input: bytes(), expected: { text: '' } },
    {
      name: 'ASCII decodes as is',
      input: new TextEncoder().encode('start=exec ./blog\n'),
      expected: { text: 'start=exec ./blog\n' },
    },
    {
      name: 'UTF-8 decodes to its characters',
      input: bytes(0x63, 0x61, 0x66, 0xc3, 0xa9),
      expected: { text: 'café' },
    },
    {
      name: 'a NUL byte means not a text file',
      input: bytes(0x61, 0x00, 0x62),
      expected: { error: 'contains NUL bytes: not a text file' },
    },
    {
      name: 'a NUL byte wins over invalid UTF-8',
      input: bytes(0xff, 0x00),
      expected: { error: 'contains NUL bytes: not a text file' },
    },
    {
      name: 'a lone continuation byte is invalid UTF-8',
      input: bytes(0x61, 0x80),
      expected: { error: 'is not valid UTF-8 text' },
    },
    {
      name: 'a Latin-1 é is invalid UTF-8',
      input: bytes(0x63, 0x61, 0x66, 0xe9),
      expected: { error: 'is not valid UTF-8 text' },
    },
    {
      name: 'a truncated multi-byte sequence is invalid UTF-8',
      input: bytes(0x61, 0xe2, 0x82),
      expected: { error: 'is not valid UTF-8 text' },
    },
    {
      name: 'an overlong encoding is invalid UTF-8',
      input: bytes(0xc0, 0xaf),
      expected: { error: 'is not valid UTF-8 text' },
    },
  ];
  for (const { name, input, expected } of cases) {
    test(name, () => {
      assert.deepEqual(decodeConfigText(input), expected);
    });
  }
});
