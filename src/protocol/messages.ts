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
  'problems',
  'read-config',
  'save-config',
  'why',
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
  'read-config',
  'save-config',
  'why',
];

/** The most bytes of a log one `read-log` answer carries. */
export const LOG_CHUNK_BYTES = 64 * 1024;

/** The longest request line the manager reads; anything longer is refused unread. */
export const MAX_REQUEST_BYTES = 8 * 1024;
/** The longest id, user or path accepted (a daemon name is at most 128 characters). */
const MAX_FIELD = 300;
/** The longest path of an edited copy (`save-config`); PATH_MAX on Linux. */
const MAX_PATH = 4096;

export interface Request {
  readonly command: Command;
  readonly id?: string;
  readonly signal?: string;
  /** For `read-log`: where to read from; negative counts back from the end. */
  readonly offset?: number;
  /**
   * For `read-log`: the file to go on reading (a LogChunk's `file`), wherever rotation
   * has moved it since; none: the log as it is now.
   */
  readonly file?: string;
  /** For `problems`: whose files (default: everybody the caller may manage). */
  readonly user?: string;
  /** For `save-config`: the caller's edited copy, read by the manager as the caller. */
  readonly source?: string;
  /**
   * For `save-config`: the SHA-256 (hex) of the text the copy was made from, or '' when
   * the file did not exist: an edit made meanwhile by someone else is never overwritten.
   */
  readonly expect?: string;
  /**
   * For `status`: answer with the table as text, drawn by the manager for the caller's
   * terminal (`text` and `notes`, not `daemons`), so that a client need not draw it.
   */
  readonly table?: TableRequest;
}

/** How the caller shows the status table: its terminal's width (none into a pipe), colours. */
export interface TableRequest {
  readonly width?: number;
  readonly color: boolean;
}

/** The widest terminal a table is drawn for. */
export const MAX_TABLE_WIDTH = 10_000;

/** A piece of a log, read by the manager as its owner (for users who manage the owner). */
export interface LogChunk {
  /** The bytes, base64: a log may hold anything a daemon wrote. */
  readonly data: string;
  /** Where the next read starts, and the file's size when this one was read. */
  readonly next: number;
  readonly size: number;
  /**
   * Which file they are from, for the next read: asked at `next` in this file, the
   * manager reads on in it after a rotation, and moves to the file after it once it is
   * read to its end and written no more.
   */
  readonly file?: string;
  /** This file is written no more (rotated): read to its end, the next read moves on. */
  readonly rotated?: boolean;
  /**
   * The file asked for is gone (rotated past log-keep, renamed where the manager cannot
   * find it, deleted) before it was read to its end: these bytes are the log's now, from
   * its top, and what was between is missing here.
   */
  readonly skipped?: boolean;
  /**
   * The piece is from the file's top, and that begins with the rest of a line begun in
   * the file written before it (a rotation waits at most 4 KiB for a line's end): its
   * first line is not whole. Said only of a log read as it is now (no `file` asked), and
   * of the top read after a file `skipped`.
   */
  readonly midLine?: boolean;
  /**
   * The manager is stopping cleanly (its daemons stopped, what they wrote last in their
   * logs): a tail that finds it gone after this ends saying so.
   */
  readonly stopping?: boolean;
}

/** The most characters of a `read-log` request's `file`. */
export const MAX_LOG_FILE_ID = 60;

