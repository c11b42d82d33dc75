import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import {
  LOG_CHUNK_BYTES,
  type LogChunk,
  type Request,
  type Response,
} from '../protocol/messages.ts';
import { isCutOff } from './client.ts';
import { logWriter, TerminalSafe } from './terminal-safe.ts';

/**
 * Asks the manager for a piece of a log: of the log as it is now, or, given the `file` of
 * the last piece, of that file wherever rotation has put it (see LogChunk). Or why not;
 * `passing`: the manager did not answer (killed, or one starting: its keeper holds the
 * socket meanwhile), worth asking again.
 */
export type ReadChunk = (
  offset: number,
  file?: string,
) => Promise<LogChunk | { error: string; passing?: true }>;

/** Builds a ReadChunk on top of a request function. */
export function chunkReader(call: (request: Request) => Promise<Response>, id: string): ReadChunk {
  return async (offset, file) => {
    const response = await call({
      command: 'read-log',
      id,
      offset,
      ...(file === undefined ? {} : { file }),
    });
    // Cut off, or refused (the manager and its keeper killed, the socket left): a new
    // manager may take over. A socket missing is a manager stopped, or rights taken away.
    if (!response.ok)
      return isCutOff(response.error) || response.refused === true
        ? { error: response.error, passing: true }
        : { error: response.error };
    return response.log ?? { error: 'the manager sent no log' };
  };
}

/**
 * Shows a log the caller may not open but may read through the manager (a help-desk
 * user of [manages], root): the whole log, into the pager on a terminal, else to stdout,
 * with its control characters escaped either way.
 */
export async function pageRemoteLog(read: ReadChunk): Promise<number> {
  const pager = process.stdout.isTTY
    ? spawn('/bin/sh', ['-c', process.env.PAGER || 'less || more'], {
        stdio: ['pipe', 'inherit', 'inherit'],
      })
    : undefined;
  const out = pager?.stdin ?? process.stdout;
  // Another user's output, whatever reads it next: see logWriter().
  const safe = new TerminalSafe();
  // The pager quit early, or the reader of the pipe (`| head -1`): nothing more to show,
  // and nothing more is asked of the manager.
  let closed = false;
  out.on('error', () => {
    closed = true;
  });
  const show = async (data: Buffer): Promise<void> => {
    if (data.length > 0 && !out.write(safe.text(data)))
      await new Promise((resolve) => {
        out.once('drain', resolve);
        out.once('error', resolve);
      });
  };
  // The files as they are (the first may begin with the rest of a line a rotation cut,
  // as the owner's own `log` shows it); across a gap, whole lines only (see WholeLines).
  const lines = new WholeLines();
  // Rotated while it is read: the file read is read to its end, then the one after it.
  for (let offset = 0, file: string | undefined; !closed; ) {
    const chunk = await read(offset, file);
    if ('error' in chunk) return fail(chunk.error);
    if (chunk.skipped) {
      await show(lines.gap(chunk.midLine === true));
      warnSkipped();
    }
    await show(lines.take(Buffer.from(chunk.data, 'base64')));
    const moved = chunk.next !== offset || chunk.file !== file;
    if ((chunk.next >= chunk.size && !chunk.rotated) || !moved) break;
    offset = chunk.next;
    file = chunk.file;
  }
  // Its last line, whole or not: the end of the log.
  if (!closed) await show(lines.rest());
  if (!pager) return 0;
  pager.stdin?.end();
  return new Promise((resolve) => pager.on('close', (code) => resolve(code ?? 0)));
}

/** How many lines `tail` shows before following, as `tail -n 50` does for a local log. */
export const TAIL_LINES = 50;

/**
 * The end of a log to show before following it: the last `lines` whole lines of `data`.
 * When `data` does not begin at the top of the file, its first line is a piece of a
 * line and is left out.
 */
export function lastLines(data: Buffer, fromTop: boolean, lines: number): Buffer {
  let start = fromTop ? 0 : data.indexOf(0x0a) + 1;
  if (!fromTop && start === 0) return Buffer.alloc(0);
  let count = 0;
  // A last line without its newline yet still counts as a line.
  const end = data.at(-1) === 0x0a ? data.length - 1 : data.length;
  for (let index = end - 1; index >= start; index--)
    if (data[index] === 0x0a && ++count === lines) {
      start = index + 1;
      break;
    }
  return data.subarray(start);
}

/**
 * What `tail` shows of the first piece it reads: its last TAIL_LINES whole lines. From the
 * top of a file that begins with the rest of a line (see LogChunk's `midLine`), that rest
 * is left out, as a cut first line is.
 */
