import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { strayKeepers } from './lock-holder.ts';

/**
 * A process whose command line is a keeper's of `socket` (argv[0] ends in dm-keeper,
 * argv[1] is the socket's path): Python running the script at that path, which forks one
 * child (the same command line, as a keeper's child before its exec) and says both pids.
 */
function fakeKeeper(socket: string): { keeper: ChildProcess; pids: Promise<number[]> } {
  const keeper = spawn('/usr/bin/python3', [socket], {
    argv0: '/opt/fake/dm-keeper',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pids = new Promise<number[]>((resolve) => {
    let text = '';
    keeper.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n')[0];
      if (text.includes('\n') && line !== undefined) resolve(line.split(' ').map(Number));
    });
  });
  return { keeper, pids };
}

const dir = mkdtempSync('/tmp/dm-lock-holder-');
const socket = join(dir, 'keeper.sock');
const started: ChildProcess[] = [];
const forked: number[] = [];
after(() => {
  for (const pid of forked)
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  for (const child of started) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('a keeper’s children before their exec are not stray keepers; another keeper is, its children not', async () => {
  // Stands for the socket's path and is the script both fakes run: it forks, both sleep.
  writeFileSync(
    socket,
    'import os, sys, time\nchild = os.fork()\nif child == 0:\n    time.sleep(60); os._exit(0)\nprint(os.getpid(), child, flush=True)\ntime.sleep(60)\n',
  );
  const own = fakeKeeper(socket);
  const stray = fakeKeeper(socket);
  started.push(own.keeper, stray.keeper);
  const [ownPid, ownChild] = await own.pids;
  const [strayPid, strayChild] = await stray.pids;
  for (const pid of [ownChild, strayChild]) if (pid) forked.push(pid);
  const found = strayKeepers(socket, ownPid ?? 0, process.getuid?.() ?? 0);
  assert.ok(!found.includes(ownChild ?? 0), 'the own keeper’s child');
  assert.ok(!found.includes(strayChild ?? 0), 'the stray keeper’s child');
  assert.deepEqual(found, [strayPid]);
});