/** One row of `dmctl status`, and of `dmctl --json status`. */
export interface DaemonStatus {
  readonly id: string;
  readonly user: string;
  readonly name: string;
  /**
   * `broken`: stopped, and its config file cannot be loaded (see `problem`); `exited`
   * and `failed`: stopped by itself, left down by its `restart=`, cleanly or not.
   */
  readonly state:
    | 'stopped'
    | 'starting'
    | 'running'
    | 'reloading'
    | 'stopping'
    | 'coolingdown'
    | 'broken'
    | 'exited'
    | 'failed';
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
  /** Its `restart=` (absent for a daemon known only by its broken file). */
  readonly restart?: 'always' | 'on-failure' | 'no';
  /** How the last process ended (`exit status 1`, `killed by SIGKILL`) or why it could not start. */
  readonly lastExit?: string;
  /** The same for scripts: the exit status, or the signal's name. */
  readonly lastExitCode?: number;
  readonly lastExitSignal?: string;
  /** Why its config file is refused now, formatted `file:line: error: message`. */
  readonly problem?: string;
  /** What the running daemon last said of itself (sd_notify `STATUS=`), printable, bounded. */
  readonly status?: string;
  /** With `health=`: `healthy`, `failing N/M` (failures in a row), or `unchecked` yet. */
  readonly health?: string;
  /** With `health=` or `watchdog=`: runs stopped as unhealthy since the last explicit start. */
  readonly unhealthy?: number;
  /**
   * The main pids of runs stopped whose processes SIGKILL has not ended yet (uninterruptible
   * sleep, as on a hung file system; 0: a survivor with no main process); absent once gone.
   */
  readonly unkilled?: readonly number[];
}

/** One event of a daemon's recent history. */
export interface WhyEvent {
  /** When, in ms since the epoch. */
  readonly at: number;
  /** `start`, `exit`, `cooldown`, `stop`, `down`, `refused`, `config`, `command`, `health` or `notify`. */
  readonly kind: string;
  readonly text: string;
}

/** `dmctl why`: a daemon's status now, and the recent events that led to it. */
export interface DaemonWhy {
  readonly status: DaemonStatus;
  /** Oldest first; at most the last 50. */
  readonly events: readonly WhyEvent[];
}

/** Where a daemon's files are, for `log`, `tail` and `edit`. */
export interface DaemonInfo {
  readonly id: string;
  /** The login of the daemon's owner: whose rights its files are read with. */
  readonly owner: string;
  readonly configFile: string;
  readonly logFile: string | undefined;
}

/** A daemon's config file as it is now, for `dmctl edit` to make its copy from. */
export interface ConfigCopy {
  readonly id: string;
  readonly file: string;
  /** The file's text; absent when there is no such file yet (`dmctl edit NEW`). */
  readonly text?: string;
}

/** What a rescan found, by daemon id (or, for files ignored for their name, file). */
export interface RescanReport {
  readonly added: readonly string[];
  readonly changed: readonly string[];
  /** Of the changed ones, those running, restarted to apply the change. */
  readonly restarted: readonly string[];
  /**
   * Held back: whoever asked may not ask for more starts now (`heldBackWhy`, with when to
   * try again), until a later rescan. Of the changed ones, those not restarted: they run
   * with the config they were started with. New ones not loaded. Daemons whose file is
   * accepted now, waited for, not started.
   */
  readonly notRestarted?: readonly string[];
  readonly notLoaded?: readonly string[];
  readonly notStarted?: readonly string[];
  readonly heldBackWhy?: string;
  /** Forgotten, or to be forgotten once stopped: their file is gone. */
  readonly removed: readonly string[];
  /** Not loaded (or not allowed to run): the problems say why. */
  readonly refused: readonly string[];
  /** Refusals beyond those listed. */
  readonly refusedMore: number;
  /**
   * What this rescan judged its caller's account to be, where it was not known yet (see
   * Manager.notKnownYet): said, not "nothing changed" (an outside review, 61a, F9).
   */
  readonly judged?: string;
}

/** Config problems of users other than the caller: counted, listed by `dmctl problems`. */
export interface ProblemsElsewhere {
  readonly users: number;
  readonly problems: number;
}

