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

// A Node that fills V8's heap with 300,000 objects, drops them, and reports the same.
const V8_CHILD = `
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const native = createRequire(import.meta.url)(process.argv[1]);
const dirtyKiB = () =>
  Number(/Private_Dirty:\\s+(\\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))[1]);
let objects = [];
for (let i = 0; i < 300_000; i++) objects.push({ i, text: \`object \${i}\` });
objects = null;
const before = dirtyKiB();
native.trimMemory();
console.log(JSON.stringify({ before, after: dirtyKiB(), released: true }));
`;

function measure(child: string, flags: string[]): Record<string, number | boolean> {
  const run = spawnSync(
    process.execPath,
    [...flags, '--input-type=module', '-e', child, findBuilt('dm_native.node')],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, number | boolean>;
}

test('trimMemory gives the free pages inside glibc heaps back to the kernel', () => {
  const { before, after, released } = measure(CHILD, ['--expose-gc']);
  assert.equal(released, true);
  assert.ok(
    (before as number) - (after as number) > 16 * 1024,
    `private dirty went from ${before} KiB to ${after} KiB: expected 16 MiB or more back`,
  );
});

test('trimMemory gives back the pages V8 kept after its garbage was collected', () => {
  const { before, after } = measure(V8_CHILD, []);
  assert.ok(
    (before as number) - (after as number) > 16 * 1024,
    `private dirty went from ${before} KiB to ${after} KiB: expected 16 MiB or more back`,
  );
});
