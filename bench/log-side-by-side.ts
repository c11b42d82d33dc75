// The bench's log scenario (figure 6) for several builds of daemon-manager, and the
// original if asked, in interleaved rounds: each round runs every build once, the order
// reversed every other round, so the load of a shared machine falls on each alike.
// Usage, as root, after `npm run build` of each tree:
//   node bench/log-side-by-side.ts --tree DIR=LABEL [--tree DIR=LABEL ...] [--original]
//     [--rounds 5] [--lines 2000000] [--timestamps] [--out FILE.json]
// --timestamps: daemon-manager's logs with `log_timestamps=yes` (its copy path).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DaemonManagerPeer } from './peers/daemon-manager.ts';
import { ORIGINAL_TARBALL, OriginalPeer } from './peers/original.ts';
import type { Peer } from './peers/peer.ts';
import { median } from './report/stats.ts';
import { exitOnSignals } from './scenarios/interrupt.ts';
import { type LogRun, runLogThroughput } from './scenarios/log-throughput.ts';

const { values } = parseArgs({
  options: {
    tree: { type: 'string', multiple: true, default: [] },
    original: { type: 'boolean', default: false },
    timestamps: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '5' },
    lines: { type: 'string', default: '2000000' },
    out: { type: 'string' },
  },
});

interface Entry {
  readonly label: string;
  readonly peer: Peer;
  readonly runs: (LogRun & { load: number })[];
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the log bench runs as root');
  const root = mkdtempSync(join(tmpdir(), 'dm-logbench-'));
  exitOnSignals(() => rmSync(root, { recursive: true, force: true }));
  const entries: Entry[] = (values.tree ?? []).map((spec, index) => {
    const [dir = '', label = dir] = spec.split('=');
    return {
      label,
      peer: new DaemonManagerPeer(join(root, `snapshot-${index}`), dir, {
        logTimestamps: values.timestamps,
      }),
      runs: [],
    };
  });
  if (values.original)
    entries.push({
      label: 'original',
      peer: new OriginalPeer(join(root, 'original'), ORIGINAL_TARBALL),
      runs: [],
    });
  const loadAtStart = loadavg();
  try {
    for (const entry of entries) entry.peer.install();
    const rounds = Number(values.rounds);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? entries : [...entries].reverse();
      for (const entry of order) {
        const load = loadavg()[0] ?? 0;
        const run = await runLogThroughput(entry.peer, root, Number(values.lines));
        entry.runs.push({ ...run, load });
        process.stderr.write(
          `round ${round + 1}/${rounds} ${entry.label}: ${run.mbPerS.toFixed(0)} MB/s, ` +
            `${(run.cpuMs / ((Number(values.lines) * 100) / 1e6)).toFixed(2)} ms CPU/MB, ` +
            `${run.linesLost} lost, load ${load.toFixed(2)}\n`,
        );
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const megabytes = (Number(values.lines) * 100) / 1e6;
  const summary = entries.map((entry) => ({
    label: entry.label,
    mbPerS: median(entry.runs.map((run) => run.mbPerS)),
    cpuMsPerMb: median(entry.runs.map((run) => run.cpuMs / megabytes)),
    worstLost: Math.max(...entry.runs.map((run) => run.linesLost)),
    runs: entry.runs,
  }));
  const result = { loadAtStart, loadAtEnd: loadavg(), summary };
  for (const line of summary)
    console.log(
      `${line.label.padEnd(24)} ${line.mbPerS.toFixed(0).padStart(5)} MB/s  ${line.cpuMsPerMb.toFixed(2)} ms CPU/MB  worst lost ${line.worstLost}`,
    );
  console.log(
    `load at start ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}, at end ${result.loadAtEnd.map((x) => x.toFixed(2)).join(' ')}`,
  );
  if (values.out) writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
}

await main();
