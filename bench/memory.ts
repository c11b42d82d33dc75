// The manager's memory at rest, builds side by side (issue 14, goal 3): for each built
// tree and each N, a manager of N root daemons `start=exec sleep 100000`, all running at
// once, and a bare Node 24 with a unix-socket server beside them; SETTLE seconds after
// the last daemon of each manager started, /proc/PID/smaps_rollup of the manager and its
// dm-keeper, and the manager's mappings summed by kind (from /proc/PID/smaps), read every
// 2 s for WINDOW seconds: the median of each (what an idle manager allocates now and
// then, a reread of /etc/passwd changed by others, moves a single reading by a MiB).
//
//   node bench/memory.ts --tree DIR=LABEL [--tree DIR=LABEL ...] [--counts 100,1000] [--settle 30] [--window 20]
//
// as root, each DIR a built tree (`bin/`, `dist/`, `build/Release/`, `node_modules/node`);
// without --tree, this tree. Prints one JSON document; nothing is saved.
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Memory, memoryOf } from './measures/memory.ts';
import { childrenOf, commOf, readProc, sleep } from './measures/proc.ts';
import { keepersOf } from './measures/process-sample.ts';
import { ROOT_DIR, writeMasterConfig } from './peers/daemon-manager.ts';
import { spawnLogged, stopChild } from './peers/spawn.ts';
import { runBaseline } from './scenarios/baseline.ts';

const { values } = parseArgs({
  options: {
    tree: { type: 'string', multiple: true },
    counts: { type: 'string', default: '100,1000' },
    settle: { type: 'string', default: '30' },
    window: { type: 'string', default: '20' },
  },
});
const trees = (values.tree ?? [`${ROOT_DIR}=this tree`]).map((spec) => {
  const at = spec.indexOf('=');
  return at < 0
    ? { dir: resolve(spec), label: spec }
    : { dir: resolve(spec.slice(0, at)), label: spec.slice(at + 1) };
});
const counts = values.counts.split(',').map(Number);
const settleMs = Number(values.settle) * 1000;
const windowMs = Number(values.window) * 1000;
const SAMPLE_MS = 2_000;

/** The manager's private dirty memory by kind of mapping, in KiB (see RESULTS.md). */
function breakdownOf(pid: number): Record<string, number> {
  const kinds: Record<string, number> = {};
  let kind = 'other';
  for (const line of readProc(`/proc/${pid}/smaps`).split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const size =
        (Number.parseInt(head[2] ?? '0', 16) - Number.parseInt(head[1] ?? '0', 16)) / 1024;
      const name = head[3] ?? '';
      // V8 reserves its heap pages in 256 KiB-aligned chunks of 256 KiB.
      kind =
        name === '[heap]'
          ? 'glibc heap (brk)'
          : name.startsWith('/')
            ? 'binary and libraries'
            : name === '' && size === 256
              ? 'V8 heap (256 KiB pages)'
              : name === ''
                ? 'other anonymous'
                : 'other';
      continue;
    }
    const dirty = /^Private_Dirty:\s+(\d+) kB/.exec(line);
    if (dirty) kinds[kind] = (kinds[kind] ?? 0) + Number(dirty[1]);
  }
  return kinds;
}

interface Manager {
  readonly label: string;
  readonly count: number;
  readonly pid: number;
  readonly stop: () => Promise<number[]>;
  startedAt?: number;
  readonly samples: Sample[];
}

