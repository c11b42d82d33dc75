import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { holdLoopUntil } from '../../test/helpers/stall.ts';
import { deadline } from './silence.ts';

// Another process says something while this process's loop is held past the deadline:
// what came in time is read before the deadline is judged, and calls it off.
const SPEAKER = `
const fs = require('node:fs');
const speak = setInterval(() => {
  if (!fs.existsSync(process.argv[2])) return;
  clearInterval(speak);
  process.stdout.write('in time\\n', () => fs.writeFileSync(process.argv[1], ''));
}, 5);
`;

test('a deadline is judged after what came in time is read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-silence-'));
  const said = join(dir, 'said');
  const holding = join(dir, 'holding');
  const child = spawn(process.execPath, ['-e', SPEAKER, said, holding], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const outcome = await new Promise<string>((resolve) => {
    const timer = deadline(300, () => resolve('expired'));
    child.stdout.once('data', () => {
      timer.cancel();
      resolve('read');
    });
    setImmediate(() => {
      writeFileSync(holding, '');
      holdLoopUntil(said, 600);
    });
  });
  assert.equal(outcome, 'read');
});

test('a deadline with nothing come expires, and a cancelled one does not', async () => {
  const expired = await new Promise<boolean>((resolve) => {
    deadline(10, () => resolve(true));
  });
  assert.equal(expired, true);
  let called = false;
  const cancelled = deadline(10, () => {
    called = true;
  });
  cancelled.cancel();
  // The first deadline armed after it expires after it would have.
  await new Promise<void>((resolve) => deadline(20, resolve));
  assert.equal(called, false);
});
