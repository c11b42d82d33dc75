import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const DIST = resolve(import.meta.dirname, '../../dist');
const NODE = resolve(import.meta.dirname, '../../node_modules/node/bin/node');

/** The modules a bundle imports statically, and those it imports when a command runs. */
function importsOf(file: string): { static: string[]; lazy: string[] } {
  const text = readFileSync(join(DIST, file), 'utf8');
  return {
    static: [...text.matchAll(/^(?:import|} from|export) .*?"([^"]+)";$/gm)].map((m) => m[1] ?? ''),
    lazy: [...text.matchAll(/\bimport\("([^"]+)"\)/g)].map((m) => m[1] ?? ''),
  };
}

test('dmctl status loads one file and no built-in that only other commands need', () => {
  const { static: modules } = importsOf('dmctl.mjs');
  assert.deepEqual(
    [...new Set(modules)].sort(),
    ['node:fs', 'node:net', 'node:os', 'node:path'],
    'dist/dmctl.mjs imports more than status needs: import the rest where it is used',
  );
});

test('every module dmctl imports when a command runs is a file of dist/', () => {
  const { lazy } = importsOf('dmctl.mjs');
  assert.ok(lazy.length > 0);
  for (const name of lazy) assert.ok(existsSync(join(DIST, name)), `dist/${name} is missing`);
});

test('a command whose modules are imported when it runs still works: completion', () => {
  const run = spawnSync(NODE, [join(DIST, 'dmctl.mjs'), 'completion', 'bash'], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /complete -F/);
});
