import type { DaemonStatus, ProblemsElsewhere, TableRequest } from './messages.ts';
import { displayWidth, printable, sliceToWidth } from './printable.ts';

const UNIT_NAMES = ['w', 'd', 'h', 'm', 's'];
const UNIT_SECONDS = [604_800, 86_400, 3_600, 60, 1];

/**
 * Elapsed seconds in the two largest units, as the original printed them: `3w3d`, `12h57m`,
 * `42s`. Plain arithmetic and indexing: a status of 1,000 daemons calls it 3,000 times, in
 * a manager that runs without V8's optimizing compiler (--lite-mode).
 */
export function formatElapsed(totalSeconds: number): string {
  const rest = Math.max(0, Math.floor(totalSeconds));
  for (let index = 0; index < UNIT_SECONDS.length; index++) {
    const size = UNIT_SECONDS[index] as number;
    if (!(rest >= size)) continue; // NaN too
    const first = `${Math.floor(rest / size)}${UNIT_NAMES[index]}`;
    const next = UNIT_SECONDS[index + 1];
    return next === undefined
      ? first
      : `${first}${Math.floor((rest % size) / next)}${UNIT_NAMES[index + 1]}`;
  }
  return '0s';
}

/**
 * The last exit in a word or two: `exit 1`, `SIGKILL`, why it could not start, or `-`; for
 * a daemon whose config file is refused, why (the whole problem is in --json and
 * `dmctl problems`).
 */
export function formatLastExit(daemon: DaemonStatus): string {
  if (daemon.problem !== undefined) return shortReason(daemon.problem);
  if (daemon.lastExit?.endsWith('out of memory'))
    return daemon.lastExitSignal === undefined && daemon.lastExitCode !== undefined
      ? `exit ${daemon.lastExitCode} (OOM)`
      : `${daemon.lastExitSignal ?? 'SIGKILL'} (OOM)`;
  if (daemon.lastExitSignal !== undefined) return daemon.lastExitSignal;
  if (daemon.lastExitCode !== undefined) return `exit ${daemon.lastExitCode}`;
  return daemon.lastExit ?? '-';
}

type Align = 'left' | 'right';

/** The most of `last-exit` and `status` a row shows (STATUS= itself is 200 at most). */
const FREE_TEXT_MOST = 240;

interface Column {
  readonly header: string;
  readonly align: Align;
  /** The width of the original's layout (the first seven columns); else at least `min` into a pipe. */
  readonly fixed: number | undefined;
  readonly min?: number;
  /** Its text may come from what a user wrote, so it is made printable (the rest are numbers and states). */
  readonly written: boolean;
  /**
   * The most columns a cell of it shows, in every layout: one user's long text must not
   * make the table of everyone huge, nor push other columns off a terminal.
   */
  readonly most?: number;
  readonly cell: (daemon: DaemonStatus) => string;
}

const COLUMNS: readonly Column[] = [
  { header: 'daemon-id', align: 'left', fixed: 30, written: true, cell: (d) => d.id },
  { header: 'state', align: 'left', fixed: 11, written: false, cell: (d) => d.state },
  { header: 'pid', align: 'right', fixed: 10, written: false, cell: (d) => String(d.pid) },
  { header: 'respawns', align: 'right', fixed: 8, written: false, cell: (d) => String(d.respawns) },
  {
    header: 'cooldown',
    align: 'right',
    fixed: 8,
    written: false,
    cell: (d) => formatElapsed(d.cooldown),
  },
  {
    header: 'uptime',
    align: 'right',
    fixed: 8,
    written: false,
    cell: (d) => formatElapsed(d.uptime),
  },
  {
    header: 'total',
    align: 'right',
    fixed: 8,
    written: false,
    cell: (d) => formatElapsed(d.total),
  },
  {
    header: 'run-as',
    align: 'left',
    fixed: undefined,
    min: 8,
    written: true,
    // A user name is at most 32 characters; a longer one is a broken config's.
    most: 32,
    cell: (d) => d.runAs,
  },
  {
    header: 'last-exit',
    align: 'left',
    fixed: undefined,
    written: true,
    most: FREE_TEXT_MOST,
    cell: formatLastExit,
  },
  {
    header: 'status',
    align: 'left',
    fixed: undefined,
    written: true,
    most: FREE_TEXT_MOST,
    cell: formatStatusNote,
  },
];

