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

/** `dmctl status` as text: the header, then one line per daemon. */
export function formatStatusTable(daemons: readonly DaemonStatus[]): string {
  const lines = [STATUS_HEADER];
  for (const daemon of daemons) {
    lines.push(
      row(
        daemon.id,
        daemon.state,
        String(daemon.pid),
        String(daemon.respawns),
        formatElapsed(daemon.cooldown),
        formatElapsed(daemon.uptime),
        formatElapsed(daemon.total),
      ),
    );
  }
  return `${lines.join('\n')}\n`;
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
