import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { UserFiles } from './user-files.ts';

/** Holds the event loop for `ms`, as a stall of the manager would (a starved CPU, SIGSTOP). */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;

test('an operation that returned in time counts though the manager stalled past its deadline before reading it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-user-files-'));
  try {
    const files = new UserFiles({ name: 'me', uid, gid, home: dir }, [gid], { deadlineMs: 50 });
    const made = files.mkdirs([join(dir, 'a')], 0o755);
    // The operation ends on the addon's thread at once; its answer waits for the loop.
    stall(300);
    assert.deepEqual(await made, { ok: true, value: undefined });
    // And the user is not taken for one whose tree hangs.
    assert.deepEqual(await files.mkdirs([join(dir, 'b')], 0o755), { ok: true, value: undefined });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