export function tailStart(chunk: LogChunk): Buffer {
  const data = Buffer.from(chunk.data, 'base64');
  const fromTop = chunk.next - data.length === 0 && chunk.midLine !== true;
  const shown = lastLines(data, fromTop, TAIL_LINES);
  // All of it the end of one line over MOST_BEFORE (what withLinesBefore reads back): that
  // end is shown, as a line over 1 MiB is shown in pieces. Left out, a tail of a log whose
  // last line was over 1 MiB began with nothing (an outside review, 64b, F2: 8 of 8).
  return shown.length === 0 && data.length >= MOST_BEFORE ? data : shown;
}

/** The most `withLinesBefore` reads back for TAIL_LINES lines: 1 MiB. */
const MOST_BEFORE = 1024 * 1024;

/**
 * The first piece of a tail, with what comes before it in the same file until it holds
 * TAIL_LINES whole lines (or the file's top, or MOST_BEFORE): a piece of the last 64 KiB
 * alone held 13 lines of 5 KB, and none of lines over 64 KiB, where the owner's `tail`
 * shows 50 (an outside review, 62b, F1). Read back in the file of the first piece only:
 * rotated away meanwhile, what was found is shown.
 */
export async function withLinesBefore(read: ReadChunk, chunk: LogChunk): Promise<LogChunk> {
  let data = Buffer.from(chunk.data, 'base64');
  let start = chunk.next - data.length;
  let midLine = chunk.midLine;
  const newlines = (bytes: Buffer): number => {
    let count = 0;
    for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) count++;
    return count;
  };
  let lines = newlines(data);
  while (start > 0 && lines <= TAIL_LINES && data.length < MOST_BEFORE) {
    const from = Math.max(0, start - LOG_CHUNK_BYTES);
    // From the top, as a first read: the manager says whether it begins with a rest.
    const piece = await read(from, from === 0 ? undefined : chunk.file);
    if ('error' in piece || piece.skipped || piece.file !== chunk.file) break;
    const bytes = Buffer.from(piece.data, 'base64');
    if (piece.next - bytes.length !== from || bytes.length < start - from) break;
    const before = bytes.subarray(0, start - from);
    data = Buffer.concat([before, data]);
    lines += newlines(before);
    start = from;
    midLine = from === 0 ? piece.midLine : undefined;
  }
  const { midLine: _, ...rest } = chunk;
  return {
    ...rest,
    data: data.toString('base64'),
    next: start + data.length,
    ...(midLine === true ? { midLine } : {}),
  };
}

/**
 * Follows a log through the manager, like `tail -F` of a file rotated by rename: the last
 * lines, then what is added; at a rotation, the rest of the file it was reading (the
 * manager finds it by its `file`), then the next one, each line once.
 */
export async function followRemoteLog(
  read: ReadChunk,
  pollMs = 500,
  write: (piece: Buffer) => void = logWriter(true),
): Promise<number> {
  const lines = new WholeLines();
  let offset = -LOG_CHUNK_BYTES;
  let file: string | undefined;
  // The manager said it stops cleanly: once it is gone (its socket removed), the tail
  // ends saying so. Killed in the middle of its stop, it is asked again as after any kill.
  let stopping = false;
  for (let first = true; ; first = false) {
    let chunk = await read(offset, file);
    if (stopping && 'error' in chunk && chunk.passing !== true) return fail(STOPPED);
    // The manager killed (`kill -9`, a crash): the next one answers within moments, and
    // the tail goes on from where it was, as `tail -F` does across a missing file. Ended
    // there, a tail through the manager stopped at 10 of 26 kills (an outside review,
    // 64b, F4).
    const since = Date.now();
    while ('error' in chunk && chunk.passing === true && Date.now() - since < MANAGER_AWAY_MS) {
      await delay(pollMs);
      chunk = await read(offset, file);
    }
    // The manager said it stops, and is gone: its sockets closing first refused the look
    // that came then (asked again) and its socket was gone at the next, which said the
    // manager was not running, as if the tail had never been told (a CI run).
    if (stopping && 'error' in chunk) return fail(STOPPED);
    // Said as the end of the tail: the manager's message alone read as a refusal to begin
    // (an outside review, 66b, F3).
    if ('error' in chunk)
      return fail(
        first
          ? chunk.error
          : `the tail ends${chunk.passing === true ? ` (asked again for ${Math.round((Date.now() - since) / 1000)} s)` : ''}: ${chunk.error}`,
      );
    if (chunk.skipped) {
      const close = lines.gap(chunk.midLine === true);
      if (close.length > 0) write(close);
      warnSkipped();
    }
    stopping = chunk.stopping === true;
    let data: Buffer;
    if (first) {
      const start = await withLinesBefore(read, chunk);
      data = tailStart(start);
      // None of it shown: all of it the rest of a line begun in the file before (or
      // before the part read), no newline yet. What comes next goes on with that line, and
      // is left out up to its newline. Taken as the start of a line, its end was shown as
      // a line once it came (an outside review, 71a, F1: 4 of 10 tails).
      if (data.length === 0 && start.data !== '') lines.gap(true);
    } else data = Buffer.from(chunk.data, 'base64');
    const whole = lines.take(data);
    if (whole.length > 0) write(whole);
    // At the end of the file written now; or of a rotated one whose next file is not
    // there yet (renamed, not reopened yet).
    const atEnd = chunk.next >= chunk.size && !chunk.rotated;
    // A log that grew since the last look is looked at again sooner: at half a second, a
    // reader of a log rotated four times a second showed 30-40 % of its lines (an outside
    // review, 55b, F3; each loss said).
    if (atEnd || (chunk.data === '' && chunk.file === file && chunk.next === offset))
      await delay(data.length > 0 ? Math.min(pollMs, ACTIVE_POLL_MS) : pollMs);
    offset = chunk.next;
    file = chunk.file;
  }
}

