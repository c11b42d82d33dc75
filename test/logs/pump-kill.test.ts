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

describe('with a journal, SIGKILLs of the pump at any moment write every line once, whole', () => {
  const dir = mkdtempSync('/tmp/dm-pump-journal-');
  after(() => rmSync(dir, { recursive: true, force: true }));
  const KILLS = 20;
  const JOURNAL_LINES = 600_000;

  /** Resolves once `path` is larger than `size`, looking at every turn of the event loop. */
  async function untilGrown(path: string, size: number, what: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (statSync(path).size <= size) {
      if (Date.now() > deadline)
        throw new Error(
          `${what}: ${path} did not grow past ${size} bytes (${statSync(path).size})`,
        );
      await new Promise((next) => setImmediate(next));
    }
  }

  /** A pump child on the feed; resolves once it has attached. */
  async function startChild(feedPath: string, log: string, journal: string) {
    const child = spawn(process.execPath, [CHILD, feedPath, log, 'timestamps', journal], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
    let said = '';
    let attached: () => void = () => {};
    const attaching = new Promise<void>((resolveAttach) => {
      attached = resolveAttach;
    });
    child.stdout.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      if (said.includes('attached')) attached();
    });
    await Promise.race([
      attaching,
      exited.then(() => Promise.reject(new Error(`the pump child exited: ${said}`))),
    ]);
    return { child, exited, said: () => said };
  }

  test(`timestamps: ${KILLS} kills while the log grows, then the pipe read to its end`, async () => {
    const feed = numberedFeed(dir, 'journal', JOURNAL_LINES);
    const log = join(dir, 'journal.log');
    const journal = join(dir, 'journal.journal');
    for (let kill = 1; kill <= KILLS; kill++) {
      const from = statSync(log, { throwIfNoEntry: false })?.size ?? 0;
      const { child, exited } = await startChild(feed.path, log, journal);
      try {
        // Killed at whatever moment its copy path is in when the log has grown 1 MB
        // (looked at between turns of the event loop: waitFor's 25 ms are 5 MB here).
        await untilGrown(log, from + 1_000_000, `kill ${kill}`);
        child.kill('SIGKILL');
        await exited;
      } finally {
        child.kill('SIGKILL');
      }
    }
    const last = await startChild(feed.path, log, journal);
    try {
      await waitFor(
        'the last pump to read the pipe to its end',
        () => (last.said().includes('eof') ? true : undefined),
        { timeoutMs: 120_000 },
      );
    } finally {
      last.child.kill('SIGKILL');
    }
    const lines = readFileSync(log, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'the log ends with a whole line');
    const torn = lines.filter((line) => !/^\d{4}-\d\d-\d\dT[\d:.]{12}Z line \d+ x+$/.test(line));
    assert.deepEqual(torn.slice(0, 3), [], 'every line whole, with one stamp');
    const numbers = lines.map((line) => Number(line.split(' ')[2]));
    const misplaced = numbers.findIndex((n, index) => n !== index + 1);
    assert.equal(
      misplaced,
      -1,
      `every line once, in order (line ${misplaced + 1} of the log is number ${numbers[misplaced]})`,
    );
    assert.equal(lines.length, JOURNAL_LINES, 'every line');
    const kept = statSync(journal).size;
    assert.ok(kept < 9 * 1024 * 1024, `the journal is emptied as it goes (${kept} bytes)`);
  });
});
