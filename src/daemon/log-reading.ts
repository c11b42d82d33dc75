import type { FileResult } from '../files/file-error.ts';
import type { FileStat } from '../files/native-ops.ts';
import { refusalOf } from '../logs/log-file.ts';
import { LOG_CHUNK_BYTES, type LogChunk } from '../protocol/messages.ts';

/** A piece of a file as UserFiles.readChunk reads it, as the log's owner. */
type Piece = { data: Buffer; next: number; size: number; stat: FileStat };

/** A file of a log that the pump wrote before, and where it was when it stopped. */
export interface RetiredFile {
  readonly file: string;
  readonly path: string;
}

/** What the manager knows of one daemon's log, for a reader through it. */
export interface LogSource {
  /** NAME.log; its rotated files are NAME.log.1 ... NAME.log.`keep`. */
  readonly path: string;
  readonly keep: number;
  readonly ownerUid: number;
  /** The file the pump writes now (see fileIdOf), if any. */
  readonly current: string | undefined;
  /**
   * Whether `current` begins with the rest of a line the rotation that made it cut, where
   * the pump knows (it made that file by a rotation).
   */
  readonly currentBeginsMidLine?: boolean;
  /**
   * The pump writes this log, though maybe no file now (between a rotation's rename and
   * its next open): a NAME.log missing then is waited for.
   */
  readonly writing?: boolean;
  /** The last few files it wrote before, oldest first (see native/log_pump.c). */
  readonly retired: readonly RetiredFile[];
  /** Reads as the owner (UserFiles.readChunk): a length of 0 only looks at the file. */
  read(path: string, offset: number, length: number): Promise<FileResult<Piece>>;
}

/** How long a first read waits for a log missing in a rotation (see readLogPiece): 1 s. */
const MISSING_TRIES = 20;
const MISSING_WAIT_MS = 50;

/**
 * A file's identity in a LogChunk: it survives a rename, which a name does not. Its birth
 * time too, where known: ext4 gives a file made after one was deleted its inode number
 * back, and with `log_keep=1` the next log got the number of the one rotation deleted: a
 * reader took it for the file it was reading, a whole file skipped unsaid (an outside
 * review, 52a, F4: 5 of 5).
 */
export function fileIdOf(stat: Pick<FileStat, 'dev' | 'ino' | 'btime'>): string {
  return `${stat.dev}:${stat.ino}${stat.btime === undefined ? '' : `:${stat.btime}`}`;
}

/**
 * A piece of a log for a reader through the manager, like `tail -F` of a file rotated by
 * rename: asked with the `file` of its last piece, it reads on in that file wherever
 * rotation put it (NAME.log.N, or where an outside logrotate renamed it: the pump noted
 * it at its reopen), and only once that file is read to its end and written no more does
 * it move to the file written after it. Asked without one, it reads the log as it is now.
 * The bytes always come from a file that is the owner's own regular file with one link.
 */
