import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixed, table } from './format.ts';
import { maximum, median, percentile } from './stats.ts';

/** What bench/measures/control-client.py printed for one loop. */
export interface ClientLoop {
  readonly ms: readonly number[];
  /** The calls answered `ok` (absent in files before it was kept apart). */
  readonly okMs?: readonly number[];
  readonly failures: number;
  readonly errors: readonly string[];
  readonly largestReply?: number;
  /** Calls over 100 ms: seconds since the loop began, wall-clock time, ms. */
  readonly slow?: readonly (readonly number[])[];
}

/** One loop as saved: its figures, not every call (tens of thousands). */
export interface LoopSummary {
  readonly calls: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly over200: number;
  readonly failures: number;
  readonly errors: readonly string[];
  readonly okCalls: number;
  readonly okMedian: number;
}

export function summarize(loop: ClientLoop): LoopSummary {
  // Files from before okMs was kept: with no failure, every call was answered.
  const ok = loop.okMs ?? (loop.failures === 0 ? loop.ms : []);
  return {
    calls: loop.ms.length,
    p50: percentile([...loop.ms], 50),
    p99: percentile([...loop.ms], 99),
    max: maximum([...loop.ms]),
    over200: loop.ms.filter((value) => value > 200).length,
    failures: loop.failures,
    errors: loop.errors,
    okCalls: ok.length,
    okMedian: median([...ok]),
  };
}

interface Phase {
  readonly status: LoopSummary;
  readonly respawnMs: readonly (number | null)[];
}

export interface RescanRun {
  readonly label: string;
  readonly round: number;
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly idle: Phase;
  readonly attack: Phase;
  readonly rescans: LoopSummary;
}

/** One run of bench/rescan-attack.ts, saved as results/rescan-attack-DATE.json. */
export interface RescanResults {
  readonly date: string;
  readonly machine?: Record<string, string>;
  readonly builds?: readonly { readonly label: string; readonly commit: string }[];
  readonly seconds: number;
  /** What the attacker did (absent in files from before the status flood: rescan). */
  readonly attack?: 'rescan' | 'status';
  /** The status flood: clients at once, and the broken configs behind the replies. */
  readonly flood?: number;
  readonly brokenConfigs?: number;
  readonly runs: readonly RescanRun[];
  /** What was found by looking (profiles, GC traces), written by hand after the run. */
  readonly notes?: readonly string[];
}

const ms = (value: number): string => (Number.isFinite(value) ? String(Math.round(value)) : '–');

/** Sections for every results/rescan-attack-*.json, oldest first. */
export function renderRescanAttacks(benchDir: string): string[] {
  const dir = join(benchDir, 'results');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => /^rescan-attack-.*\.json$/.test(name))
    .sort()
    .flatMap((name) =>
      renderRescanAttack(JSON.parse(readFileSync(join(dir, name), 'utf8')) as RescanResults),
    );
}

function renderRescanAttack(results: RescanResults): string[] {
  const flooding = results.attack === 'status';
  const labels = [...new Set(results.runs.map((run) => run.label))];
  const rounds = Math.max(...results.runs.map((run) => run.round));
  const loads = results.runs.map((run) => run.loadBefore[0] ?? Number.NaN);
  const commit = (label: string): string =>
    results.builds?.find((build) => build.label === label)?.commit ?? '';
  const rows = labels.map((label) => {
    const runs = results.runs.filter((run) => run.label === label);
    const stat = (phase: 'idle' | 'attack', key: 'p50' | 'p99'): number =>
      median(runs.map((run) => run[phase].status[key]));
    const worst = (phase: 'idle' | 'attack'): number =>
      maximum(runs.map((run) => run[phase].status.max));
    const over = (phase: 'idle' | 'attack'): number =>
      runs.reduce((sum, run) => sum + run[phase].status.over200, 0);
    const calls = (phase: 'idle' | 'attack'): number =>
      runs.reduce((sum, run) => sum + run[phase].status.calls, 0);
    const respawns = (phase: 'idle' | 'attack'): number[] =>
      runs.flatMap((run) => run[phase].respawnMs.map((value) => value ?? Number.NaN));
    const ok = runs.reduce((sum, run) => sum + run.rescans.okCalls, 0);
    const refused = runs.reduce((sum, run) => sum + run.rescans.failures, 0);
    return [
      `${label}${commit(label) ? ` (${commit(label)})` : ''}`,
      `${fixed(1)(stat('idle', 'p50'))} / ${ms(stat('idle', 'p99'))} / ${ms(worst('idle'))} (${over('idle')} of ${calls('idle')})`,
      `${fixed(1)(stat('attack', 'p50'))} / ${ms(stat('attack', 'p99'))} / ${ms(worst('attack'))} (${over('attack')} of ${calls('attack')})`,
      String(runs.reduce((sum, run) => sum + run.attack.status.failures, 0)),
      `${ms(median(respawns('idle')))} / ${ms(maximum(respawns('idle')))}`,
      `${ms(median(respawns('attack')))} / ${ms(maximum(respawns('attack')))}`,
      `${ok} answered (median ${ms(median(runs.map((run) => run.rescans.okMedian)))} ms), ${refused} ${flooding ? 'failed' : 'refused'}`,
    ];
  });
  return [
    flooding
      ? `### Status flood at the manager's socket, ${results.date.slice(0, 10)}`
      : `### Rescan attack at the manager's socket, ${results.date.slice(0, 10)}`,
    '',
    `${results.date.replace('T', ' ').slice(0, 16)} UTC. ${
      flooding
        ? `\`node bench/rescan-attack.ts --attack status\`: the attacker has ${results.brokenConfigs ?? '?'} broken configs (each an unknown key of 300 characters that are escaped in replies, from the manager's start, in both phases), and ${results.flood ?? '?'} Python clients of its own ask \`status\` at once, each in a loop, from 2 s before the victim's attack phase to its end`
        : '`node bench/rescan-attack.ts`: the attacker has 1,000 configs of 250 KB (`autostart=no`) and 50,000 `*.conf` files whose names cannot be daemon names, and a Python client of its own asks `rescan` in a loop, touching every big config before each'
    }; the victim (5 daemons) asks \`{"command":"status"}\` on its control socket from a Python client in a loop (no Node start-up in the figure: what the manager itself takes) while 4 of its daemons are killed with \`kill -9\`; ${results.seconds} s idle, then ${results.seconds} s under attack. The builds ran in turn, ${rounds} rounds, the order reversed every other round; load average (1 min) at the start of each run: ${ms(Math.min(...loads))}-${ms(Math.max(...loads))} (median ${median(loads).toFixed(1)}): the machine was shared with other sessions' tests and benches.`,
    '',
    ...(results.machine
      ? [
          '| machine | |',
          '| --- | --- |',
          ...Object.entries(results.machine)
            .filter(([key]) => !key.startsWith('load'))
            .map(([key, value]) => `| ${key} | ${value} |`),
          '',
        ]
      : []),
    ...table(
      [
        'build',
        'status idle: p50 / p99 / max ms (calls over 200 ms)',
        'status under attack: p50 / p99 / max ms (over 200 ms)',
        'failed',
        'respawn idle: median / max ms',
        'respawn under attack: median / max ms',
        flooding ? "attacker's status requests" : "attacker's rescans",
      ],
      rows,
    ),
    '',
    "p50 and p99 are medians over the rounds of each round's figure; max is the worst call of all rounds.",
    '',
    ...(results.notes ?? []).flatMap((note) => [`- ${note}`]),
    ...(results.notes?.length ? [''] : []),
  ];
}
