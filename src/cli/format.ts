import type { DaemonStatus } from '../protocol/messages.ts';

const UNITS: readonly (readonly [string, number])[] = [
  ['w', 604_800],
  ['d', 86_400],
  ['h', 3_600],
  ['m', 60],
  ['s', 1],
];

/** Elapsed seconds in the two largest units, as the original printed them: `3w3d`, `12h57m`, `42s`. */
export function formatElapsed(totalSeconds: number): string {
  let rest = Math.max(0, Math.floor(totalSeconds));
  const index = UNITS.findIndex(([, size]) => rest >= size);
  if (index === -1) return '0s';
  const parts: string[] = [];
  for (const [unit, size] of UNITS.slice(index, index + 2)) {
    parts.push(`${Math.floor(rest / size)}${unit}`);
    rest %= size;
  }
  return parts.join('');
}

/** The header of `dmctl status`, column for column the original's. */
export const STATUS_HEADER = row(
  'daemon-id',
  'state',
  'pid',
  'respawns',
  'cooldown',
  'uptime',
  'total',
);

/**
 * `dmctl status` as text: the header, then one line per daemon. A daemon whose config
 * file is refused gets a short reason after its row (the whole problem is in --json and
 * `dmctl problems`).
 */
export function formatStatusTable(daemons: readonly DaemonStatus[]): string {
  const lines = [STATUS_HEADER];
  for (const daemon of daemons) {
    const line = row(
      daemon.id,
      daemon.state,
      String(daemon.pid),
      String(daemon.respawns),
      formatElapsed(daemon.cooldown),
      formatElapsed(daemon.uptime),
      formatElapsed(daemon.total),
    );
    lines.push(daemon.problem === undefined ? line : `${line}  ${shortReason(daemon.problem)}`);
  }
  return `${lines.join('\n')}\n`;
}

const REASON_CHARS = 60;

/** `file:12: error: message` as `line 12: message`, cut to fit beside a status row. */
export function shortReason(problem: string): string {
  const located = /^.*?:(\d+): error: (.*)$/.exec(problem);
  const whole = /^.*?: error: (.*)$/.exec(problem);
  const reason = located ? `line ${located[1]}: ${located[2]}` : (whole?.[1] ?? problem);
  return reason.length > REASON_CHARS ? `${reason.slice(0, REASON_CHARS - 3)}...` : reason;
}

function row(
  id: string,
  state: string,
  pid: string,
  respawns: string,
  cooldown: string,
  uptime: string,
  total: string,
): string {
  return `${id.padEnd(30)} ${state.padEnd(11)} ${pid.padStart(10)} ${respawns.padStart(8)} ${cooldown.padStart(8)} ${uptime.padStart(8)} ${total.padStart(8)}`;
}