export async function readLogPiece(
  source: LogSource,
  offset: number,
  file: string | undefined,
): Promise<LogChunk | { error: string }> {
  const now =
    file === undefined
      ? await readWaiting(source, offset)
      : await source.read(source.path, offset, LOG_CHUNK_BYTES);
  if (file === undefined || (now.ok && fileIdOf(now.value.stat) === file)) {
    if (!now.ok) return { error: `cannot open ${now.error.message}` };
    const chunk = answer(source, source.path, now.value, false);
    const fromTop = now.value.next === now.value.data.length && now.value.data.length > 0;
    if (file !== undefined || !fromTop || 'error' in chunk) return chunk;
    return (await beginsMidLine(source, fileIdOf(now.value.stat))) === true
      ? { ...chunk, midLine: true }
      : chunk;
  }
  // Rotated meanwhile: a rotation between two looks moves it one name further; looked
  // for again then, once (a reader left that far behind is told what it lost).
  for (let attempt = 0; attempt < 2; attempt++) {
    const found = await locate(source, file);
    if (found === undefined) continue;
    const piece = await source.read(found.path, offset, LOG_CHUNK_BYTES);
    if (!piece.ok || fileIdOf(piece.value.stat) !== file) continue;
    const written = file === source.current;
    if (written || piece.value.data.length > 0)
      return answer(source, found.path, piece.value, !written);
    // Read to its end, and written no more: on to the file written after it.
    const after = await readAfter(source, file, found);
    // Not there yet (renamed, not reopened yet) or moved on meanwhile: asked again.
    if (after === 'wait') return answer(source, found.path, piece.value, true);
    if (after === 'moved') continue;
    return answer(source, after.path, after.piece, fileIdOf(after.piece.stat) !== source.current);
  }
  if (file === source.current)
    // Renamed by someone, and not reopened yet (a logrotate before its SIGUSR1): it is
    // still written, where only the next reopen tells; the reader asks again.
    return { data: '', next: offset, size: offset, file, rotated: false };
  // NAME.log missing too (renamed, the next one not open yet): waited for, as at a first
  // read (an outside review, 52a, F5: the tail ended "does not exist" with a logrotate's
  // `mv` and SIGUSR1 every 0.3 s).
  const top = await readWaiting(source, 0);
  if (!top.ok) return { error: `cannot open ${top.error.message}` };
  const chunk = answer(source, source.path, top.value, false);
  if ('error' in chunk) return chunk;
  // Its top may be the rest of a line whose start was in a file skipped: said, as of a
  // first read (an outside review, 60b, F1: shown as a line after 30 of 30 gaps), and
  // when the file before is gone too (rotated on meanwhile): the gap is said anyway, and
  // shown, such a rest was a line (62b, F2: 9 pieces in some 3,200 gaps, `log_keep=1`).
  // Also when it is empty yet (just opened by a rotation in the middle of a long line):
  // what comes first is that rest (64b, F1: the end of lines longer than `log_max_size`
  // shown after 19 gaps in 16 of 141 tails).
  const midLine = (await beginsMidLine(source, fileIdOf(top.value.stat))) !== false;
  return { ...chunk, skipped: true, ...(midLine ? { midLine: true } : {}) };
}

/**
 * Reads NAME.log at `offset`. Missing while the pump writes a file (a rotation renamed
 * it, the next one not open yet), it is there again within moments, as `tail -F` waits
 * for it: looked for again for up to a second. A reader that came then was told it did
 * not exist, and ended (an outside review, 51b, F3: 7 of 20 tails).
 */
async function readWaiting(source: LogSource, offset: number): Promise<FileResult<Piece>> {
  let now = await source.read(source.path, offset, LOG_CHUNK_BYTES);
  for (
    let tries = 0;
    !now.ok &&
    now.error.code === 'ENOENT' &&
    (source.current !== undefined || source.writing === true) &&
    tries < MISSING_TRIES;
    tries++
  ) {
    await new Promise((resolve) => setTimeout(resolve, MISSING_WAIT_MS));
    now = await source.read(source.path, offset, LOG_CHUNK_BYTES);
  }
  return now;
}

/** Where a file is, and which NAME.log.N that is (0: elsewhere). */
type Found = { readonly path: string; readonly index: number };

/**
 * Where a file of the log is now: where the pump last saw it, else NAME.log.1, .2 ... up
 * to the first name missing. Rotation renames the highest first, so a file is never
 * passed over by a look that goes up while it moves up.
 */
async function locate(source: LogSource, file: string): Promise<Found | undefined> {
  const noted = source.retired.find((retired) => retired.file === file);
  if (noted !== undefined && (await holds(source, noted.path, file)))
    return { path: noted.path, index: indexOf(source, noted.path) };
  for (let index = 1; index <= source.keep; index++) {
    const path = `${source.path}.${index}`;
    const looked = await source.read(path, 0, 0);
    if (!looked.ok) return undefined;
    if (fileIdOf(looked.value.stat) === file) return { path, index };
  }
  return undefined;
}

