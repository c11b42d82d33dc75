import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { sha256 } from './sha256.ts';

const nodeSha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest();

test('sha256 of a string is node:crypto’s digest of its UTF-8', () => {
  for (const text of [
    '',
    'abc',
    'start=exec sleep 100000\n',
    'h\u00e9llo \u2603 \u{1f600}',
    'x'.repeat(300_000),
  ])
    assert.deepEqual(sha256(text), nodeSha256(text));
});

test('a lone surrogate is digested as node:crypto does: U+FFFD', () => {
  for (const text of ['\ud800', 'a\udc00b', 'end\ud83d'])
    assert.deepEqual(sha256(text), nodeSha256(text));
});

test('sha256 of bytes digests exactly the view it is given', () => {
  const bytes = Buffer.from('0123456789\u0000\u00ff', 'latin1');
  assert.deepEqual(sha256(bytes), nodeSha256(bytes));
  const view = bytes.subarray(3, 7);
  assert.deepEqual(sha256(view), nodeSha256(view));
});

test('sha256 refuses what is neither a string nor bytes', () => {
  assert.throws(() => sha256(5 as unknown as string), TypeError);
  assert.throws(() => sha256(new Uint16Array(2) as unknown as Uint8Array), TypeError);
});
