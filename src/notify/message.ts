import { printable } from '../protocol/printable.ts';

/** What one sd_notify datagram says (sd_notify(3)); fields it does not carry are absent. */
export interface NotifyMessage {
  /** `READY=1`: started, or done reloading. */
  readonly ready?: true;
  /** `RELOADING=1`: reloading its configuration, until the next `READY=1`. */
  readonly reloading?: true;
  /** `STOPPING=1`: it is shutting down by itself. */
  readonly stopping?: true;
  /** `WATCHDOG=1` (a ping) or `WATCHDOG=trigger` (it asks to be treated as hung). */
  readonly watchdog?: 'ping' | 'trigger';
  /** `STATUS=`: a line for `dmctl status`, made printable and cut to STATUS_CHARS. */
  readonly status?: string;
}

/** A status longer than this is cut (with an ellipsis): it is one cell of a table. */
export const STATUS_CHARS = 200;

/**
 * Reads a datagram: newline-separated `KEY=VALUE` assignments, as systemd reads them.
 * Unknown keys (MAINPID=, FDSTORE=, EXTEND_TIMEOUT_USEC=...) are ignored; so is a
 * datagram holding a NUL (systemd refuses those too). Never throws: the bytes come
 * from a daemon.
 */
export function parseNotify(data: Buffer): NotifyMessage | undefined {
  if (data.includes(0)) return undefined;
  const message: {
    ready?: true;
    reloading?: true;
    stopping?: true;
    watchdog?: 'ping' | 'trigger';
    status?: string;
  } = {};
  for (const line of data.toString('utf8').split('\n')) {
    const equals = line.indexOf('=');
    if (equals === -1) continue;
    const key = line.slice(0, equals);
    const value = line.slice(equals + 1);
    if (key === 'READY' && value === '1') message.ready = true;
    else if (key === 'RELOADING' && value === '1') message.reloading = true;
    else if (key === 'STOPPING' && value === '1') message.stopping = true;
    else if (key === 'WATCHDOG' && value === '1') message.watchdog = 'ping';
    else if (key === 'WATCHDOG' && value === 'trigger') message.watchdog = 'trigger';
    else if (key === 'STATUS') message.status = statusText(value);
  }
  return message;
}

/** STATUS= text as it may be shown: control characters escaped, at most STATUS_CHARS. */
export function statusText(value: string): string {
  // Only the start can be shown: STATUS_CHARS + 1 characters (2 code units at most each;
  // escaping only lengthens) still tell whether to cut. A 4 KB status was spread into
  // 4,000 strings per message, the manager's largest cost in a review's flood.
  const text = [...printable(value.slice(0, 2 * (STATUS_CHARS + 1)))];
  return text.length <= STATUS_CHARS
    ? text.join('')
    : `${text.slice(0, STATUS_CHARS - 1).join('')}…`;
}