/**
 * The top of the file written after `file`: the pump's record says which (the next one
 * it noted, or the one it writes now), found wherever it is; for a file older than the
 * record, the rotation's names do (NAME.log.N-1, then NAME.log). 'wait': not there yet;
 * 'moved': rotated meanwhile, to be looked for again.
 */
async function readAfter(
  source: LogSource,
  file: string,
  found: Found,
): Promise<{ path: string; piece: Piece } | 'wait' | 'moved'> {
  const noted = source.retired.findIndex((retired) => retired.file === file);
  if (noted !== -1) {
    const next = source.retired[noted + 1]?.file ?? source.current;
    if (next === undefined) return 'wait';
    const readAt = async (path: string): Promise<{ path: string; piece: Piece } | undefined> => {
      const piece = await source.read(path, 0, LOG_CHUNK_BYTES);
      return piece.ok && fileIdOf(piece.value.stat) === next
        ? { path, piece: piece.value }
        : undefined;
    };
    const atName = next === source.current ? await readAt(source.path) : undefined;
    if (atName !== undefined) return atName;
    const at = await locate(source, next);
    return (at && (await readAt(at.path))) ?? 'wait';
  }
  if (found.index === 0) return 'wait';
  const path = found.index === 1 ? source.path : `${source.path}.${found.index - 1}`;
  const next = await source.read(path, 0, LOG_CHUNK_BYTES);
  if (!next.ok) return 'wait';
  // NAME.log made by a logrotate's `create`, not reopened yet: not written yet either.
  const id = fileIdOf(next.value.stat);
  if (path === source.path && source.current !== undefined && id !== source.current) return 'wait';
  // Still at its name: nothing rotated between, so `path` held the file after it.
  if (!(await holds(source, found.path, file))) return 'moved';
  return { path, piece: next.value };
}

/**
 * Whether the file written now begins with the rest of a line: the file written before it
 * (the pump's record of it, else NAME.log.1) does not end with a newline; undefined when
 * that file cannot be read (gone, refused). A `tail` through
 * the manager began with the end of a line over 4 KiB split by a rotation, not with the
 * last 50 whole lines (an outside review, 56b, F5: 2 of 2).
 */
async function beginsMidLine(source: LogSource, top: string): Promise<boolean | undefined> {
  // Known by the pump: the file before need not be there (deleted, compressed by a
  // logrotate without `delaycompress`). Not known so, that rest was shown as a line (an
  // outside review, 66b, F2).
  if (top === source.current && source.currentBeginsMidLine !== undefined)
    return source.currentBeginsMidLine;
  const before = await rotatedBefore(source, top);
  // The pump's record says which file came before the one it writes, only: before `top`
  // if `top` is that one. Read for a `top` rotated on meanwhile, or for one whose file
  // before was gone, it was another (NAME.log.1: `top` itself, or the one after it), and
  // the end of a line longer than `log_max_size` was shown as a line after a gap (an
  // outside review, 66b, F1: 8 pieces in 7 of 23 tails, `log_keep=1`).
  const at =
    before === 'elsewhere' || before === undefined ? await notedBefore(source, top) : before;
  if (at === undefined) return undefined;
  const looked = await source.read(at.path, 0, 0);
  if (!looked.ok || !isFile(looked.value.stat, at.file)) return undefined;
  if (looked.value.size === 0) return false;
  if (refusalOf(looked.value.stat, source.ownerUid) !== undefined) return undefined;
  const last = await source.read(at.path, looked.value.size - 1, 1);
  if (!last.ok || last.value.data.length !== 1 || !isFile(last.value.stat, at.file))
    return undefined;
  return last.value.data[0] !== 0x0a;
}

/** A file of the log found at a path: the one expected there, when known. */
type Located = { readonly path: string; readonly file: string | undefined };

