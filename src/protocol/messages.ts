/**
 * The control protocol between dmctl and the manager: one JSON request per line, one
 * JSON response per line, then the connection closes. No I/O here, only shapes and
 * validation: everything that arrives on a socket is `unknown` until `parseRequest`
 * says otherwise.
 */

export const COMMANDS = [
  'status',
  'list',
  'rescan',
  'start',
  'stop',
  'restart',
  'kill',
  'info',
  'read-log',
] as const;
export type Command = (typeof COMMANDS)[number];

/** Commands that act on one daemon and so need an id. */
export const DAEMON_COMMANDS: readonly Command[] = [
  'start',
  'stop',
  'restart',
  'kill',
  'info',
  'read-log',
];

/** The most bytes of a log one `read-log` answer carries. */
export const LOG_CHUNK_BYTES = 64 * 1024;

/** The longest request line the manager reads; anything longer is refused unread. */
export const MAX_REQUEST_BYTES = 8 * 1024;
/** The longest id or signal name accepted (a daemon name is at most 128 characters). */
const MAX_FIELD = 300;

export interface Request {
  readonly command: Command;
  readonly id?: string;
  readonly signal?: string;
  /** For `read-log`: where to read from; negative counts back from the end. */
  readonly offset?: number;
}

/** A piece of a log, read by the manager as its owner (for users who manage the owner). */
export interface LogChunk {
  /** The bytes, base64: a log may hold anything a daemon wrote. */
  readonly data: string;
  /** Where the next read starts, and the file's size when this one was read. */
  readonly next: number;
  readonly size: number;
}

/** One row of `dmctl status`, and of `dmctl --json status`. */
export interface DaemonStatus {
  readonly id: string;
  readonly user: string;
  readonly name: string;
  readonly state: 'stopped' | 'running' | 'stopping' | 'coolingdown';
  readonly wanted: 'up' | 'down';
  readonly pid: number;
  readonly respawns: number;
  /** Seconds left before the respawn while cooling down, else 0. */
  readonly cooldown: number;
  /** The current back-off step in seconds: the next quick exit waits this plus one step. */
  readonly cooldownStep: number;
  /** Seconds since the last spawn, and since the last explicit start, while it has a process. */
  readonly uptime: number;
  readonly total: number;
  readonly runAs: string;
  readonly output: 'log' | 'discard';
  /** How the last process ended (`exit status 1`, `killed by SIGKILL`) or why it could not start. */
  readonly lastExit?: string;
  /** The same for scripts: the exit status, or the signal's name. */
  readonly lastExitCode?: number;
  readonly lastExitSignal?: string;
}

/** Where a daemon's files are, for `log`, `tail` and `edit`. */
export interface DaemonInfo {
  readonly id: string;
  readonly configFile: string;
  readonly logFile: string | undefined;
}

export type Response =
  | {
      readonly ok: true;
      readonly message?: string;
      readonly daemons?: readonly DaemonStatus[];
      readonly info?: DaemonInfo;
      readonly log?: LogChunk;
      /** Config warnings and errors the caller should see, formatted `file:line: ...`. */
      readonly problems?: readonly string[];
    }
  | { readonly ok: false; readonly error: string };

/** Validates one request line; the error is safe to send back (it never echoes input). */
export function parseRequest(line: string): Request | { readonly error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: 'request is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { error: 'request must be a JSON object' };
  const { command, id, signal, offset } = value as Record<string, unknown>;
  if (typeof command !== 'string' || !(COMMANDS as readonly string[]).includes(command))
    return { error: `unknown command (known: ${COMMANDS.join(', ')})` };
  if (id !== undefined && (typeof id !== 'string' || id.length > MAX_FIELD))
    return { error: 'id must be a string of at most 300 characters' };
  if (signal !== undefined && (typeof signal !== 'string' || signal.length > 20))
    return { error: 'signal must be a short string' };
  if (offset !== undefined && !Number.isSafeInteger(offset))
    return { error: 'offset must be an integer' };
  const typed = command as Command;
  if (DAEMON_COMMANDS.includes(typed) && id === undefined)
    return { error: `'${typed}' needs a daemon id` };
  if (typed === 'kill' && signal === undefined) return { error: "'kill' needs a signal" };
  return {
    command: typed,
    ...(id === undefined ? {} : { id }),
    ...(signal === undefined ? {} : { signal }),
    ...(offset === undefined ? {} : { offset: offset as number }),
  };
}
