// What a stop costs, for builds side by side (made to weigh the freeze of a run's cgroup
// around each signal, src/process/cgroup-freeze.ts): a fleet of N trivial root daemons,
// then `stop` of some of them one at a time, asked on the control socket (no dmctl
// start-up in the figure) and timed until the status says stopped, then the manager's
// SIGTERM, timed until it and its keeper exit. Builds run in turn, round after round, so
// that the load of a shared machine falls on each alike.
//
//   node bench/stop-cost.ts --tree DIR=LABEL [--tree DIR=LABEL] [--rounds 3] [--count 1000]
//                           [--stops 30] [--out FILE]
//
// Each DIR is a built tree (bin/, dist/, build/Release/, node_modules/node). Prints one
// JSON object per run and a summary.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { isAlive, killSurvivors, sleep, waitUntilDead } from './measures/proc.ts';
import { DaemonManagerPeer } from './peers/daemon-manager.ts';
import { describeMachine } from './report/machine.ts';
import { maximum, median } from './report/stats.ts';
import { fleetScript, makeWorkdir } from './scenarios/workdir.ts';

const START_TIMEOUT_MS = 600_000;
const STOP_TIMEOUT_MS = 30_000;
/** Between two looks at a stopping daemon's status: short against a stop, light on the manager. */
const POLL_MS = 1;

const { values } = parseArgs({
  options: {
    tree: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '3' },
    count: { type: 'string', default: '1000' },
    stops: { type: 'string', default: '30' },
    out: { type: 'string' },
  },
});
const trees = (values.tree ?? []).map((spec) => {
  const at = spec.indexOf('=');
  if (at < 1) throw new Error(`--tree wants DIR=LABEL, not '${spec}'`);
  return { dir: spec.slice(0, at), label: spec.slice(at + 1) };
});
if (trees.length === 0) throw new Error('give at least one --tree DIR=LABEL');
const rounds = Number(values.rounds);
const count = Number(values.count);
const stops = Number(values.stops);

interface StopRun {
  readonly label: string;
  readonly round: number;
  readonly count: number;
  readonly loadBefore: readonly number[];
  /** Each stop, from the request sent to the first status that says stopped. */
  readonly stopMs: readonly number[];
  /** The manager's SIGTERM until it exited, with `count - stops` daemons running. */
  readonly shutdownMs: number;
  /** Processes killed by the bench after the shutdown: should be none. */
  readonly leftovers: number;
}

/** One request on a control socket, its answer parsed. */
function ask(socket: string, request: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const client = createConnection(socket);
    let text = '';
    client.setEncoding('utf8');
    client.on('connect', () => client.write(`${JSON.stringify(request)}\n`));
    client.on('data', (chunk: string) => {
      text += chunk;
      if (!text.endsWith('\n')) return;
      client.end();
      resolve(JSON.parse(text) as Record<string, unknown>);
    });
    client.on('error', reject);
  });
}

async function stateOf(socket: string, id: string): Promise<string> {
  const answer = await ask(socket, { command: 'status', id });
  const rows = answer.daemons as { state: string }[] | undefined;
  return rows?.[0]?.state ?? `no status (${String(answer.error)})`;
}

async function runOnce(tree: { dir: string; label: string }, round: number): Promise<StopRun> {
  const root = mkdtempSync(join(tmpdir(), 'dm-stop-cost-'));
  const peer = new DaemonManagerPeer(join(root, 'snapshot'), tree.dir);
  peer.install();
  const work = makeWorkdir(root, `${tree.label}-${count}`);
  const script = work.script('daemon.sh', fleetScript(work.pipe.path));
  const daemons = Array.from({ length: count }, (_, index) => ({
    name: `d${String(index).padStart(4, '0')}`,
    script,
    capture: false,
  }));
  const running = peer.configure(work.dir, daemons)();
  const pids = (): number[] => daemons.flatMap((d) => work.pipe.last(d.name)?.pid ?? []);
  try {
    await work.pipe.readyTotal(count, `${count} daemons`, START_TIMEOUT_MS);
    const socket = join(work.dir, 'run', 'root.sock');
    // The manager may start its daemons before it listens on its sockets.
    let all: Record<string, unknown> | undefined;
    for (let tries = 0; all === undefined; tries++)
      all = await ask(socket, { command: 'status' }).catch(async (error: unknown) => {
        if (tries > 600) throw error;
        await sleep(100);
        return undefined;
      });
    const ids = (all.daemons as { id: string }[]).map((row) => row.id).sort();
    const loadBefore = loadavg();
    const stopMs: number[] = [];
    const step = Math.max(1, Math.floor(count / stops));
    for (let i = 0; i < stops && i * step < ids.length; i++) {
      const id = ids[i * step] ?? '';
      const at = performance.now();
      const answer = await ask(socket, { command: 'stop', id });
      if (answer.ok !== true) throw new Error(`stop ${id}: ${String(answer.error)}`);
      for (;;) {
        const state = await stateOf(socket, id);
        if (state === 'stopped') break;
        if (performance.now() - at > STOP_TIMEOUT_MS) throw new Error(`${id} is still ${state}`);
        await sleep(POLL_MS);
      }
      stopMs.push(performance.now() - at);
    }
    const at = performance.now();
    const killed = await running.stop();
    const shutdownMs = performance.now() - at;
    const left = killSurvivors(await waitUntilDead(pids(), 10_000));
    return {
      label: tree.label,
      round,
      count,
      loadBefore,
      stopMs,
      shutdownMs,
      leftovers: killed.length + left.length,
    };
  } finally {
    if (running.supervisorPids().some(isAlive)) await running.stop();
    killSurvivors(pids());
    peer.cleanUp?.(work.dir);
    work.remove();
    rmSync(root, { recursive: true, force: true });
  }
}

const runs: StopRun[] = [];
for (let round = 1; round <= rounds; round++)
  for (const tree of trees) {
    const run = await runOnce(tree, round);
    console.log(JSON.stringify(run));
    runs.push(run);
    await sleep(2_000);
  }
const summary = trees.map(({ label }) => {
  const mine = runs.filter((run) => run.label === label);
  const stopMs = mine.flatMap((run) => run.stopMs);
  return {
    label,
    stopMedianMs: Number(median(stopMs).toFixed(2)),
    stopWorstMs: Number(maximum(stopMs).toFixed(2)),
    shutdownMs: mine.map((run) => Math.round(run.shutdownMs)),
    leftovers: mine.reduce((sum, run) => sum + run.leftovers, 0),
  };
});
console.log(JSON.stringify(summary, null, 2));
if (values.out)
  writeFileSync(
    values.out,
    `${JSON.stringify({ machine: describeMachine(), count, stops, runs, summary }, null, 2)}\n`,
  );