export type Response =
  | {
      readonly ok: true;
      readonly message?: string;
      readonly daemons?: readonly DaemonStatus[];
      readonly info?: DaemonInfo;
      readonly why?: DaemonWhy;
      readonly log?: LogChunk;
      readonly config?: ConfigCopy;
      readonly rescan?: RescanReport;
      /** Config warnings and errors the caller should see, formatted `file:line: ...`. */
      readonly problems?: readonly string[];
      readonly problemsElsewhere?: ProblemsElsewhere;
      /** For `status` with `table`: the table for stdout, and the problems for stderr. */
      readonly text?: string;
      readonly notes?: string;
    }
  | {
      readonly ok: false;
      readonly error: string;
      /**
       * Not done yet, and going on: a start whose program has not begun in the time the
       * manager waits for it before answering. `dmctl --wait` waits on, to its deadline.
       */
      readonly underway?: true;
      /**
       * Done, but not saved (the state directory full or failing): a restart of the manager
       * would undo it. `dmctl --wait` waits on for the outcome, and says this with it.
       */
      readonly unsaved?: true;
      /**
       * Set by dmctl itself, never sent: nothing listens on the socket (no manager runs,
       * or a new one is starting). `--wait` asks again until its deadline.
       */
      readonly unreachable?: true;
      /**
       * Set by dmctl itself, never sent: the socket is there but refuses connections (its
       * manager and keeper killed; a new manager may be starting), not missing.
       */
      readonly refused?: true;
      /** For a refused `save-config`: what is wrong in the edited copy. */
      readonly problems?: readonly string[];
    };

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
  const { command, id, signal, offset, file, user, source, expect, table } = value as Record<
    string,
    unknown
  >;
  if (typeof command !== 'string' || !(COMMANDS as readonly string[]).includes(command))
    return { error: `unknown command (known: ${COMMANDS.join(', ')})` };
  if (id !== undefined && (typeof id !== 'string' || id.length > MAX_FIELD))
    return { error: 'id must be a string of at most 300 characters' };
  if (signal !== undefined && (typeof signal !== 'string' || signal.length > 20))
    return { error: 'signal must be a short string' };
  if (offset !== undefined && !Number.isSafeInteger(offset))
    return { error: `offset must be a whole number of bytes, at most ${Number.MAX_SAFE_INTEGER}` };
  if (file !== undefined && (typeof file !== 'string' || file.length > MAX_LOG_FILE_ID))
    return { error: `file must be a string of at most ${MAX_LOG_FILE_ID} characters` };
  if (user !== undefined && (typeof user !== 'string' || user.length > MAX_FIELD))
    return { error: 'user must be a string of at most 300 characters' };
  if (
    source !== undefined &&
    (typeof source !== 'string' ||
      !source.startsWith('/') ||
      source.length > MAX_PATH ||
      source.includes('\0'))
  )
    return { error: `source must be an absolute path of at most ${MAX_PATH} characters` };
  if (expect !== undefined && (typeof expect !== 'string' || !/^([0-9a-f]{64})?$/.test(expect)))
    return { error: "expect must be a SHA-256 in hex, or ''" };
  const typed = command as Command;
  const tableRequest = table === undefined ? undefined : parseTable(table);
  if (tableRequest === null || (table !== undefined && typed !== 'status'))
    return {
      error: `table goes with status only, as {"width": 1-${MAX_TABLE_WIDTH} (or none), "color": true|false}`,
    };
  if (DAEMON_COMMANDS.includes(typed) && id === undefined)
    return { error: `'${typed}' needs a daemon id` };
  if (typed === 'kill' && signal === undefined) return { error: "'kill' needs a signal" };
  if (typed === 'save-config' && (source === undefined || expect === undefined))
    return { error: "'save-config' needs a source and what it expects to replace" };
  return {
    command: typed,
    ...(id === undefined ? {} : { id }),
    ...(signal === undefined ? {} : { signal }),
    ...(offset === undefined ? {} : { offset: offset as number }),
    ...(file === undefined ? {} : { file }),
    ...(user === undefined ? {} : { user: user as string }),
    ...(source === undefined ? {} : { source: source as string }),
    ...(expect === undefined ? {} : { expect: expect as string }),
    ...(tableRequest === undefined ? {} : { table: tableRequest }),
  };
}

/** A valid `table` of a request, or null. */
function parseTable(value: unknown): TableRequest | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { width, color } = value as Record<string, unknown>;
  if (typeof color !== 'boolean') return null;
  if (width === undefined) return { color };
  if (!Number.isSafeInteger(width) || (width as number) < 1 || (width as number) > MAX_TABLE_WIDTH)
    return null;
  return { width: width as number, color };
}