/** Whether what was read is the file expected (any, when not known). */
function isFile(stat: Pick<FileStat, 'dev' | 'ino' | 'btime'>, file: string | undefined): boolean {
  return file === undefined || fileIdOf(stat) === file;
}

/**
 * Where the file rotated just before `top` is, by the rotation's names: the one after
 * where `top` is now (NAME.log.N+1), looked for again if a rotation moved `top` meanwhile.
 * Known by the pump's record alone (see notedBefore), the file before was the one before
 * the file written when the request came: rotated twice since, on a log rotated tens of
 * times a second, it was another, and the end of a line spread over three files was
 * shown as a line after a gap (an outside review, 65b, F2: 7 pieces in 6 of 31 tails).
 */
async function rotatedBefore(
  source: LogSource,
  top: string,
): Promise<Located | 'elsewhere' | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const atName = await holds(source, source.path, top);
    const found = atName ? undefined : await locate(source, top);
    // Gone (rotated past `log_keep`): nothing tells which file came before it.
    if (!atName && found === undefined) return undefined;
    // Elsewhere (renamed by a logrotate): the rotation's names say nothing of it.
    if (found?.index === 0) return 'elsewhere';
    const index = found?.index ?? 0;
    const path = `${source.path}.${index + 1}`;
    const looked = await source.read(path, 0, 0);
    if (!looked.ok) return atName ? 'elsewhere' : undefined;
    // Rotated meanwhile: `top` itself may be at that name now.
    if (fileIdOf(looked.value.stat) === top) continue;
    // Still where it was: the file after it is the one rotated just before it.
    const still =
      index === 0
        ? await holds(source, source.path, top)
        : await holds(source, `${source.path}.${index}`, top);
    if (still) return { path, file: fileIdOf(looked.value.stat) };
  }
  return undefined;
}

/**
 * The file written before `top`, by the pump's record of the files it wrote (wherever that
 * file is now; undefined if it is gone, or if the record does not have `top`), else
 * NAME.log.1 for the file the pump writes with no record yet.
 */
async function notedBefore(source: LogSource, top: string): Promise<Located | undefined> {
  const files = source.retired.map((retired) => retired.file);
  if (source.current !== undefined) files.push(source.current);
  const index = files.indexOf(top);
  if (index === 0 && files.length === 1) return { path: `${source.path}.1`, file: undefined };
  const before = files[index - 1];
  if (index < 1 || before === undefined) return undefined;
  const found = await locate(source, before);
  return found === undefined ? undefined : { path: found.path, file: before };
}

/** Which NAME.log.N a path is (0: another name). */
function indexOf(source: LogSource, path: string): number {
  const prefix = `${source.path}.`;
  if (!path.startsWith(prefix)) return 0;
  const index = Number(path.slice(prefix.length));
  return Number.isSafeInteger(index) && index > 0 ? index : 0;
}

async function holds(source: LogSource, path: string, file: string): Promise<boolean> {
  const looked = await source.read(path, 0, 0);
  return looked.ok && fileIdOf(looked.value.stat) === file;
}

/**
 * A file deleted since it was opened (the next rotation, past `log_keep`) has no link left:
 * what it held is still the owner's (its owner and type are checked), and is read as one
 * with its link. Refused as a file with 0 hard links, a tail through the manager that
 * read it just then ended (an outside review, 64b, F3: 1 of 6 tails, `log_keep=1`).
 */
function unlinkedAsOne<T extends { readonly nlink: number }>(stat: T): T {
  return stat.nlink === 0 ? { ...stat, nlink: 1 } : stat;
}

function answer(
  source: LogSource,
  path: string,
  piece: Piece,
  rotated: boolean,
): LogChunk | { error: string } {
  const refusal = refusalOf(unlinkedAsOne(piece.stat), source.ownerUid);
  if (refusal !== undefined) return { error: `log file ${path} ${refusal}; refused` };
  const { data, next, size, stat } = piece;
  return { data: data.toString('base64'), next, size, file: fileIdOf(stat), rotated };
}