/** How a tail ends once the manager said it stops cleanly and is gone. */
const STOPPED = 'the tail ends: daemon-manager stopped (what its daemons wrote last is shown)';

/** The most of a line WholeLines holds back for its newline: 1 MiB, then shown as it is. */
const MOST_HELD = 1024 * 1024;

/**
 * The whole lines of a log read piece by piece: a line is shown once its newline has come
 * (in the same file, or in the one after it, where a rotation's cut put its rest); at a
 * gap (a file rotated away before it was read to its end) the line begun before it lost
 * its end, and the rest of a line that begins the piece after it lost its start: both are
 * left out. Shown as they came, a `tail` that fell behind printed such pieces as lines
 * of their own (an outside review, 60b, F1: after 30 of 30 gaps, and as the first line
 * of 3 tails of 6). A line longer than MOST_HELD is shown in pieces.
 */
export class WholeLines {
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** What comes is the rest of a line whose start was lost, up to its newline. */
  private dropping = false;
  /** What was shown last ends inside a line (a piece of one over MOST_HELD). */
  private open = false;

  /**
   * A gap before the next piece; `midLine`: that piece begins with the rest of a line.
   * Returns what ends the line shown in part, if any: the next whole line was shown glued
   * to the piece of a line over 1 MiB that the gap cut (an outside review, 65b, F1: 21
   * times in 18 of 21 tails).
   */
  gap(midLine: boolean): Buffer {
    this.held = [];
    this.heldBytes = 0;
    this.dropping = midLine;
    const close = this.open ? Buffer.from('\n') : Buffer.alloc(0);
    this.open = false;
    return close;
  }

  /** The lines `data` completes, with what was held for them; the rest is held. */
  take(data: Buffer): Buffer {
    let start = 0;
    if (this.dropping) {
      start = data.indexOf(0x0a) + 1;
      if (start === 0) return Buffer.alloc(0);
      this.dropping = false;
    }
    const end = data.lastIndexOf(0x0a) + 1;
    const shown = end > start ? [...this.held, data.subarray(start, end)] : [];
    if (end > start) {
      this.held = [];
      this.heldBytes = 0;
    }
    const rest = data.subarray(Math.max(start, end));
    if (rest.length > 0) {
      this.held.push(Buffer.from(rest));
      this.heldBytes += rest.length;
    }
    if (this.heldBytes > MOST_HELD) shown.push(this.rest());
    const taken = Buffer.concat(shown);
    if (taken.length > 0) this.open = taken.at(-1) !== 0x0a;
    return taken;
  }

  /** What is held: the start of a line whose newline has not come. */
  rest(): Buffer {
    const rest = Buffer.concat(this.held);
    this.held = [];
    this.heldBytes = 0;
    return rest;
  }
}

/** How long a tail asks again a manager that does not answer before it ends (see followRemoteLog). */
const MANAGER_AWAY_MS = 30_000;

/** How soon a log that grew is looked at again (see followRemoteLog). */
const ACTIVE_POLL_MS = 100;

/** The manager could not find the file being read any more (see LogChunk's `skipped`). */
function warnSkipped(): void {
  process.stderr.write(
    'dmctl: the log was rotated away before it was read to its end (past log-keep, or renamed where the manager cannot see it); lines are missing here\n',
  );
}

function fail(message: string): number {
  process.stderr.write(`dmctl: ${message}\n`);
  return 1;
}
