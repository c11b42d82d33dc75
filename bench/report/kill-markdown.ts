import type { ManagerKillRun } from '../scenarios/manager-kill.ts';
import { describeRun, int, table, when } from './format.ts';
import type { ManagerKillResults } from './results.ts';
import { maximum, median } from './stats.ts';

/** Restarts and lines lost per kill -9 of the manager, each build measured in one run. */
export function renderManagerKills(results: ManagerKillResults): string[] {
  const { settings } = results;
  const out: string[] = [
    `### Kill -9 of the manager, ${results.date.slice(0, 10)}`,
    '',
    `${when(results)}. daemon-manager alone: ${settings.daemons} root daemons with \`output=log\`, each writing bursts of numbered lines (the number of every line whose write returned is kept aside, so a line that reached the pipe and not the log counts as lost); the manager is killed with \`kill -9\` ${settings.kills} times and started again at once (same config, same state directory), as systemd would restart it; then SIGTERM. A restart is a daemon start seen after a kill (its process replaced); the reliability issue's goal is 0 restarts and 0 lines lost.`,
    '',
    ...describeRun(results),
  ];
  if (results.runs.length === 0)
    return [...out, 'Not run:', '', ...results.failures.map((f) => `- ${f}`), ''];
  out.push(
    ...table(
      [
        'build',
        'kills',
        'restarts per kill (median, worst)',
        'daemons replaced per kill (worst)',
        'restarted manager answers, ms (median, worst)',
        'lines written',
        'lines lost',
        'runs out of order',
        'runs',
        'SIGTERM to exit',
        'left: processes, cgroup dirs',
      ],
      results.runs.map(row),
    ),
    '',
  );
  if (results.failures.length > 0)
    out.push('Failed:', '', ...results.failures.map((f) => `- ${f}`), '');
  return out;
}

function row(run: ManagerKillRun): string[] {
  const restarts = run.kills.map((kill) => kill.restarts);
  const answered = run.kills.map((kill) => kill.answeredMs ?? Number.NaN);
  const worst = run.kills.some((kill) => kill.answeredMs === null)
    ? 'one not in 60 s'
    : int(maximum(answered));
  return [
    run.label,
    String(run.kills.length),
    `${int(median(restarts))} (${int(maximum(restarts))}) of ${run.daemons}`,
    int(maximum(run.kills.map((kill) => kill.pidsChanged))),
    `${int(median(answered))} (${worst})`,
    run.linesWritten.toLocaleString('en'),
    run.linesLost.toLocaleString('en'),
    String(run.runsOutOfOrder),
    String(run.runs),
    run.sigtermExitMs === null ? '**no exit in 60 s**' : `${int(run.sigtermExitMs)} ms`,
    `${run.processesLeft}, ${run.cgroupsLeft.length}`,
  ];
}
