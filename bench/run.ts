// The benchmark: `npm run bench` (full) or `npm run bench -- --quick`, as root.
// Installs the peers, measures every system on the same workloads, saves the raw figures
// in bench/results/MODE.json and rewrites bench/RESULTS.md from every saved mode.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DaemonManagerPeer } from './peers/daemon-manager.ts';
import type { Peer } from './peers/peer.ts';
import { Pm2Peer } from './peers/pm2.ts';
import { RunitPeer } from './peers/runit.ts';
import { SupervisordPeer } from './peers/supervisord.ts';
import { describeMachine } from './report/machine.ts';
import { writeResultsMarkdown } from './report/markdown.ts';
import type { Results } from './report/results.ts';
import { nodeFloorMs, runBaseline } from './scenarios/baseline.ts';
import { type FleetRun, runFleet } from './scenarios/fleet.ts';
import { exitOnSignals } from './scenarios/interrupt.ts';
import { type LogRun, runLogThroughput } from './scenarios/log-throughput.ts';

const BENCH_DIR = import.meta.dirname;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    runs: { type: 'string' },
    idle: { type: 'string' },
    counts: { type: 'string' },
    'no-save': { type: 'boolean', default: false },
  },
});

const quick = values.quick === true;
const settings = {
  counts: values.counts?.split(',').map(Number) ?? (quick ? [10, 100] : [10, 100, 1000]),
  runs: Number(values.runs ?? 3),
  // V8's memory reducer runs a few GCs about 8 s after start-up: a one-off, kept out of
  // the idle window, which is about what recurs.
  settleMs: 15_000,
  idleMs: values.idle !== undefined ? Number(values.idle) * 1000 : quick ? 15_000 : 60_000,
  statusRepeats: 10,
  respawns: quick ? 5 : 10,
  logLines: 2_000_000,
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error('the bench runs as root (it runs root supervisors)');
  exitOnSignals();
  const began = Date.now();
  const machine = describeMachine();
  const root = mkdtempSync(join(tmpdir(), 'dm-bench-'));
  const log = (line: string): void => {
    process.stderr.write(`[${((Date.now() - began) / 1000).toFixed(0).padStart(5)}s] ${line}\n`);
  };
  const all: Peer[] = [
    new DaemonManagerPeer(join(root, 'snapshot')),
    new SupervisordPeer(),
    new Pm2Peer(),
    new RunitPeer(),
  ];
  const only = values.only?.split(',');
  const peers = all.filter((peer) => only === undefined || only.includes(peer.name));
  const versions: Record<string, string> = {};
  for (const peer of peers) {
    log(`installing ${peer.name}`);
    peer.install();
    Object.assign(versions, peer.versions());
  }
  const fleets: Record<string, Record<string, FleetRun[]>> = {};
  const logs: Record<string, LogRun[]> = {};
  const failures: string[] = [];
  const baseline: Results['baseline'] = [];
  try {
    // Rounds, not one system after the other: a disturbance of the machine (another
    // job, a cron) then spreads over every system instead of skewing one.
    for (let run = 1; run <= settings.runs; run++) {
      for (const count of settings.counts)
        for (const peer of peers) {
          log(`run ${run}/${settings.runs}: ${peer.name} with ${count} daemons`);
          try {
            const result = await runFleet(peer, count, { root, ...settings });
            addTo(fleets, peer.name, String(count), result);
            log(
              `  start ${result.startMs.toFixed(0)} ms, pd ${result.memory.privateDirtyKb} KiB, idle ${result.idle.schedMs.toFixed(2)} ms/${result.idle.switches} sw`,
            );
          } catch (error) {
            failures.push(
              `${peer.name}, ${count} daemons, run ${run}: ${(error as Error).message}`,
            );
            log(`  FAILED: ${(error as Error).message}`);
          }
        }
      log(`run ${run}/${settings.runs}: bare node baseline`);
      baseline.push(await runBaseline(root, settings.settleMs, settings.idleMs));
      for (const peer of peers) {
        log(`run ${run}/${settings.runs}: ${peer.name} log throughput`);
        try {
          const result = await runLogThroughput(peer, root, settings.logLines);
          logs[peer.name] = [...(logs[peer.name] ?? []), result];
          log(`  ${result.mbPerS.toFixed(0)} MB/s, ${result.linesLost} lost`);
        } catch (error) {
          failures.push(`${peer.name}, log run ${run}: ${(error as Error).message}`);
          log(`  FAILED: ${(error as Error).message}`);
        }
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const results: Results = {
    mode: quick ? 'quick' : 'full',
    date: new Date(began).toISOString(),
    durationS: Math.round((Date.now() - began) / 1000),
    machine: {
      ...machine,
      'load average at end': loadavg()
        .map((load) => load.toFixed(2))
        .join(' '),
    },
    versions,
    notes: Object.fromEntries(peers.map((peer) => [peer.name, peer.notes])),
    settings,
    peers: peers.map((peer) => peer.name),
    fleets,
    logs,
    baseline,
    nodeFloorMs: nodeFloorMs(20),
    failures,
  };
  if (values['no-save'] === true) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  writeFileSync(
    join(BENCH_DIR, 'results', `${results.mode}.json`),
    `${JSON.stringify(results, null, 1)}\n`,
  );
  writeResultsMarkdown(BENCH_DIR);
  log(`wrote bench/results/${results.mode}.json and bench/RESULTS.md`);
}

/** Appends a run's result to table[peer][count]. */
function addTo(
  table: Record<string, Record<string, FleetRun[]>>,
  peer: string,
  count: string,
  result: FleetRun,
): void {
  const byCount = table[peer] ?? {};
  byCount[count] = [...(byCount[count] ?? []), result];
  table[peer] = byCount;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});
