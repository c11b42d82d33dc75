import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValidDaemonName } from '../config/daemon.ts';
import { fileOps } from './native-ops.ts';

/**
 * readConfigDir (native/conf_dir.c) drops the `*.conf` files whose name cannot be a
 * daemon's before JS sees them; the rule it applies must be the config's own.
 */
function names(): string[] {
  const all: string[] = ['', 'a', 'web', 'web.1', 'a@b+c-d_e.f', '_x', 'Z9'];
  // Every character below 256 (and a few beyond), first, then after a valid letter.
  for (let code = 0; code < 256; code++) {
    const char = String.fromCharCode(code);
    all.push(char, `a${char}`, `${char}a`, `a${char}b`);
  }
  for (const char of ['é', '€', '😀', '\u2028', '\uFEFF']) all.push(char, `a${char}`, `${char}a`);
  for (const length of [1, 127, 128, 129, 200])
    all.push('a'.repeat(length), `${'b'.repeat(length - 1)}.`);
  for (const first of ['.', '@', '+', '-']) all.push(`${first}web`);
  return all;
}

test('the native listing and the config agree on what a daemon name is', () => {
  const native = fileOps();
  const disagree = names().filter((name) => native.isDaemonName(name) !== isValidDaemonName(name));
  assert.deepEqual(
    disagree.map((name) => JSON.stringify(name)),
    [],
  );
});

test('a name with a NUL inside is not a daemon name for either rule', () => {
  assert.equal(fileOps().isDaemonName('a\0b'), false);
  assert.equal(isValidDaemonName('a\0b'), false);
});
