import assert from 'node:assert/strict';
import {
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ensurePrivateDir } from './prepare-dirs.ts';

const skip = process.getuid?.() !== 0 && 'needs root (to give a directory to another uid)';

/**
 * An outside review (39a, F5): a state-dir or socket-dir whose directory above was not
 * there when it was judged was made in the one another user put there meanwhile, or where
 * their link pointed. Each directory is looked at as it is made or found, before anything
 * is made in it.
 */
describe('the directories root keeps its state and sockets in', { skip }, () => {
  const base = mkdtempSync(join(tmpdir(), 'dm-prepare-'));
  after(() => rmSync(base, { recursive: true, force: true }));

  test('are not made below a directory another user put on the way', () => {
    const theirs = join(base, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, 54321, 54321);
    const problem = ensurePrivateDir(join(theirs, 'state'), 0o700, true);
    assert.match(problem ?? '', /theirs is not root's \(uid 54321\)/);
    assert.equal(existsSync(join(theirs, 'state')), false);
  });

  test("are not made where another user's link points", () => {
    const target = join(base, 'roots-own');
    mkdirSync(target, { mode: 0o700 });
    const link = join(base, 'link');
    symlinkSync(target, link);
    lchownSync(link, 54321, 54321);
    const problem = ensurePrivateDir(join(link, 'sock'), 0o755, true);
    assert.match(problem ?? '', /link is not root's \(uid 54321\)/);
    assert.equal(existsSync(join(target, 'sock')), false);
  });

  test('are made, each one, in directories of root', () => {
    const path = join(base, 'a', 'b', 'state');
    assert.equal(ensurePrivateDir(path, 0o700, true), undefined);
    assert.equal(existsSync(path), true);
  });
});
