import type { StormRun, StormSecond, TimeSummary } from '../scenarios/crash-storm.ts';
import { describeRun, int, mib, table, when } from './format.ts';
import type { StormResults } from './results.ts';
import { maximum, median, percentile } from './stats.ts';
import { WHY_SINCE, WHY_SOURCE, WHY_STORM, WHY_STORM_AFTER, WHY_STORM_AT_CEILING } from './why.ts';

/** What "every dmctl answered" means here, and "flat" growth over a storm. */
const ANSWER_MS = 1000;
const SLACK = { fds: 16, rssKb: 8 * 1024, zombies: 10 } as const;

/** A storm judged: it holds if dmctl always answered within a second and nothing grew. */
export function stormVerdict(run: StormRun): string[] {
  const problems: string[] = [];
  const worst = maximum(run.statusMs);
  const first = run.series[0];
  if (run.statusFailures > 0) problems.push(`${run.statusFailures} dmctl calls failed`);
  if (worst > ANSWER_MS) problems.push(`dmctl took up to ${int(worst)} ms`);
  if (run.sigtermExitMs === null) problems.push('SIGTERM not acted on in 3 min');
  for (const [what, pick, slack] of [
    ['descriptors', (s: StormSecond) => s.fds, SLACK.fds],
    ['RSS', (s: StormSecond) => s.rssKb, SLACK.rssKb],
    ['zombies', (s: StormSecond) => s.zombieChildren, SLACK.zombies],
  ] as const)
    if (!isFlat(run.series.map(pick), slack)) problems.push(`${what} grew`);
  if (run.calm === null) problems.push('the storm did not calm down');
  else if (run.calm && first !== undefined && run.calm.fds > first.fds + SLACK.fds)
    problems.push('descriptors stayed up after the storm');
  if (run.daemonsLeft > 0) problems.push(`${run.daemonsLeft} daemon processes left`);
  if (run.logs && (run.logs.linesLost > 0 || run.logs.runsOutOfOrder > 0))
    problems.push('log lines lost or out of order');
  return problems;
}

/** A respawn's p50 / p90, and its exec chain's. */
function respawnText(respawn: TimeSummary | undefined, launch: TimeSummary | undefined): string {
  if (!respawn || respawn.count === 0) return 'not measured';
  const both = (times: TimeSummary): string => `${int(times.p50)} / ${int(times.p90)}`;
  return `${both(respawn)}${launch && launch.count > 0 ? ` (${both(launch)})` : ''}`;
}

/** The descriptors once the storm calmed down, where measured. */
function calmText(run: StormRun): string {
  if (run.calm === undefined) return '';
  if (run.calm === null) return '; did not calm down';
  return `; ${int(run.calm.fds)} calm (after ${run.calm.seconds} s)`;
}

/** Whether the storm's runs were told apart by their start time as well as their pid. */
function keyedByStart(results: StormResults): boolean {
  return results.runs.some((run) => run.logs?.pidsReused !== undefined);
}

/** The machine's own ceiling at a rate (bare shell loops), or why there is none. */
function ceilingOf(results: StormResults, ratePerS: number): string {
  const ceiling = results.ceilings?.find((c) => c.ratePerS === ratePerS);
  if (!ceiling) return 'not measured';
  return `${int(median(ceiling.exitsPerS))}${ceiling.left > 0 ? ` (${ceiling.left} left)` : ''}`;
}

/** The largest value of the second half no more than 1.2× that of the first, plus slack. */
function isFlat(values: readonly number[], slack: number): boolean {
  const half = Math.floor(values.length / 2);
  if (half === 0) return true;
  return maximum(values.slice(half)) <= 1.2 * maximum(values.slice(0, half)) + slack;
}

