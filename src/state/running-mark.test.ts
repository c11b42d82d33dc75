import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { markedRunning, markRunning, unmarkRunning } from './running-mark.ts';

test('the running mark is made, seen and taken away; gone already is no failure', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-mark-'));
  try {
    assert.equal(markRunning(dir), true);
    assert.equal(markedRunning(dir), true);
    assert.equal(unmarkRunning(dir), undefined);
    assert.equal(markedRunning(dir), false);
    assert.equal(unmarkRunning(dir), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// An outside review (77b, F3, 2 of 2): on a read-only state directory the line said
// `cannot remove .../running ()`, its cause empty.
test('a mark that cannot be taken away says why', {
  skip: process.getuid?.() !== 0 && 'needs root (a read-only bind mount)',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-mark-'));
  const readOnly = join(dir, 'ro');
  mkdirSync(readOnly);
  try {
    assert.equal(markRunning(readOnly), true);
    execFileSync('mount', ['--bind', readOnly, readOnly]);
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', readOnly]);
      assert.match(unmarkRunning(readOnly) ?? '', /^cannot remove \S+\/running \(EROFS\)$/);
    } finally {
      execFileSync('umount', [readOnly]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
