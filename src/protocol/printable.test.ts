import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { printable, printableJson, printableLines } from './printable.ts';

describe('printable', () => {
  const cases: [string, string, string][] = [
    ['plain text', 'start=exec ./blog --port 80', 'start=exec ./blog --port 80'],
    ['accents and CJK', 'café 日本語', 'café 日本語'],
    ['ESC of a colour sequence', 'a\u001b[31mred', 'a\\x1b[31mred'],
    ['CR that would overwrite the line', 'ok\rforged', 'ok\\rforged'],
    ['newline', 'one\ntwo', 'one\\ntwo'],
    ['tab', 'a\tb', 'a\\tb'],
    ['NUL and BEL', '\u0000\u0007', '\\x00\\x07'],
    ['DEL', 'a\u007fb', 'a\\x7fb'],
    ['C1 CSI', 'a\u009b31mb', 'a\\x9b31mb'],
    ['line separator', 'a\u2028b', 'a\\u2028b'],
    ['paragraph separator', 'a\u2029b', 'a\\u2029b'],
    ['right-to-left override', 'evil\u202etxt.conf', 'evil\\u202etxt.conf'],
    ['zero-width space', 'a\u200bb', 'a\\u200bb'],
    ['a language tag above U+FFFF', 'a\u{e0001}b', 'a\\u{e0001}b'],
    ['a backslash stays', 'C:\\path', 'C:\\path'],
  ];
  for (const [what, input, expected] of cases)
    test(`escapes ${what}`, () => {
      assert.equal(printable(input), expected);
    });

  test('printableLines keeps line breaks and escapes within lines', () => {
    assert.equal(printableLines('a\rb\nc\u001bd\n'), 'a\\rb\nc\\x1bd\n');
  });
});

describe('printableJson', () => {
  test('escapes what JSON.stringify leaves raw, and parses back to the same value', () => {
    const value = { id: 'a\u009bb\u007f\u2028\u202e\u{e0001}', n: 1, ok: ['\u001b'] };
    const text = printableJson(value);
    assert.ok(!/[\p{Cc}\p{Cf}\p{Zl}]/u.test(text), text);
    assert.deepEqual(JSON.parse(text), value);
  });

  test('a lone DEL, or one non-ASCII character, in ASCII text is still escaped', () => {
    for (const raw of ['abc\u007fdef', `${'x'.repeat(1000)}\u202e`, 'caf\u00e9 \u2028']) {
      const text = printableJson({ raw });
      assert.ok(!/[\p{Cc}\p{Cf}\p{Zl}]/u.test(text), text);
      assert.deepEqual(JSON.parse(text), { raw });
    }
    assert.equal(printableJson({ plain: 'ascii only' }), '{"plain":"ascii only"}');
  });

  test('indents like JSON.stringify', () => {
    assert.equal(printableJson([{ a: 1 }], 2), JSON.stringify([{ a: 1 }], null, 2));
  });
});
