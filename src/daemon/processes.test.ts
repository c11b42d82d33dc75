import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDaemonConfig } from '../config/daemon.ts';
import { NO_LIMITS } from '../config/limits.ts';
import type { KeeperLink } from '../keeper/link.ts';
import type { RunReport } from '../keeper/protocol.ts';
import type { Logger } from '../logging/logger.ts';
import type { LaunchPlan } from '../process/launch.ts';
import { type DaemonRecord, newRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import { KeeperProcesses } from './processes.ts';

const PLAN: LaunchPlan = {
  start: 'exec sleep 1000',
  dir: '/',
  uid: 0,
  gid: 0,
  groups: [],
  env: {},
  output: 'ignore',
  banner: undefined,
  limits: NO_LIMITS,
  cgroup: undefined,
  joins: [],
  umask: 0o022,
};

/**
 * KeeperProcesses over a keeper that takes every spawn and says nothing by itself (or over
 * `options.link`), saving through `options.durable` if given.
 */
function processesOf(...texts: string[]): ReturnType<typeof processesWith> {
  return processesWith({}, ...texts);
}

function processesWith(
  options: { link?: Partial<KeeperLink>; durable?: () => Promise<unknown> },
  ...texts: string[]
): {
  processes: KeeperProcesses;
  records: DaemonRecord[];
  begun: number[];
  spawnedAt: (number | undefined)[];
} {
  /** The runs the supervisor was told began (their exec done). */
  const begun: number[] = [];
  /** The times the supervisor was given for each start. */
  const spawnedAt: (number | undefined)[] = [];
  const records = texts.map((text, index) => {
    const { spec } = parseDaemonConfig(text, `/x/d${index}.conf`, `d${index}`);
    assert.ok(spec);
    return newRecord('alice', spec);
  });
  const daemons = new Map(records.map((record) => [record.id, record]));
  const supervisor = {
    daemons,
    noteSpawned: (_record: DaemonRecord, _run: number, _pid: number, at?: number) =>
      spawnedAt.push(at),
    noteBegun: (_record: DaemonRecord, run: number) => begun.push(run),
    noteExecFailed() {},
    noteSpawnFailed() {},
    // As the supervisor does with a run that ended and left nothing behind.
    noteExit: (_record: DaemonRecord, run: number) => processes.release(run),
  } as unknown as Supervisor;
  const link = { alive: true, spawn() {}, release() {}, ...options.link } as unknown as KeeperLink;
  const quiet = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;
  const processes = new KeeperProcesses(link, () => supervisor, {
    firstSeq: 1,
    managerIsRoot: true,
    onPipe: () => {},
    log: quiet,
    saved: async () => undefined,
    ...(options.durable ? { durable: options.durable } : {}),
    oomKilled: () => false,
    strayGone: () => {},
  });
  return { processes, records, begun, spawnedAt };
}

function report(seq: number, id: string, exec: RunReport['exec']): RunReport {
  return {
    seq,
    id,
    pid: 100 + seq,
    startTicks: 1,
    spawnedAt: 0,
    alive: true,
    exit: undefined,
    exitedAt: 0,
    empty: false,
    exec,
    execError: exec === 'failed' ? 'cannot enter /x' : '',
    ownerUid: 1000,
    uid: 1000,
    groups: undefined,
    execAt: undefined,
  };
}

/** Whether the promise has settled by the time the queued callbacks have run. */
async function settled(promise: Promise<void>): Promise<boolean> {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

test('whenLaunched resolves at once when no launch is under way', async () => {
  const { processes } = processesOf();
  assert.equal(await settled(processes.whenLaunched()), true);
});

test('whenLaunched waits until every run has exec’d or failed to start', async () => {
  const { processes, records } = processesOf('start=sleep 1\n', 'start=sleep 1\n', 'start=x\n');
  const [a, b, c] = records;
  assert.ok(a && b && c);
  const runs = [a, b, c].map((record) => processes.spawn(record, PLAN));
  assert.deepEqual(runs, [1, 2, 3]);
  const waited = processes.whenLaunched();
  processes.handle({ kind: 'spawned', run: report(1, a.id, 'pending') });
  processes.handle({ kind: 'exec', run: report(1, a.id, 'ok') });
  processes.handle({ kind: 'exec', run: report(2, b.id, 'failed') });
  assert.equal(await settled(waited), false, 'the third run has not exec’d yet');
  processes.handle({ kind: 'spawn-failed', seq: 3, error: 'fork: EAGAIN' });
  assert.equal(await settled(waited), true);
});

test('a run has begun once the keeper says its exec is done, not at its spawn nor a failed exec', () => {
  const { processes, records, begun } = processesOf('start=sleep 1\n', 'start=sleep 1\n');
  const [a, b] = records;
  assert.ok(a && b);
  processes.spawn(a, PLAN);
  processes.spawn(b, PLAN);
  processes.handle({ kind: 'spawned', run: report(1, a.id, 'pending') });
  processes.handle({ kind: 'spawned', run: report(2, b.id, 'pending') });
  assert.deepEqual(begun, [], 'a process made is no program begun');
  processes.handle({ kind: 'exec', run: report(2, b.id, 'failed') });
  processes.handle({ kind: 'exec', run: report(1, a.id, 'ok') });
  assert.deepEqual(begun, [1]);
});

test('whenLaunched does not wait for a keeper that is gone', async () => {
  const { processes, records } = processesOf('start=sleep 1\n');
  const [a] = records;
  assert.ok(a);
  processes.spawn(a, PLAN);
  const waited = processes.whenLaunched();
  processes.failWaits('the keeper of daemons is gone');
  assert.equal(await settled(waited), true);
});

test('a run’s plan is kept only if its daemon has a ready= or health= check', () => {
  const { processes, records } = processesOf(
    'start=sleep 1\n',
    'start=sleep 1\nready=tcp:127.0.0.1:80\n',
    'start=sleep 1\nready=notify\n',
    'start=sleep 1\nhealth=tcp:127.0.0.1:80\n',
  );
  const kept = records.map((record) => processes.hasPlan(processes.spawn(record, PLAN) as number));
  assert.deepEqual(kept, [false, true, true, true]);
});

test('a run’s start time is forgotten with the run: 10,000 runs of a crash loop keep none', async () => {
  const { processes, records } = processesOf('start=exit 1\n');
  const [a] = records;
  assert.ok(a);
  const runs: number[] = [];
  for (let index = 0; index < 10_000; index++) {
    const seq = processes.spawn(a, PLAN);
    assert.equal(typeof seq, 'number');
    const run = report(seq as number, a.id, 'ok');
    processes.handle({ kind: 'spawned', run });
    assert.equal(processes.startTicksOf(run.seq), 1, 'known while it runs');
    processes.handle({ kind: 'exited', run: { ...run, alive: false, empty: true } });
    runs.push(run.seq);
  }
  assert.deepEqual(
    runs.filter((seq) => processes.startTicksOf(seq) !== undefined),
    [],
  );
  await new Promise((resolve) => setImmediate(resolve));
});

// An outside review (40a, F4) read `why` of a one-shot the manager heard of late: its exit,
// stamped with the keeper's time of the reaping, came 18 ms before its start, stamped when
// the manager read the report.
test("a start is stamped with the keeper's time of the fork, as an exit with its reaping", () => {
  const { processes, records, spawnedAt } = processesOf('start=true\n');
  const [a] = records;
  assert.ok(a);
  processes.spawn(a, PLAN);
  const forked = Date.now() - 5_000;
  processes.handle({
    kind: 'run',
    run: { ...report(1, a.id, 'ok'), spawnedAt: forked, alive: false, exitedAt: forked + 18 },
  });
  assert.deepEqual(spawnedAt, [forked]);
});

// An outside review (75b, F4): a stray's stop was saved with its SIGTERM taken as sent
// before the keeper had carried it out; a kill -9 in between left the run no SIGTERM at all.
// Saved `unsent` until then, and sent by the next manager if so.
test("a stray's SIGTERM is saved unsent until the keeper carries it out, and sent again if so", async () => {
  const sent: [number, number][] = [];
  let carryOut: ((lost?: true) => void) | undefined;
  let saves = 0;
  const { processes, records } = processesWith(
    {
      link: {
        signal: (run: number, signal: number) => {
          sent.push([run, signal]);
          if (signal !== 15) return Promise.resolve({ reached: 1, errno: 0 });
          return new Promise((resolve) => {
            carryOut = (lost) =>
              resolve(lost ? { reached: 0, errno: 3, lost } : { reached: 1, errno: 0 });
          });
        },
      },
      durable: async () => {
        saves++;
      },
    },
    'start=sleep 1\n',
  );
  const record = records[0] as DaemonRecord;
  const run = processes.spawn(record, PLAN);
  assert.equal(typeof run, 'number');
  processes.endStray(run as number, 60_000);
  assert.equal(processes.strayStops()[String(run)]?.unsent, true, 'saved before its SIGTERM');
  // Its SIGTERM goes once that save is made.
  await new Promise(setImmediate);
  assert.deepEqual(sent, [
    [run, 15],
    [run, 18],
  ]);
  assert.equal(processes.strayStops()[String(run)]?.unsent, true, 'not carried out yet');
  const before = saves;
  carryOut?.();
  await new Promise(setImmediate);
  assert.equal(processes.strayStops()[String(run)]?.unsent, undefined, 'carried out');
  assert.ok(saves > before, 'saved at once');
  // A stop taken over unsent has its SIGTERM sent; one taken over sent has none again.
  sent.length = 0;
  const other = processes.spawn(record, PLAN) as number;
  const third = processes.spawn(record, PLAN) as number;
  const now = Date.now();
  // Decided 50 s ago, 10 s left: sent now, it gets its whole 60 s from now (76a, F2).
  processes.endStray(other, 0, { since: now - 50_000, deadline: now + 10_000, unsent: true });
  assert.ok((processes.strayStops()[String(other)]?.deadline ?? 0) >= now + 60_000);
  processes.endStray(third, 0, { since: now, deadline: now + 60_000 });
  assert.deepEqual(sent, [
    [other, 15],
    [other, 18],
  ]);
  // No answer, the keeper gone (an outside review, 76a, F1): not carried out.
  const fourth = processes.spawn(record, PLAN) as number;
  processes.endStray(fourth, 60_000);
  await new Promise(setImmediate);
  carryOut?.(true);
  await new Promise(setImmediate);
  assert.equal(processes.strayStops()[String(fourth)]?.unsent, true, 'not carried out');
});
