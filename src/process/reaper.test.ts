import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadNative } from './native.ts';
import { ownChild } from './own-children.ts';
import { Reaper } from './reaper.ts';

/** The state letter of `pid` in /proc (Z: a zombie), or undefined once it is reaped. */
function stateOf(pid: number): string | undefined {
  try {
    return /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'latin1'))?.[1];
  } catch {
    return undefined;
  }
}

// The manager's Reaper reaped every zombie child it found on SIGCHLD, Node's own too: a
// child that ended between libuv's SIGCHLD handling and the Reaper's was taken from libuv,
// whose `exit` then never came (an upgrade's new code ending before it was ready: the old
// manager waited for good). Here the child ends while the loop is held, and the Reaper
// looks first, as it does when its handler runs before libuv's.
test('the Reaper leaves the zombie of a child spawned through node:child_process to libuv', async () => {
  const child = ownChild(spawn('true', { stdio: 'ignore' }));
  const pid = child.pid ?? 0;
  while (stateOf(pid) !== 'Z') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  new Reaper(loadNative()).reap();
  assert.equal(stateOf(pid), 'Z', 'still there for libuv to reap');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});

test('the Reaper reaps the zombie of a child that is not node:child_process’s', async () => {
  // Spawned by Node, but not registered: as an orphan reparented to the manager is.
  const child = spawn('true', { stdio: 'ignore' });
  const pid = child.pid ?? 0;
  while (stateOf(pid) !== 'Z') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  new Reaper(loadNative()).reap();
  assert.equal(stateOf(pid), undefined, 'reaped');
  child.unref();
});
