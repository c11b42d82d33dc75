import { table } from './format.ts';
import type { HealthResults } from './results.ts';

/** What health checks and watchdogs cost the manager (bench/health.ts). */
export function renderHealth(results: HealthResults): string[] {
  const first = results.cases[0];
  return [
    `## Health checks and watchdogs, ${results.date.slice(0, 10)}`,
    '',
    `\`node bench/health.ts\`: a root manager with ${first?.daemons ?? 0} daemons (\`sleep\`, or a small C program sending \`READY=1\` and then \`WATCHDOG=1\` every second), all running (ready) and then some seconds to settle (\`settled\`: the manager's file threads end after 30 s without work, a wake-up each, so the idle case waits longer), measured over ${first?.seconds ?? 0} s: CPU time and context switches (wake-ups) of the manager and its keeper, every thread. The tcp: and http:// checks go to one listener of the bench. Machine: ${results.machine.CPU ?? '?'}, ${results.machine.cores ?? '?'} cores, shared with other sessions' test runs (see the load average, 1, 5 and 15 min), which add and remove users all the time: each change of /etc/passwd makes the manager read the accounts again (\`account changes seen\`), wake-ups no check causes. The no-check case is the idle figure: the manager has no timer, socket or wake-up of its own for checks or watchdogs.`,
    '',
    ...table(
      [
        'case',
        'settled, s',
        'CPU ms/s',
        'wake-ups/s',
        'wake-ups',
        'account changes seen',
        'load before',
        'load after',
      ],
      results.cases.map((c) => [
        c.name,
        String(c.settleSeconds ?? results.settleSeconds),
        c.cpuMsPerSecond.toFixed(2),
        c.wakeupsPerSecond.toFixed(1),
        String(c.wakeups),
        c.accountChanges === undefined ? 'n/a' : String(c.accountChanges),
        c.loadBefore.map((load) => load.toFixed(2)).join(' '),
        c.loadAfter.map((load) => load.toFixed(2)).join(' '),
      ]),
    ),
    '',
  ];
}
