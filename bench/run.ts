// The benchmark: `npm run bench` (full) or `npm run bench -- --quick`, as root.
// Installs the peers, measures every system on the same workloads, runs the crash storm
// and the attacker workload on daemon-manager, saves the raw figures under bench/results/
// and rewrites bench/RESULTS.md from every saved mode. See bench/README.md.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DaemonManagerPeer } from './peers/daemon-manager.ts';
import { ORIGINAL_TARBALL, OriginalPeer } from './peers/original.ts';
import type { Peer } from './peers/peer.ts';
import { Pm2Peer } from './peers/pm2.ts';
import { RunitPeer } from './peers/runit.ts';
import { SupervisordPeer } from './peers/supervisord.ts';
import { describeMachine } from './report/machine.ts';
import { archiveStorms, resultsFile, writeResultsMarkdown } from './report/markdown.ts';
import type { Mode, RunHeader } from './report/results.ts';
import { runAttackerScenario } from './scenarios/attack-host.ts';
import { ISSUE_SIZES } from './scenarios/attacker-files.ts';
import { raiseHostLimits } from './scenarios/host-limits.ts';
import { exitOnSignals, onInterrupt } from './scenarios/interrupt.ts';
import { runManagerKills } from './scenarios/manager-kill.ts';
import { runCrashStorms } from './suites/crash-storm.ts';
import { runPeers } from './suites/peers.ts';

const BENCH_DIR = import.meta.dirname;
const SCENARIOS = ['peers', 'crash-storm', 'manager-kill', 'attacker'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'only-scenario': { type: 'string' },
    runs: { type: 'string' },
    idle: { type: 'string' },
    counts: { type: 'string' },
    'no-skip': { type: 'boolean', default: false },
    'original-tarball': { type: 'string', default: ORIGINAL_TARBALL },
    'storm-rates': { type: 'string' },
    'storm-seconds': { type: 'string' },
    'storm-daemons': { type: 'string' },
    'storm-variants': { type: 'string' },
    'storm-no-ceiling': { type: 'boolean', default: false },
    'attack-seconds': { type: 'string' },
    'attack-settings': { type: 'string' },
    'attack-busy': { type: 'string' },
    kills: { type: 'string' },
    'kill-daemons': { type: 'string' },
    'compare-tree': { type: 'string' },
    'compare-label': { type: 'string' },
    'no-save': { type: 'boolean', default: false },
  },
});

const quick = values.quick === true;
const mode: Mode = quick ? 'quick' : 'full';
const list = (text: string | undefined): string[] | undefined => text?.split(',');
const numbers = (text: string | undefined, fallback: number[]): number[] =>
  list(text)?.map(Number) ?? fallback;

const scenarios = (list(values['only-scenario']) ?? [...SCENARIOS]) as Scenario[];

