import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { numberedFeed, numberedText } from '../helpers/pipes.ts';
import { waitFor } from '../helpers/wait.ts';

const CHILD = resolve(import.meta.dirname, '../fixtures/pump-child.ts');
const LINES = 1_000_000;

/** Everything still in the FIFO, read through `fd` until its writer is done. */
function readRest(fd: number): Promise<string> {
  return new Promise((resolveRest, reject) => {
    const socket = new Socket({ fd, readable: true, writable: false });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolveRest(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}

describe('a SIGKILL of the process running the pump loses no line', () => {
  const dir = mkdtempSync('/tmp/dm-pump-kill-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const mode of ['plain', 'timestamps'] as const) {
    test(`${mode}: what is not in the file is still in the pipe`, async () => {
      // The test holds a read end of its own: when the pump dies, the pipe and what is
      // in it live on, as they will in the keeper.
      const feed = numberedFeed(dir, mode, LINES);
      const log = join(dir, `${mode}.log`);
      const child = spawn(process.execPath, [CHILD, feed.path, log, mode], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
      try {
        let said = '';
        child.stdout.on('data', (chunk: Buffer) => {
          said += chunk.toString();
        });
        await waitFor('the pump to attach', () => (said.includes('attached') ? true : undefined));
        await waitFor(
          '10 MB to be in the log',
          () => (statSync(log).size > 10_000_000 ? true : undefined),
          {
            timeoutMs: 120_000,
          },
        );
        child.kill('SIGKILL');
        await exited;
      } finally {
        child.kill('SIGKILL');
      }
      const rest = await readRest(feed.readFd);
      const logged = readFileSync(log, 'utf8');
      const expected = numberedText(LINES);
      if (mode === 'plain') {
        assert.ok(logged.length + rest.length === expected.length, 'nothing lost, nothing doubled');
        assert.ok(logged + rest === expected, 'file then pipe: every line, in order');
        return;
      }
      // Copy mode: the chunk written but not yet consumed when the kill came may be in both.
      // Every line of the log starts with a stamp, the last one too if the kill cut it.
      const lines = logged.split('\n');
      for (const line of lines.slice(0, -1))
        assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]{12}Z line /);
      const unstamped = lines.map((line) => line.slice(25)).join('\n');
      assert.ok(expected.startsWith(unstamped), 'the log holds the first lines, in order');
      assert.ok(expected.endsWith(rest), 'the pipe holds the last lines, in order');
      const doubled = unstamped.length + rest.length - expected.length;
      assert.ok(doubled >= 0, `nothing lost (${-doubled} bytes missing)`);
      assert.ok(doubled <= 64 * 1024, `at most a chunk written twice (${doubled} bytes)`);
    });
  }
});
