import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { table } from './format.ts';
import { maximum, median, percentile } from './stats.ts';

/** What bench/measures/control-client.py printed for one loop. */
interface ClientLoop {
  readonly ms: readonly number[];
  /** The calls answered `ok` (absent in files before it was kept apart). */
  readonly okMs?: readonly number[];
  readonly failures: number;
  readonly errors: readonly string[];
}

interface Phase {
  readonly status: ClientLoop;
  readonly respawnMs: readonly (number | null)[];
}

interface RescanRun {
  readonly label: string;
  readonly round: number;
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly idle: Phase;
  readonly attack: Phase;
  readonly rescans: ClientLoop;
}

/** One run of bench/rescan-attack.ts, saved as results/rescan-attack-DATE.json. */
export interface RescanResults {
  readonly date: string;
  readonly machine?: Record<string, string>;
  readonly builds?: readonly { readonly label: string; readonly commit: string }[];
  readonly seconds: number;
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
  const labels = [...new Set(results.runs.map((run) => run.label))];
  const rounds = Math.max(...results.runs.map((run) => run.round));
  const loads = results.runs.map((run) => run.loadBefore[0] ?? Number.NaN);
  const commit = (label: string): string =>
    results.builds?.find((build) => build.label === label)?.commit ?? '';
  const rows = labels.map((label) => {
    const runs = results.runs.filter((run) => run.label === label);
    const stat = (phase: 'idle' | 'attack', p: number): number =>
      median(runs.map((run) => percentile([...run[phase].status.ms], p)));
    const worst = (phase: 'idle' | 'attack'): number =>
      maximum(runs.map((run) => maximum([...run[phase].status.ms])));
    const respawns = (phase: 'idle' | 'attack'): number[] =>
      runs.flatMap((run) => run[phase].respawnMs.map((value) => value ?? Number.NaN));
    const ok = runs.flatMap((run) => run.rescans.okMs ?? []);
    const refused = runs.reduce((sum, run) => sum + run.rescans.failures, 0);
    const calls = runs.reduce((sum, run) => sum + run.rescans.ms.length, 0);
    return [
      `${label}${commit(label) ? ` (${commit(label)})` : ''}`,
      `${ms(stat('idle', 50))} / ${ms(stat('idle', 99))} / ${ms(worst('idle'))}`,
      `${ms(stat('attack', 50))} / ${ms(stat('attack', 99))} / ${ms(worst('attack'))}`,
      String(runs.reduce((sum, run) => sum + run.attack.status.failures, 0)),
      `${ms(median(respawns('idle')))} / ${ms(maximum(respawns('idle')))}`,
      `${ms(median(respawns('attack')))} / ${ms(maximum(respawns('attack')))}`,
      `${calls - refused} ok${ok.length > 0 ? ` (median ${ms(median(ok))} ms)` : ''}, ${refused} refused`,
    ];
  });
  return [
    `### Rescan attack at the manager's socket, ${results.date.slice(0, 10)}`,
    '',
    `${results.date.replace('T', ' ').slice(0, 16)} UTC. \`node bench/rescan-attack.ts\`: the attacker has 1,000 configs of 250 KB (\`autostart=no\`) and 50,000 \`*.conf\` files whose names cannot be daemon names, and a Python client of its own asks \`rescan\` in a loop, touching every big config before each; the victim (5 daemons) asks \`{"command":"status"}\` on its control socket from a Python client in a loop (no Node start-up in the figure: what the manager itself takes) while 4 of its daemons are killed with \`kill -9\`; ${results.seconds} s idle, then ${results.seconds} s under attack. The builds ran in turn, ${rounds} rounds, the order reversed every other round; load average (1 min) at the start of each run: ${ms(Math.min(...loads))}-${ms(Math.max(...loads))} (median ${median(loads).toFixed(1)}): the machine was shared with other sessions' tests and benches.`,
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
        'status idle: p50 / p99 / max ms',
        'status under attack: p50 / p99 / max ms',
        'failed',
        'respawn idle: median / max ms',
        'respawn under attack: median / max ms',
        "attacker's rescans",
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
