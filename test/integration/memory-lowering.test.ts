import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lowerMemoryLimit, type MemoryKill } from '../../src/daemon/memory-lowering.ts';
import { cgroup2Mount, processState } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const MEMORY = '/sys/fs/cgroup/memory';
const hasMemory = existsSync(join(MEMORY, 'cgroup.procs'));
const unified = cgroup2Mount();

/** The resident memory of a process, in bytes. */
const residentOf = (pid: number): number =>
  Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? 0) *
  1024;

/**
 * lowerMemoryLimit against a real v1 memory cgroup: what it does when the kernel refuses a
 * limit (EBUSY) and memory is given back between that refusal and its look at the cgroup.
 */
describe('a memory limit refused while memory is being given back', {
  skip:
    (!root && 'needs root') ||
    (!hasMemory && 'no v1 memory hierarchy') ||
    (unified === undefined && 'no cgroup2 hierarchy'),
}, () => {
  const name = `dm-test-lowering-${process.pid}`;
  const memory = join(MEMORY, name);
  const leaves = {
    big: join(unified ?? '', name, 'big'),
    small: join(unified ?? '', name, 'small'),
  };
  const children: ChildProcess[] = [];

  /** A process in the memory cgroup and in `leaf` that holds `mb` MB of touched memory. */
  const holder = async (leaf: string, mb: number): Promise<number> => {
    const child = spawn(
      'sh',
      [
        '-c',
        `echo $$ > ${memory}/cgroup.procs && echo $$ > ${leaf}/cgroup.procs && exec python3 -c "import time; x = b'x' * (${mb} * 1024 * 1024); time.sleep(100000)"`,
      ],
      { stdio: 'ignore' },
    );
    children.push(child);
    const pid = child.pid ?? 0;
    await waitFor(`pid ${pid} to hold ${mb} MB`, () =>
      residentOf(pid) > mb * 1_000_000 ? true : undefined,
    );
    return pid;
  };

  before(() => {
    mkdirSync(memory);
    mkdirSync(leaves.big, { recursive: true });
    mkdirSync(leaves.small);
  });
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null)
        await new Promise((resolve) => child.once('exit', resolve));
    for (const path of [leaves.big, leaves.small, join(unified ?? '', name), memory])
      try {
        rmdirSync(path);
      } catch {
        // Not made.
      }
  });

  // A full run of the tests: a stop's SIGKILL ended a daemon between the kernel's refusal
  // and the look at what the cgroup held; the user then held 48 MiB of the 64 asked, and
  // a healthy daemon was killed for the memory already given back.
  test('nothing is killed for it: the limit is written again', async () => {
    const big = await holder(leaves.big, 120);
    const small = await holder(leaves.small, 20);
    const killed: MemoryKill[] = [];
    let ended = false;
    const refused = await lowerMemoryLimit(
      join(memory, 'memory.limit_in_bytes'),
      64 * 2 ** 20,
      [big, small].map((pid, index) => ({
        id: index === 0 ? 'big' : 'small',
        leaf: index === 0 ? leaves.big : leaves.small,
        kill: async () => process.kill(pid, 'SIGKILL'),
        movedIn: false,
        killedBefore: false,
        live: () => true,
        stuck: () => {},
      })),
      (kill) => killed.push(kill),
      () => {
        // Asked right after the refusal: the big one ends here, its memory given back
        // before the cgroup is looked at (its exit waited for, as a zombie's memory is free).
        if (!ended) {
          ended = true;
          process.kill(big, 'SIGKILL');
          const until = Date.now() + 10_000;
          while (processState(big) !== 'Z' && Date.now() < until);
        }
        return undefined;
      },
    );
    assert.equal(ended, true, 'the kernel refused the limit at first');
    assert.deepEqual(killed, [], 'killed for memory already given back');
    assert.equal(refused, undefined);
    assert.equal(
      Number(readFileSync(join(memory, 'memory.limit_in_bytes'), 'latin1')),
      64 * 2 ** 20,
    );
    assert.ok(
      processState(small) !== undefined && processState(small) !== 'Z',
      'the small one runs',
    );
  });
});
