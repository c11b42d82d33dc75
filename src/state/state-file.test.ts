import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { SavedState } from './snapshot.ts';
import { StateFile } from './state-file.ts';

describe('StateFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-state-file-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const state = (nextSeq: number): SavedState => ({
    version: 2,
    clean: false,
    nextSeq,
    daemons: {},
  });
  const copied = (file: StateFile): number =>
    JSON.parse(readFileSync(file.copyPath, 'utf8')).nextSeq;

  // The text of a save is kept only until its copy is written (a quarter of a KiB per
  // daemon): each copy must still be of the latest state saved.
  test('the copy gets the state last saved, whichever save came last', async () => {
    const file = new StateFile(dir);
    assert.equal(file.copyPending(), false);
    await file.saveAsync(state(1));
    assert.equal(file.copyPending(), true);
    await file.copyAsync();
    assert.equal(copied(file), 1);
    assert.equal(file.copyPending(), false);
    await file.copyAsync();
    assert.equal(copied(file), 1, 'nothing left to copy');

    // A save during a copy: the copy under way is of the older state, and one is still due.
    await file.saveAsync(state(2));
    const copying = file.copyAsync();
    await file.saveAsync(state(3));
    await copying;
    assert.equal(file.copyPending(), true);
    await file.copyAsync();
    assert.equal(copied(file), 3);

    // A save on the event loop writes both at once: nothing pending after it.
    await file.saveAsync(state(4));
    file.save(state(5));
    assert.equal(file.copyPending(), false);
    await file.copyAsync();
    assert.equal(copied(file), 5);
    const loaded = file.load();
    assert.ok(loaded !== undefined && !('error' in loaded));
    assert.equal(loaded.nextSeq, 5);
  });
});
