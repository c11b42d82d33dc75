import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { holdLoopUntil } from '../../test/helpers/stall.ts';
import { send } from './client.ts';

// A server in another process answers the request while this process's loop is held past
// the reply timeout (a dmctl stopped with Ctrl-Z, a starved CPU). The answer
// came in time and waits unread: it is the answer, not "no answer within".
const SERVER = `
const net = require('node:net');
const server = net.createServer((socket) => {
  const fs = require('node:fs');
  socket.once('data', () => {
    const answer = setInterval(() => {
      if (!fs.existsSync(process.argv[3])) return;
      clearInterval(answer);
      socket.end('{"ok":true,"message":"late but in time"}\\n', () =>
        fs.writeFileSync(process.argv[2], ''),
      );
    }, 5);
  });
});
server.listen(process.argv[1], () => process.stdout.write('listening\\n'));
`;

test('an answer that came in time is read after a stall past the reply timeout', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-client-'));
  const path = join(dir, 'sock');
  const said = join(dir, 'said');
  const holding = join(dir, 'holding');
  const server = spawn(process.execPath, ['-e', SERVER, path, said, holding], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise<void>((resolve) => server.stdout.once('data', () => resolve()));
  const asked = send(path, { command: 'status' }, 300);
  // Held once the request is out; the server answers once the hold began, and the hold
  // lasts until the answer has been sent and well past the 300 ms timeout.
  await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise<void>((resolve) =>
    setImmediate(() => {
      writeFileSync(holding, '');
      holdLoopUntil(said, 600);
      resolve();
    }),
  );
  const reply = await asked;
  assert.deepEqual(reply, { ok: true, message: 'late but in time' });
});
