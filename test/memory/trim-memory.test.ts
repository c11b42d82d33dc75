import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { findBuilt } from '../../src/process/native.ts';

// A Node that mallocs 32 MB in small blocks, frees all but the last (so that glibc cannot
// give them back from the top of its heap), and reports its private dirty memory before
// and after trimMemory(). A child of its own: the test runner's memory would blur it.
const CHILD = `
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const native = createRequire(import.meta.url)(process.argv[1]);
const dirtyKiB = () =>
  Number(/Private_Dirty:\\s+(\\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))[1]);
let blocks = [];
for (let i = 0; i < 8000; i++) blocks.push(Buffer.allocUnsafeSlow(4000).fill(1));
const last = Buffer.allocUnsafeSlow(4000).fill(1);
blocks = [];
globalThis.gc();
const before = dirtyKiB();
const released = native.trimMemory();
console.log(JSON.stringify({ before, after: dirtyKiB(), released, last: last.length }));
`;

test('trimMemory gives the free pages inside glibc heaps back to the kernel', () => {
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', '--input-type=module', '-e', CHILD, findBuilt('dm_native.node')],
    { encoding: 'utf8' },
  );
  assert.equal(child.status, 0, child.stderr);
  const { before, after, released } = JSON.parse(child.stdout) as Record<string, number | boolean>;
  assert.equal(released, true);
  assert.ok(
    (before as number) - (after as number) > 16 * 1024,
    `private dirty went from ${before} KiB to ${after} KiB: expected 16 MiB or more back`,
  );
});