interface Sample {
  readonly load: string;
  readonly manager: Memory;
  readonly keeper: Memory;
  readonly breakdown: Record<string, number>;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** The median of each field over the samples, in KiB. */
function medians<T extends Record<string, number>>(items: readonly T[]): Record<string, number> {
  const keys = new Set(items.flatMap((item) => Object.keys(item)));
  return Object.fromEntries(
    [...keys].map((key) => [key, median(items.map((item) => item[key] ?? 0))]),
  );
}

function loadAverage(): string {
  return readProc('/proc/loadavg').split(' ').slice(0, 3).join(' ');
}

/** The `sleep` processes among the keeper's children: the daemons that run. */
function runningDaemons(managerPid: number): number {
  let running = 0;
  for (const keeper of keepersOf(managerPid))
    for (const child of childrenOf(keeper)) if (commOf(child) === 'sleep') running++;
  return running;
}

const root = mkdtempSync(join(tmpdir(), 'dm-memory-'));
const managers: Manager[] = [];
try {
  const loadAtStart = loadAverage();
  for (const tree of trees) {
    // A snapshot of the build, as the bench takes one: a rebuild meanwhile changes nothing.
    const snapshot = join(root, `tree-${managers.length}`);
    mkdirSync(join(snapshot, 'node_modules'), { recursive: true });
    for (const dir of ['bin', 'dist', 'build/Release'])
      cpSync(join(tree.dir, dir), join(snapshot, dir), { recursive: true });
    symlinkSync(join(tree.dir, 'node_modules/node'), join(snapshot, 'node_modules/node'));
    for (const count of counts) {
      const dir = join(root, `${managers.length}-n${count}`);
      const { config, daemonDir } = writeMasterConfig(dir, [
        'stable-uptime = 1s',
        'log-max-size = 0',
      ]);
      for (let i = 0; i < count; i++)
        writeFileSync(join(daemonDir, `d${i}.conf`), 'start=exec sleep 100000\n', { mode: 0o644 });
      const child = spawnLogged(
        [join(snapshot, 'bin/daemon-manager'), '--config', config, '--foreground'],
        join(dir, 'manager.log'),
      );
      const pid = child.pid ?? 0;
      managers.push({
        label: tree.label,
        count,
        pid,
        stop: () => stopChild(child, 'SIGTERM', 60_000, () => keepersOf(pid)),
        samples: [],
      });
    }
  }
  const baseline = runBaseline(root, 5_000, settleMs + windowMs);
  // Each manager is measured SETTLE seconds after its own last daemon started.
  const deadline = Date.now() + 300_000;
  const pending = new Set(managers);
  while (pending.size > 0 && Date.now() < deadline) {
    for (const manager of pending)
      if (runningDaemons(manager.pid) >= manager.count) {
        manager.startedAt = Date.now();
        pending.delete(manager);
      }
    await sleep(100);
  }
  if (pending.size > 0)
    throw new Error(`${pending.size} managers did not start all their daemons in 5 minutes`);
  const last = Math.max(...managers.map((manager) => manager.startedAt ?? 0));
  while (Date.now() < last + settleMs + windowMs) {
    for (const manager of managers) {
      const since = Date.now() - (manager.startedAt ?? 0);
      if (since < settleMs || since >= settleMs + windowMs) continue;
      manager.samples.push({
        load: loadAverage(),
        manager: memoryOf([manager.pid]),
        keeper: memoryOf(keepersOf(manager.pid)),
        breakdown: breakdownOf(manager.pid),
      });
    }
    await sleep(SAMPLE_MS);
  }
  const results = managers.map(({ label, count, samples }) => ({
    label,
    count,
    samples: samples.length,
    load: samples.map((sample) => sample.load.split(' ')[0]).join(' '),
    manager: medians(samples.map((sample) => ({ ...sample.manager }))),
    managerPrivateDirtyRange: [
      Math.min(...samples.map((sample) => sample.manager.privateDirtyKb)),
      Math.max(...samples.map((sample) => sample.manager.privateDirtyKb)),
    ],
    keeper: medians(samples.map((sample) => ({ ...sample.keeper }))),
    breakdown: medians(samples.map((sample) => sample.breakdown)),
  }));
  const bare = await baseline;
  process.stdout.write(
    `${JSON.stringify({ loadAtStart, loadAtEnd: loadAverage(), settleMs, baseline: bare.memory, results }, null, 1)}\n`,
  );
} finally {
  const left = (await Promise.all(managers.map((manager) => manager.stop()))).flat();
  if (left.length > 0)
    process.stderr.write(`killed ${left.length} processes left after the stop\n`);
  rmSync(root, { recursive: true, force: true });
}
