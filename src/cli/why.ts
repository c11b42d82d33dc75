import type { DaemonWhy } from '../protocol/messages.ts';
import { formatLastExit, formatStatusNote } from '../protocol/status-table.ts';

/**
 * `dmctl ID why`: what the daemon is doing and wants, how its last process ended, then
 * its recent events, oldest first, each with its local time:
 *
 *     alice/web: coolingdown (wanted up), last exit: exit 3
 *     2026-12-02 11:50:01  bob ran dmctl restart
 */
export function formatWhy(why: DaemonWhy): string {
  const { status, events } = why;
  const exit = formatLastExit(status);
  const note = formatStatusNote(status);
  const head = `${status.id}: ${status.state} (wanted ${status.wanted}), last exit: ${exit}${note === '' ? '' : `, status: ${note}`}\n`;
  if (events.length === 0) return `${head}(no events recorded yet)\n`;
  return head + events.map((event) => `${localTime(event.at)}  ${event.text}\n`).join('');
}

function localTime(ms: number): string {
  const date = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}
