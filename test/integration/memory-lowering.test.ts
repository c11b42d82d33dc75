import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  lowerMemoryLimit,
  type MemoryKill,
  type MemoryRun,
} from '../../src/daemon/memory-lowering.ts';
import { cleanUp, showLogIfFailed, spawnDmctl } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { cgroup2Mount, processState, v1CgroupOf } from '../helpers/proc.ts';
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

  /** The run in `leaf` of process `pid`, as the lowering sees it (killed with SIGKILL). */
  const runOf = (leaf: string, pid: number, live = () => true): MemoryRun => ({
    id: leaf,
    leaf,
    kill: async () => process.kill(pid, 'SIGKILL'),
    movedIn: false,
    killedBefore: false,
    live,
    stuck: () => {},
  });

  /** A process in the memory cgroup and in `leaf` that holds `mb` MB of touched memory. */
  const holder = async (leaf: string, mb: number): Promise<number> => {
    // The test before lowered the limit: none for the next.
    writeFileSync(join(memory, 'memory.limit_in_bytes'), '-1');
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
      [runOf(leaves.big, big), runOf(leaves.small, small)],
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

  // An outside review (45a, F4, 4 of 18): a SIGHUP's lowering at the instant a daemon
  // ended by itself killed a healthy one for memory the ending one still held.
  test('nothing is killed for a process ending as it is refused: the refusal is let settle', async () => {
    const big = await holder(leaves.big, 300);
    const small = await holder(leaves.small, 20);
    const killed: MemoryKill[] = [];
    let ended = false;
    const refused = await lowerMemoryLimit(
      join(memory, 'memory.limit_in_bytes'),
      64 * 2 ** 20,
      // Ended by itself: not a run of its daemon's to kill any more.
      [runOf(leaves.big, big, () => !ended), runOf(leaves.small, small)],
      (kill) => killed.push(kill),
      () => {
        // Right after the refusal, it ends (not waited for: its pages go as it exits).
        if (!ended) {
          ended = true;
          process.kill(big, 'SIGKILL');
        }
        return undefined;
      },
    );
    assert.equal(ended, true, 'the kernel refused the limit at first');
    assert.deepEqual(killed, [], 'killed for memory being given back');
    assert.equal(refused, undefined);
    assert.ok(
      processState(small) !== undefined && processState(small) !== 'Z',
      'the small one runs',
    );
  });
});

/**
 * An outside review (45a, F3, 3 of 3): a memory quota lowered while a stop of the user's
 * was under way was rightly held back, but the start of another of their daemons (a
 * restart, a respawn) wrote it, what the stopping run held still charged: the kernel's
 * OOM killer then killed their healthy daemons again and again until the stop ended.
 */
describe('a memory quota lowered during a stop, then a start of another daemon of the user', {
  skip: (!root && 'needs root') || (!hasMemory && 'no v1 memory hierarchy'),
}, () => {
  const host = new TestHost();
  const quota = (memory: string) => `[can_run_as]\n{alice}\n[limits]\n{alice}: memory=${memory}\n`;
  /** A daemon that holds `mb` MB of touched memory, SIGTERM ignored if `tough`. */
  const holder = (mb: number, tough = false): string =>
    `start=exec python3 -c "import signal, time; ${tough ? 'signal.signal(signal.SIGTERM, signal.SIG_IGN); ' : ''}x = b'x' * (${mb} * 1024 * 1024); time.sleep(100000)"\n${tough ? 'stop_timeout=5s\n' : ''}`;
  const limitOf = (pid: number): number =>
    Number(
      readFileSync(`${MEMORY}${v1CgroupOf(pid, 'memory')}/memory.limit_in_bytes`, 'latin1').trim(),
    );
  const holding = async (name: string, mb: number): Promise<number> => {
    const row = await host.waitForDaemon('alice', `alice/${name}`, (d) => d.pid > 0, 'to run');
    await waitFor(`${name} to hold its memory`, () =>
      residentOf(row.pid) > mb * 1_000_000 ? true : undefined,
    );
    return row.pid;
  };
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('the lower limit waits for the stop: no daemon is killed for it', async () => {
    host.writeMaster(quota('1G'));
    host.writeDaemon('alice', 'hog1', holder(50));
    host.writeDaemon('alice', 'hog2', holder(50));
    host.writeDaemon('alice', 'stuck', holder(60, true));
    await host.startManager();
    await holding('hog1', 50);
    const hog2 = await holding('hog2', 50);
    await holding('stuck', 60);
    const from = host.managerLog.length;
    const stop = spawnDmctl(host, 'alice', 'stop', 'stuck');
    await host.waitForDaemon('alice', 'alice/stuck', (d) => d.state === 'stopping', 'to stop');
    // 160 MB held, 100 once the stop is over: held back until then.
    host.writeMaster(quota('150M'));
    process.kill(host.managerPid(), 'SIGHUP');
    await waitFor('the lowering to wait for the stop', () =>
      host.managerLog.slice(from).includes('a stop of theirs is under way') ? true : undefined,
    );
    assert.equal((await host.dmctl('alice', 'hog1', 'restart')).code, 0);
    await holding('hog1', 50);
    assert.notEqual(limitOf(hog2), 150 * 2 ** 20, 'the lower limit written during the stop');
    await host.waitForDaemon('alice', 'alice/stuck', (d) => d.state === 'stopped', 'to stop');
    await waitFor('the limit written once the stop is over', () =>
      limitOf(hog2) === 150 * 2 ** 20 ? true : undefined,
    );
    await stop.stop();
    const log = host.managerLog.slice(from);
    assert.doesNotMatch(log, /out of memory|to bring its user's memory under their quota/);
    await host.stopManager();
  });
});
