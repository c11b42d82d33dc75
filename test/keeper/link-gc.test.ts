import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../helpers/wait.ts';

const NATIVE = join(import.meta.dirname, '../../src/process/native.ts');

/**
 * A review saw the manager abort (munmap_chunk(): invalid pointer) a few seconds after
 * its keeper died: when the dead keeper's link was garbage-collected, its memory was
 * freed through a pointer to a member in its middle. A link dropped and collected must
 * leave the process whole.
 */
describe('a keeper link that is dropped and garbage-collected', () => {
  const dir = mkdtempSync('/tmp/dm-link-');
  const socket = join(dir, 'keeper.sock');
  let listener: ChildProcess | undefined;

  before(async () => {
    // A stand-in for the keeper: a seqpacket socket that accepts and keeps connections.
    listener = spawn(
      'python3',
      [
        '-c',
        `import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1]); s.listen(8); print('ready', flush=True)
kept = []
while True:
    kept.append(s.accept()[0])`,
        socket,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let said = '';
    listener.stdout?.on('data', (chunk: Buffer) => {
      said += chunk.toString();
    });
    await waitFor('the listener', () => (said.includes('ready') ? true : undefined));
  });
  after(() => {
    listener?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('is freed whole: the process goes on and exits 0', () => {
    const script = `
      import { loadNative } from ${JSON.stringify(NATIVE)};
      const native = loadNative();
      for (let i = 0; i < 20; i++) {
        const link = native.connectKeeper(${JSON.stringify(socket)}, () => {});
        link.close();
      }
      for (let round = 0; round < 5; round++) {
        globalThis.gc();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      console.log('survived');
    `;
    const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    assert.equal(run.signal, null, run.stderr);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /survived/);
  });
});
