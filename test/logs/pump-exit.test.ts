import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { waitFor } from '../helpers/wait.ts';

const CHILD = resolve(import.meta.dirname, '../fixtures/exit-mid-pump.ts');
const PIPES = 400;
const RUNS = 5;

/** What `child` printed so far on its stdout. */
function said(child: ChildProcess): () => string {
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return () => text;
}

/** How `child` ended: its exit status, or its signal. */
function ended(child: ChildProcess): Promise<number | NodeJS.Signals> {
  return new Promise((resolveEnd) =>
    child.once('exit', (code, signal) => resolveEnd(signal ?? code ?? -1)),
  );
}

// The log pump tells the event loop of each pipe that ends, from its own thread. A
// process that ended while it did (its event loop empty, the pipes of its daemons still
// ending) was aborted as the environment was torn down (status 134, in 1 full run of the
// tests): the pump called into what Node had freed.
const dir = mkdtempSync('/tmp/dm-pump-exit-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('a process that ends while the pump tells of pipes that end exits with status 0', async () => {
  for (let run = 0; run < RUNS; run++) {
    const fifos = Array.from({ length: PIPES }, (_, index) => join(dir, `${run}-${index}.fifo`));
    execFileSync('mkfifo', fifos);
    const child = spawn(process.execPath, [CHILD, ...fifos], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const childEnd = ended(child);
    const childSaid = said(child);
    // Writes nothing; opens every FIFO, then closes them one after the other when told.
    const writer = spawn(
      'python3',
      [
        '-c',
        'import os, sys, time\nfds = [os.open(p, os.O_WRONLY) for p in sys.argv[1:]]\nprint("open", flush=True)\nsys.stdin.readline()\nfor fd in fds:\n    os.close(fd)\n    time.sleep(0.0005)',
        ...fifos,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const writerEnd = ended(writer);
    const writerSaid = said(writer);
    try {
      await waitFor('the child to open the FIFOs', () =>
        childSaid().includes('open') ? true : undefined,
      );
      await waitFor('the writer to open the FIFOs', () =>
        writerSaid().includes('open') ? true : undefined,
      );
      child.stdin?.write('attach\n');
      await waitFor('the pump to attach every FIFO', () =>
        childSaid().includes('attached') ? true : undefined,
      );
      writer.stdin?.end('go\n');
      assert.equal(await childEnd, 0, `run ${run + 1}: the child's exit`);
      assert.equal(await writerEnd, 0, `run ${run + 1}: the writer's exit`);
    } finally {
      child.kill('SIGKILL');
      writer.kill('SIGKILL');
      await Promise.all([childEnd, writerEnd]);
    }
  }
});