/**
 * The `status` column: its health when not plainly healthy, how often it was restarted
 * as unhealthy, and what it said of itself (STATUS=). Empty for a daemon with none.
 */
export function formatStatusNote(daemon: DaemonStatus): string {
  const parts: string[] = [];
  if (daemon.health !== undefined && daemon.health !== 'healthy') parts.push(daemon.health);
  if (daemon.unhealthy !== undefined && daemon.unhealthy > 0)
    parts.push(`${daemon.unhealthy} unhealthy`);
  if (daemon.unkilled !== undefined) parts.push(unkilledNote(daemon.unkilled));
  if (daemon.status !== undefined && daemon.status !== '') parts.push(daemon.status);
  return parts.join('; ');
}

/** Stopped runs' processes that SIGKILL has not ended yet (DaemonStatus `unkilled`). */
export function unkilledNote(pids: readonly number[]): string {
  const named = pids.filter((pid) => pid > 0);
  const others = pids.length - named.length;
  const what = [
    ...(named.length === 0 ? [] : [`pid ${named.join(', ')}`]),
    ...(others === 0
      ? []
      : [others === 1 ? 'a run with no main process' : `${others} runs with no main process`]),
  ].join(' and ');
  return `${what} still there after SIGKILL`;
}

/** On a narrow terminal, columns go in this order (after `last-exit` is cut short). */
const DROP_ORDER = [
  'status',
  'last-exit',
  'run-as',
  'total',
  'respawns',
  'cooldown',
  'uptime',
  'pid',
];
/** The free text columns are cut to fit, down to this width, before any column goes. */
const MIN_FREE_TEXT = 10;
/** `last-exit` and `status`, by index. */
const FREE_TEXT = ['last-exit', 'status'].map((name) =>
  COLUMNS.findIndex((column) => column.header === name),
);

/** Into a pipe: plain, the original's layout (a terminal's width cuts; see TableRequest). */
const PLAIN: TableRequest = { color: false };
const STATE_COLUMN = COLUMNS.findIndex((column) => column.header === 'state');
const NOTE_COLUMN = COLUMNS.findIndex((column) => column.header === 'status');

const STATE_COLORS: Readonly<Record<DaemonStatus['state'], string>> = {
  running: '\u001b[32m',
  starting: '\u001b[33m',
  reloading: '\u001b[33m',
  coolingdown: '\u001b[31m',
  stopping: '\u001b[33m',
  stopped: '',
  exited: '',
  failed: '\u001b[31m',
  broken: '\u001b[31m',
};

/** The first seven columns of the header, exactly the original's. */
export const STATUS_HEADER = COLUMNS.slice(0, 7)
  .map((column, index) =>
    pad(column.header, column.fixed ?? 0, index === 0 ? 'left' : column.align),
  )
  .join(' ');

/**
 * `dmctl status` as text: the header, then one line per daemon. Into a pipe the first
 * seven columns keep the original's widths (scripts read them); on a terminal every
 * column is as wide as its content, the table fits the width, and states are coloured.
 * Written as loops over one flat array of cells: the manager draws it for every
 * `dmctl status`, without V8's optimizing compiler (--lite-mode), where each closure and
 * array made per cell costs.
 */
