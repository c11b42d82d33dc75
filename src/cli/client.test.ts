import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { send } from './client.ts';

// A server in another process answers 100 ms after the request; this process's loop is
// held for a second meanwhile (a dmctl stopped with Ctrl-Z, a starved CPU). The answer
// came in time and waits unread: it is the answer, not "no answer within".
const SERVER = `
const net = require('node:net');
const server = net.createServer((socket) => {
  socket.once('data', () => setTimeout(() => socket.end('{"ok":true,"message":"late but in time"}\\n'), 100));
});
server.listen(process.argv[1], () => process.stdout.write('listening\\n'));
`;

test('an answer that came in time is read after a stall past the reply timeout', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-client-'));
  const path = join(dir, 'sock');
  const server = spawn(process.execPath, ['-e', SERVER, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise<void>((resolve) => server.stdout.once('data', () => resolve()));
  const asked = send(path, { command: 'status' }, 300);
  // Held once the request is out and before the answer comes (100 ms), until well past
  // the 300 ms timeout; the answer arrives while the loop is held. Held from the loop's
  // check phase, so that its next turn begins with the timers (inside a timer, the
  // expired ones are judged by the time the timers phase began).
  await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise<void>((resolve) =>
    setImmediate(() => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
      resolve();
    }),
  );
  const reply = await asked;
  assert.deepEqual(reply, { ok: true, message: 'late but in time' });
});