const peerSettings = {
  counts: numbers(values.counts, quick ? [10, 100] : [10, 100, 1000, 10_000]),
  runs: Number(values.runs ?? 3),
  // V8's memory reducer runs a few GCs about 8 s after start-up: a one-off, kept out of
  // the idle window, which is about what recurs.
  settleMs: 15_000,
  idleMs: values.idle !== undefined ? Number(values.idle) * 1000 : quick ? 15_000 : 60_000,
  statusRepeats: 10,
  respawns: quick ? 5 : 10,
  logLines: 2_000_000,
};
const stormSettings = {
  daemons: Number(values['storm-daemons'] ?? 500),
  rates: numbers(values['storm-rates'], [100, 200, 500, 1000]),
  seconds: Number(values['storm-seconds'] ?? (quick ? 30 : 300)),
  logLines: 10,
  variants: list(values['storm-variants']) ?? ['discard', 'log'],
  ceilings: values['storm-no-ceiling'] !== true,
};
const killSettings = {
  daemons: Number(values['kill-daemons'] ?? 20),
  kills: Number(values.kills ?? (quick ? 5 : 10)),
};
const attackSettings = {
  seconds: Number(values['attack-seconds'] ?? (quick ? 30 : 120)),
  managerSettings: values['attack-settings'] ?? '',
  respawns: quick ? 5 : 10,
  victimDaemons: 5,
  sizes: { ...ISSUE_SIZES, busy: Number(values['attack-busy'] ?? 0) },
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error('the bench runs as root (it runs root supervisors and creates users)');
  for (const scenario of scenarios)
    if (!SCENARIOS.includes(scenario))
      throw new Error(`unknown scenario '${scenario}' (known: ${SCENARIOS.join(', ')})`);
  const began = Date.now();
  const machine = describeMachine();
  const root = mkdtempSync(join(tmpdir(), 'dm-bench-'));
  // The attacker scenario's users run dmctl from the snapshot under it.
  chmodSync(root, 0o755);
  exitOnSignals(() => rmSync(root, { recursive: true, force: true }));
  const log = (line: string): void => {
    process.stderr.write(`[${((Date.now() - began) / 1000).toFixed(0).padStart(5)}s] ${line}\n`);
  };
  const dm = new DaemonManagerPeer(join(root, 'snapshot'));
  const largest = values['no-skip'] === true ? Number.POSITIVE_INFINITY : 1000;
  const all: Peer[] = [
    dm,
    new OriginalPeer(join(root, 'original'), values['original-tarball']),
    new RunitPeer(),
    new SupervisordPeer(largest),
    new Pm2Peer(largest),
  ];
  const only = list(values.only);
  const peers = scenarios.includes('peers')
    ? all.filter((peer) => peer === dm || only === undefined || only.includes(peer.name))
    : [dm];
  const versions: Record<string, string> = {};
  for (const peer of peers) {
    log(`installing ${peer.name}`);
    peer.install();
    Object.assign(versions, peer.versions());
  }
  const header = (failures: string[], since: number, everyPeer = false): RunHeader => ({
    mode,
    date: new Date(since).toISOString(),
    durationS: Math.round((Date.now() - since) / 1000),
    machine: {
      ...machine,
      'load average at end': loadavg()
        .map((load) => load.toFixed(2))
        .join(' '),
    },
    versions: everyPeer ? versions : pick(versions, dm.name, 'Node.js (its runtime)'),
    failures,
  });
  const saved: Record<string, unknown> = {};
  try {
    if (scenarios.includes('peers')) {
      const failures: string[] = [];
      // Put back at the end, or when the bench is interrupted.
      const restore = raiseHostLimits(Math.max(...peerSettings.counts), log);
      const forget = onInterrupt(async () => restore());
      let part: Awaited<ReturnType<typeof runPeers>>;
      try {
        part = await runPeers(peers, peerSettings, root, log, failures);
      } finally {
        forget();
        restore();
      }
      saved.peers = { ...header(failures, began, true), ...part };
    }
    if (scenarios.includes('crash-storm')) {
      const since = Date.now();
      const failures: string[] = [];
      const storms = await runCrashStorms(stormSettings, root, dm.bin, log, failures);
      saved['crash-storm'] = { ...header(failures, since), settings: stormSettings, ...storms };
    }
    if (scenarios.includes('manager-kill')) {
      const since = Date.now();
      const failures: string[] = [];
      const builds: { label: string; bin: string }[] = [];
      const compare = values['compare-tree'];
      if (compare !== undefined) {
        // Another build of daemon-manager (an older commit, built), measured first.
        const other = new DaemonManagerPeer(join(root, 'compare'), compare);
        other.install();
        builds.push({ label: values['compare-label'] ?? compare, bin: other.bin });
      }
      builds.push({ label: versions[dm.name] ?? dm.name, bin: dm.bin });
      const runs = [];
      for (const build of builds) {
        log(`kill -9 of the manager: ${build.label}, ${killSettings.kills} kills`);
        try {
          const run = await runManagerKills({ root, ...killSettings, ...build });
          runs.push(run);
          log(
            `  restarts ${run.kills.map((kill) => kill.restarts).join(', ')}; ${run.linesLost} of ${run.linesWritten} lines lost`,
          );
        } catch (error) {
          failures.push(`${build.label}: ${(error as Error).message}`);
          log(`  FAILED: ${(error as Error).message}`);
        }
      }
      saved['manager-kill'] = { ...header(failures, since), settings: killSettings, runs };
    }
    if (scenarios.includes('attacker')) {
      const since = Date.now();
      const failures: string[] = [];
      log(`attacker workload: ${attackSettings.seconds} s without, then with the attacker`);
      let run: unknown;
      try {
        run = await runAttackerScenario({ bin: dm.bin, ...attackSettings });
      } catch (error) {
        failures.push((error as Error).message);
        log(`  FAILED: ${(error as Error).message}`);
      }
      saved.attacker = { ...header(failures, since), ...(run ? { run } : {}) };
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const peersPart = saved.peers as Record<string, unknown> | undefined;
  if (peersPart) peersPart.hostLeftovers = existsSync(root) ? [root] : [];
  if (values['no-save'] === true) {
    process.stdout.write(`${JSON.stringify(saved, null, 2)}\n`);
    return;
  }
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  // An earlier crash storm stays in RESULTS.md (before and after a change to the manager).
  if (saved['crash-storm']) archiveStorms(BENCH_DIR, mode);
  for (const [part, content] of Object.entries(saved))
    writeFileSync(
      resultsFile(BENCH_DIR, part as Scenario, mode),
      `${JSON.stringify(content, null, 1)}\n`,
    );
  writeResultsMarkdown(BENCH_DIR);
  log(`wrote ${Object.keys(saved).join(', ')} of the ${mode} run and bench/RESULTS.md`);
}

function pick(record: Record<string, string>, ...keys: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => keys.includes(key)));
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});