export function formatStatusTable(daemons: readonly DaemonStatus[], style = PLAIN): string {
  const columns = COLUMNS.length;
  const pipe = style.width === undefined;
  const widths: number[] = [];
  for (const column of COLUMNS)
    widths.push(
      pipe && column.fixed !== undefined
        ? column.fixed
        : Math.max(pipe ? (column.min ?? 0) : 0, column.header.length),
    );
  // What users wrote (ids, run-as names, reasons) has its control characters escaped.
  const cells: string[] = [];
  let notes = false;
  for (let row = 0; row < daemons.length; row++)
    for (let index = 0; index < columns; index++) {
      const column = COLUMNS[index] as Column;
      const text = column.cell(daemons[row] as DaemonStatus);
      const shown = column.written ? printable(text) : text;
      const cell = column.most === undefined ? shown : cut(shown, column.most);
      cells.push(cell);
      if (!pipe || column.fixed === undefined)
        widths[index] = Math.max(widths[index] ?? 0, displayWidth(cell));
      if (index === NOTE_COLUMN && cell !== '') notes = true;
    }
  // The `status` column only when a daemon has something in it: tables stay as they were.
  let shown: number[] = [];
  for (let index = 0; index < columns; index++)
    if (index !== NOTE_COLUMN || notes) shown.push(index);
  let sizes = widths;
  if (style.width !== undefined) [shown, sizes] = fit(shown, widths, style.width);
  let text = '';
  for (let row = -1; row < daemons.length; row++) {
    const color = row >= 0 && style.color ? STATE_COLORS[(daemons[row] as DaemonStatus).state] : '';
    let line = '';
    for (let position = 0; position < shown.length; position++) {
      const index = shown[position] as number;
      const column = COLUMNS[index] as Column;
      const width = sizes[index] ?? 0;
      const last = position === shown.length - 1 && column.align === 'left';
      const cell = row < 0 ? column.header : (cells[row * columns + index] as string);
      const padded = pad(pipe ? cell : cut(cell, width), last ? 0 : width, column.align);
      const piece = index === STATE_COLUMN && color !== '' ? `${color}${padded}\u001b[0m` : padded;
      line += position === 0 ? piece : ` ${piece}`;
    }
    text += `${line.trimEnd()}\n`;
  }
  return text;
}

/**
 * Which columns fit in `width`, and how wide: first the free text (`last-exit`, `status`)
 * is cut, the wider of the two first, down to MIN_FREE_TEXT each; then columns go, in
 * DROP_ORDER; at last the id is cut.
 */
function fit(
  shown: readonly number[],
  widths: readonly number[],
  width: number,
): [number[], number[]] {
  const columns = [...shown];
  const sizes = [...widths];
  const total = (): number =>
    columns.reduce((sum, index) => sum + (sizes[index] ?? 0), 0) + columns.length - 1;
  const free = FREE_TEXT.filter((index) => columns.includes(index));
  while (total() > width) {
    let widest: number | undefined;
    for (const index of free)
      if (
        (sizes[index] ?? 0) > MIN_FREE_TEXT &&
        (widest === undefined || (sizes[index] ?? 0) > (sizes[widest] ?? 0))
      )
        widest = index;
    if (widest === undefined) break;
    sizes[widest] = (sizes[widest] ?? 0) - 1;
  }
  for (const name of DROP_ORDER) {
    if (total() <= width) break;
    const index = COLUMNS.findIndex((column) => column.header === name);
    if (columns.includes(index)) columns.splice(columns.indexOf(index), 1);
  }
  const id = 0;
  if (total() > width) sizes[id] = Math.max(4, (sizes[id] ?? 0) - (total() - width));
  return [columns, sizes];
}

/** `text` padded with spaces to `width` columns (see displayWidth). */
function pad(text: string, width: number, align: Align): string {
  const spaces = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return align === 'left' ? text + spaces : spaces + text;
}

/**
 * Cuts text to `width` columns, marking the cut with an ellipsis (counted two: see
 * displayWidth), so that no row is wider than the terminal and none wraps.
 */
function cut(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  return `${sliceToWidth(text, Math.max(0, width - 2))}…`;
}

const REASON_CHARS = 60;

/** `file:12: error: message` as `line 12: message`, cut to fit beside a status row. */
export function shortReason(problem: string): string {
  const located = /^.*?:(\d+): error: (.*)$/.exec(problem);
  const whole = /^.*?: error: (.*)$/.exec(problem);
  const reason = located ? `line ${located[1]}: ${located[2]}` : (whole?.[1] ?? problem);
  return reason.length > REASON_CHARS ? `${reason.slice(0, REASON_CHARS - 3)}...` : reason;
}

/**
 * The config problems an answer carries, as dmctl prints them on stderr: the caller's
 * own in full, and those of the other users they manage as one line that says how to
 * list them.
 */
export function problemLines(
  problems: readonly string[] | undefined,
  elsewhere: ProblemsElsewhere | undefined,
): string[] {
  const lines = [...(problems ?? [])];
  if (elsewhere !== undefined)
    lines.push(
      `${elsewhere.problems} config problem${elsewhere.problems === 1 ? '' : 's'} in the files of ${elsewhere.users} other user${elsewhere.users === 1 ? '' : 's'} you manage: dmctl problems [USER] lists them`,
    );
  return lines;
}
