import { constants } from 'node:os';
import type { DaemonStatus } from '../protocol/messages.ts';
import type { RequestCounts } from './counters.ts';

/** What the manager knows of itself, for the standard `process_` metrics. */
export interface ProcessFigures {
  readonly cpuSeconds: number;
  readonly residentBytes: number;
  readonly openFds: number;
  readonly maxFds: number | undefined;
  readonly startTimeSeconds: number;
}

const STATES: readonly DaemonStatus['state'][] = [
  'running',
  'stopped',
  'stopping',
  'coolingdown',
  'exited',
  'failed',
  'starting',
  'reloading',
];

type Labels = Readonly<Record<string, string>>;
type Sample = readonly [Labels, number];

/**
 * The Prometheus text format (version 0.0.4) of the status rows, the request counters
 * and the process figures. Label values are escaped (backslash, quote, newline), so no
 * daemon or user name can break a line or forge a series.
 */
export function renderMetrics(
  rows: readonly DaemonStatus[],
  requests: RequestCounts,
  process: ProcessFigures,
): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, samples: readonly Sample[]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples)
      out.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  };
  const perDaemon = (pick: (row: DaemonStatus) => number | undefined): Sample[] =>
    rows.flatMap((row) => {
      const value = pick(row);
      return value === undefined ? [] : [[{ id: row.id, user: row.user }, value] as const];
    });

  metric(
    'daemon_manager_daemon_info',
    'gauge',
    'What each daemon is; always 1.',
    rows.map((row) => [
      { id: row.id, user: row.user, name: row.name, run_as: row.runAs, output: row.output },
      1,
    ]),
  );
  metric(
    'daemon_manager_daemon_state',
    'gauge',
    'The state of each daemon: 1 for its state.',
    rows.flatMap((row) =>
      STATES.map(
        (state) => [{ id: row.id, user: row.user, state }, row.state === state ? 1 : 0] as const,
      ),
    ),
  );
  metric(
    'daemon_manager_daemon_up',
    'gauge',
    '1 while the daemon runs.',
    perDaemon((row) => (row.state === 'running' ? 1 : 0)),
  );
  metric(
    'daemon_manager_daemon_wanted_up',
    'gauge',
    '1 when the daemon should run.',
    perDaemon((row) => (row.wanted === 'up' ? 1 : 0)),
  );
  metric(
    'daemon_manager_daemon_respawns',
    'gauge',
    'Automatic respawns since the last explicit start.',
    perDaemon((row) => row.respawns),
  );
  metric(
    'daemon_manager_daemon_uptime_seconds',
    'gauge',
    "Seconds since the program of the daemon's run began (0 until its exec is done).",
    perDaemon((row) => row.uptime),
  );
  metric(
    'daemon_manager_daemon_cooldown_seconds',
    'gauge',
    'Seconds left before the next respawn.',
    perDaemon((row) => row.cooldown),
  );
  metric(
    'daemon_manager_daemon_last_exit_code',
    'gauge',
    'Exit status of the last process, if it exited.',
    perDaemon((row) => row.lastExitCode),
  );
  metric(
    'daemon_manager_daemon_last_exit_signal',
    'gauge',
    'Number of the signal that killed the last process, if one did.',
    rows.flatMap((row) => {
      const signal = row.lastExitSignal;
      const number = signal === undefined ? undefined : constants.signals[signal as NodeJS.Signals];
      return number === undefined || signal === undefined
        ? []
        : [[{ id: row.id, user: row.user, signal }, number] as const];
    }),
  );
  metric(
    'daemon_manager_daemons',
    'gauge',
    'Daemons in each state.',
    STATES.map((state) => [{ state }, rows.filter((row) => row.state === state).length]),
  );
  const counts = requests.entries();
  metric(
    'daemon_manager_requests_total',
    'counter',
    'dmctl requests answered.',
    counts.map(([command, count]) => [{ command }, count.total]),
  );
  metric(
    'daemon_manager_request_errors_total',
    'counter',
    'dmctl requests refused or failed.',
    counts.map(([command, count]) => [{ command }, count.errors]),
  );
  metric('process_cpu_seconds_total', 'counter', 'CPU time of the manager.', [
    [{}, process.cpuSeconds],
  ]);
  metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the manager.', [
    [{}, process.residentBytes],
  ]);
  metric('process_open_fds', 'gauge', 'Open descriptors of the manager.', [[{}, process.openFds]]);
  if (process.maxFds !== undefined)
    metric('process_max_fds', 'gauge', 'Descriptors the manager may open.', [[{}, process.maxFds]]);
  metric('process_start_time_seconds', 'gauge', 'When the manager started, in Unix time.', [
    [{}, process.startTimeSeconds],
  ]);
  return `${out.join('\n')}\n`;
}

function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** Escapes a label value as the text format requires. */
export function escapeLabel(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function formatValue(value: number): string {
  return Number.isFinite(value) ? String(value) : 'NaN';
}
