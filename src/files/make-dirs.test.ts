import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeDirs } from './make-dirs.ts';

test('makeDirs makes every missing component, and leaves what exists', () => {
  const base = mkdtempSync(join(tmpdir(), 'make-dirs-'));
  try {
    makeDirs(join(base, 'a/b/c'), 0o700);
    assert.ok(statSync(join(base, 'a/b/c')).isDirectory());
    makeDirs(join(base, 'a/b/c'), 0o700);
  } finally {
    rmSync(base, { recursive: true });
  }
});

// Node's recursive mkdir loops for ever there (a review's state-dir = /proc/nope/state).
test('makeDirs fails at once where a directory cannot be made under an existing parent', () => {
  assert.throws(() => makeDirs('/proc/nope/state', 0o700), { code: 'ENOENT' });
});
