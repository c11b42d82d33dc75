import { table } from './format.ts';
import type { HealthResults } from './results.ts';

/** What health checks and watchdogs cost the manager (bench/health.ts). */
export function renderHealth(results: HealthResults): string[] {
  const first = results.cases[0];
  return [
    `## Health checks and watchdogs, ${results.date.slice(0, 10)}`,
    '',
    `\`node bench/health.ts\`: a root manager with ${first?.daemons ?? 0} daemons (\`sleep\`, or a small C program sending \`READY=1\` and then \`WATCHDOG=1\` every second), all running (ready) and then ${results.settleSeconds} s to settle, measured over ${first?.seconds ?? 0} s: CPU time and context switches (wake-ups) of the manager and its keeper, every thread. The tcp: and http:// checks go to one listener of the bench. Machine: ${results.machine.CPU ?? '?'}, ${results.machine.cores ?? '?'} cores, shared with other sessions' test runs (see the load average, 1, 5 and 15 min).`,
    '',
    ...table(
      ['case', 'CPU ms/s', 'wake-ups/s', 'wake-ups', 'load before', 'load after'],
      results.cases.map((c) => [
        c.name,
        c.cpuMsPerSecond.toFixed(2),
        c.wakeupsPerSecond.toFixed(1),
        String(c.wakeups),
        c.loadBefore.map((load) => load.toFixed(2)).join(' '),
        c.loadAfter.map((load) => load.toFixed(2)).join(' '),
      ]),
    ),
    '',
  ];
}
