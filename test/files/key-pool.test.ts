import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileOps, OP } from '../../src/files/native-ops.ts';
import { waitFor } from '../helpers/wait.ts';

// The futex(2) system call's number, where the test knows it.
const FUTEX = ({ x64: 202, arm64: 98 } as Record<string, number>)[process.arch];
const USERS = 16;

/** The tids of this process's threads of the addon's pool (native/key_pool.c names them). */
function poolThreads(): string[] {
  return readdirSync('/proc/self/task').filter((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'dm-files';
    } catch {
      return false; // It ended meanwhile.
    }
  });
}

/**
 * The system call a thread is blocked in, as /proc/PID/task/TID/syscall gives it: its
 * number and six arguments, or undefined while it runs (or has ended).
 */
function blockedIn(tid: string): { number: number; args: bigint[] } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/self/task/${tid}/syscall`, 'utf8').trim();
  } catch {
    return undefined;
  }
  const [number, ...args] = text.split(' ');
  if (number === undefined || !/^\d+$/.test(number)) return undefined;
  return { number: Number(number), args: args.slice(0, 6).map((arg) => BigInt(arg)) };
}

/** A burst: one operation of each of `USERS` users (keys) at once, each run as that uid. */
async function burst(): Promise<void> {
  const results = await Promise.all(
    Array.from({ length: USERS }, (_, index) =>
      fileOps().fileOp(OP.readChunk, 60_001 + index, 60_001 + index, [], {
        path: '/nonexistent/dm-key-pool-test',
        n1: 0,
        n2: 16,
      }),
    ),
  );
  // Each ran: it failed as it should (or, not as root, could not switch to the uid).
  for (const result of results) assert.notEqual(result.errno, 0);
}

/** Waits until the pool has no job and each of its threads is blocked in a system call. */
async function settled(): Promise<{ tid: string; number: number; args: bigint[] }[]> {
  return waitFor(
    'every thread of the pool to wait for work',
    () => {
      const counts = fileOps().filePoolCounts();
      if (counts.jobs !== 0 || counts.idle !== counts.threads) return undefined;
      const threads = poolThreads().map((tid) => ({ tid, ...blockedIn(tid) }));
      if (threads.length !== counts.threads) return undefined;
      return threads.every((thread) => thread.number !== undefined)
        ? (threads as { tid: string; number: number; args: bigint[] }[])
        : undefined;
    },
    {
      describe: () =>
        `${JSON.stringify(fileOps().filePoolCounts())}, threads ${poolThreads()
          .map((tid) => `${tid}: ${readFileSync(`/proc/self/task/${tid}/syscall`, 'utf8').trim()}`)
          .join('; ')}`,
    },
  );
}

test("after a burst one thread of the pool waits for work with no time-out, the burst's others have ended", async (t) => {
  if (FUTEX === undefined) return t.skip(`futex's number on ${process.arch} is not known here`);
  for (let round = 0; round < 2; round++) {
    // The second burst is served by the thread left waiting, and leaves one again.
    await burst();
    const threads = await settled();
    assert.equal(threads.length, 1, `one thread left, round ${round + 1}`);
    const [waiting] = threads;
    assert.equal(waiting?.number, FUTEX, 'it waits on a futex (a condition variable)');
    // futex(uaddr, op, val, timeout, ...): a wait with a deadline is a wake-up to come.
    assert.equal(waiting?.args[3], 0n, 'it waits with no time-out');
  }
});