export function renderStorms(results: StormResults): string[] {
  const { settings } = results;
  const out: string[] = [
    `### Crash storm, ${results.date.slice(0, 10)}`,
    '',
    `${when(results)}. daemon-manager alone: ${settings.daemons} root daemons that each sleep a pseudo-random time and exit 1, for an aggregate exit rate aimed at ${settings.rates.join(', ')} exits/s; ${settings.seconds} s each (the window opens once every daemon has started once); \`stable-uptime\` below the shortest run, so no back-off; \`dmctl status\` asked in a loop, one call at a time, and beside it \`node -e 0\` in a loop (the floor of any Node client under the storm's load); the manager and its \`dm-keeper\` (the process that forks and reaps the daemons) sampled every second, summed; then SIGTERM. Before the manager's run at each rate, the same daemons run under bare shell loops (\`while :; do SCRIPT; done\`, no supervisor): the exit rate this machine reaches at the moment, the ceiling of any supervisor. A storm holds when every dmctl call answered within a second, SIGTERM was acted on, descriptors, RSS and the manager's and keeper's zombie children stayed flat, nothing was left and no log line was lost (zombies on the whole machine are shown too, but other sessions' orphans count there). Variants: ${settings.variants.join(', ')} (log: \`output=log\`, ${settings.logLines} numbered lines per run between a begin and an end line with the run's ${keyedByStart(results) ? 'pid and start time' : 'pid'}). The other systems are left out: the original's back-off is fixed (a daemon up under 60 s waits 10 s or more), and runit waits a second before restarting a service that ran under a second.`,
    '',
    ...describeRun(results),
    '**Responsiveness**',
    '',
    ...table(
      [
        'target exits/s',
        'output',
        'exits/s achieved (median, worst second)',
        'bare shell loops: exits/s (median)',
        'dmctl calls',
        'failed',
        'p50 / p99 / max ms',
        '`node -e 0` beside it: p50 / max ms',
        'SIGTERM to exit',
        'verdict',
      ],
      results.runs.map((run) => {
        const exits = run.series.map((s) => s.exits);
        const problems = stormVerdict(run);
        return [
          String(run.ratePerS),
          run.logLines > 0 ? 'log' : 'discard',
          `${int(median(exits))} (${int(Math.min(...exits))})`,
          ceilingOf(results, run.ratePerS),
          String(run.statusMs.length),
          String(run.statusFailures),
          `${int(percentile(run.statusMs, 50))} / ${int(percentile(run.statusMs, 99))} / ${int(maximum(run.statusMs))}`,
          run.nodeFloorMs
            ? `${int(percentile(run.nodeFloorMs, 50))} / ${int(maximum(run.nodeFloorMs))}`
            : 'not measured',
          run.sigtermExitMs === null
            ? '**no exit in 3 min**'
            : `${(run.sigtermExitMs / 1000).toFixed(1)} s`,
          problems.length === 0 ? 'holds' : `**${problems.join('; ')}**`,
        ];
      }),
    ),
    '',
    "**The manager and its keeper over the storm (first second → largest → last second; descriptors also once the storm calmed down, every daemon's next run sleeping for good)**",
    '',
    ...table(
      [
        'target exits/s',
        'output',
        'descriptors',
        'RSS (MiB)',
        'zombie children (manager + keeper)',
        'zombies on the machine',
        'CPU, % of a core (mean, max)',
        'left: processes, cgroup dirs',
      ],
      results.runs.map((run) => {
        const first = run.series[0];
        const last = run.series.at(-1);
        const range = (pick: (s: StormSecond) => number, format = int): string =>
          first && last
            ? `${format(pick(first))} → ${format(maximum(run.series.map(pick)))} → ${format(pick(last))}`
            : '–';
        const cpu = run.series.map((s) => s.cpuPct);
        return [
          String(run.ratePerS),
          run.logLines > 0 ? 'log' : 'discard',
          `${range((s) => s.fds)}${calmText(run)}`,
          range((s) => s.rssKb, mib),
          range((s) => s.zombieChildren),
          `${run.machineZombiesBefore} before; ${range((s) => s.machineZombies)}`,
          `${int(cpu.reduce((sum, v) => sum + v, 0) / Math.max(1, cpu.length))} (${int(maximum(cpu))})`,
          `${run.daemonsLeft}, ${run.cgroupsLeft.length}`,
        ];
      }),
    ),
    '',
  ];
  const measured = results.runs.filter((run) => run.socketMs && run.cpuMs);
  if (measured.length > 0)
    out.push(
      "**The manager's own answer, and the CPU each exit costs** (`status` asked on the control socket in a loop by the bench, a client already running, so without a Node start-up; CPU over the window divided by the runs that ended in it: the manager's includes its answers to both status loops, each a listing of every daemon)",
      '',
      ...table(
        [
          'target exits/s',
          'output',
          'socket answers',
          'failed',
          'p50 / p99 / max ms',
          'runs ended',
          'CPU ms per exit: manager, keeper',
        ],
        measured.map((run) => {
          const socket = run.socketMs ?? [];
          const exits = Math.max(1, run.windowExits ?? 0);
          return [
            String(run.ratePerS),
            run.logLines > 0 ? 'log' : 'discard',
            String(socket.length),
            String(run.socketFailures ?? 0),
            `${int(percentile(socket, 50))} / ${int(percentile(socket, 99))} / ${int(maximum(socket))}`,
            String(run.windowExits ?? 0),
            `${((run.cpuMs?.manager ?? 0) / exits).toFixed(1)}, ${((run.cpuMs?.keeper ?? 0) / exits).toFixed(1)}`,
          ];
        }),
      ),
      '',
    );
  const timed = results.runs.filter((run) => run.respawn && run.respawn.count > 0);
  if (timed.length > 0)
    out.push(
      "**Each respawn** (from a run's `done` to its daemon's next `ready`, p50 / p90 ms; in parentheses the part after the fork of the new run's process, at 10 ms resolution: its exec chain; the rest is the run's exit, the keeper's reaping, the manager's answer and the fork)",
      '',
      ...table(
        ['target exits/s', 'output', 'daemon-manager', 'bare shell loops'],
        timed.map((run) => {
          const ceiling = results.ceilings?.find((c) => c.ratePerS === run.ratePerS);
          return [
            String(run.ratePerS),
            run.logLines > 0 ? 'log' : 'discard',
            respawnText(run.respawn, run.launch),
            ceiling ? respawnText(ceiling.respawn, ceiling.launch) : 'not measured',
          ];
        }),
      ),
      '',
    );
  const logged = results.runs.filter((run) => run.logs);
  if (logged.length > 0)
    out.push(
      '**Log variant: every line of every run that ended, in order**',
      '',
      ...table(
        [
          'target exits/s',
          'runs ended',
          'runs in the logs',
          'lines lost',
          'runs out of order',
          "runs that had a pid of an earlier run of their daemon's",
        ],
        logged.map((run) => [
          String(run.ratePerS),
          String(run.logs?.runsEnded),
          String(run.logs?.runsLogged),
          String(run.logs?.linesLost),
          String(run.logs?.runsOutOfOrder),
          run.logs?.pidsReused === undefined
            ? 'not counted (runs keyed by name and pid alone)'
            : String(run.logs.pidsReused),
        ]),
      ),
      '',
    );
  const errors = results.runs.flatMap((run) =>
    run.statusErrors.map(
      (error) => `${run.ratePerS}/s ${run.logLines > 0 ? 'log' : 'discard'}: ${error}`,
    ),
  );
  if (errors.length > 0) out.push('dmctl failures seen:', '', ...errors.map((e) => `- ${e}`), '');
  if (results.failures.length > 0)
    out.push('Failed storms:', '', ...results.failures.map((f) => `- ${f}`), '');
  // The newest findings that predate the run.
  const why = [
    WHY_STORM_AT_CEILING,
    WHY_STORM_AFTER,
    { since: WHY_SINCE, source: WHY_SOURCE, items: WHY_STORM },
  ].find((found) => results.date >= found.since);
  if (why && results.runs.some((run) => stormVerdict(run).length > 0))
    out.push(
      `**Why the storms do not hold** (${why.source}):`,
      '',
      ...why.items.map((item) => `- ${item}`),
      '',
    );
  return out;
}
