import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fitLines, printable, printableCut, printableJson, printableLines } from './printable.ts';

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
    ['a combining grapheme joiner, invisible', 'web\u034f', 'web\\u034f'],
    ['Hangul fillers', '\u3164\u115f\uffa0', '\\u3164\\u115f\\uffa0'],
    ['a variation selector', 'a\ufe0fb', 'a\\ufe0fb'],
    ['a private-use character', 'a\ue000b', 'a\\ue000b'],
    ['an unassigned code point', 'a\u{e0fff}b', 'a\\u{e0fff}b'],
    ['a lone surrogate', 'a\ud800b', 'a\\ud800b'],
    ['a combining mark with nothing to combine with', '\u0301ab \u0301c', '\\u0301ab \\u0301c'],
    [
      'marks stacked past two on a character',
      'e\u0301\u0302\u0303\u0304',
      'e\u0301\u0302\\u0303\\u0304',
    ],
    [
      'Hangul final jamo stacked on a syllable, or a vowel jamo alone',
      '\u1100\u1161\u11a8\u11a8\u11a8 \u1161',
      '\u1100\u1161\u11a8\\u11a8\\u11a8 \\u1161',
    ],
    [
      'Hangul written in jamo, and in syllables',
      '\u1112\u1161\u11ab \ud55c\uae00',
      '\u1112\u1161\u11ab \ud55c\uae00',
    ],
    [
      'one or two accents, and Devanagari',
      'e\u0301 \u0915\u094d\u0937\u093f',
      'e\u0301 \u0915\u094d\u0937\u093f',
    ],
  ];
  for (const [what, input, expected] of cases)
    test(`escapes ${what}`, () => {
      assert.equal(printable(input), expected);
    });

  test('printableCut bounds what is shown, escapes included, never cutting one in half', () => {
    const text = '\u034f'.repeat(600);
    assert.equal(printable(text).length, 3600);
    const cut = printableCut(text, 600, '...');
    assert.equal(cut, `${'\\u034f'.repeat(100)}...`);
    for (let most = 590; most < 600; most++)
      assert.match(printableCut(`ab${text}`, most), /^ab(\\u034f)*…$/);
    assert.equal(printableCut('short', 600), 'short');
    assert.equal(printableCut(`${'x'.repeat(9)}\u{1f600}`, 10, ''), 'x'.repeat(9));
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

  // Only the runs past ASCII are looked at: the same text as the class over the whole.
  test('escapes the same characters wherever they are among ASCII and other characters', () => {
    const all = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\p{Default_Ignorable_Code_Point}]/gu;
    const pieces = [
      'a',
      '…',
      '\u007f',
      '\u009b',
      '\u202e',
      '\u{e0001}',
      'é',
      '\u2028',
      '\u{1f600}',
      '"',
      '\u00ad',
    ];
    for (let seed = 1; seed <= 200; seed++) {
      let text = '';
      for (let at = 0, next = seed; at < 12; at++, next = (next * 1103515245 + 12345) % 2147483648)
        text += pieces[next % pieces.length];
      const expected = JSON.stringify({ text }).replace(all, (character) => {
        let escaped = '';
        for (let index = 0; index < character.length; index++)
          escaped += `\\u${character.charCodeAt(index).toString(16).padStart(4, '0')}`;
        return escaped;
      });
      assert.equal(printableJson({ text }), expected, JSON.stringify(text));
      assert.deepEqual(JSON.parse(printableJson({ text })), { text });
    }
  });

  test('indents like JSON.stringify', () => {
    assert.equal(printableJson([{ a: 1 }], 2), JSON.stringify([{ a: 1 }], null, 2));
  });
});

describe('fitLines', () => {
  const cases: [string, string, number, string][] = [
    ['a line that fits stays whole', 'abcdef\nabc', 6, 'abcdef\nabc'],
    ['a longer line ends with … (two columns)', 'abcdefg\nab', 6, 'abcd…\nab'],
    ['wide characters count two', '日本語日本語', 8, '日本語…'],
    ['the final newline is kept', 'abcdefghij\n', 6, 'abcd…\n'],
  ];
  for (const [what, input, columns, expected] of cases)
    test(what, () => assert.equal(fitLines(input, columns), expected));
});
