import type { FileResult } from '../files/file-error.ts';
import type { FileStat } from '../files/native-ops.ts';
import { refusalOf } from '../logs/log-file.ts';
import { LOG_CHUNK_BYTES, type LogChunk } from '../protocol/messages.ts';

/** A piece of a file as UserFiles.readChunk reads it, as the log's owner. */
type Piece = { data: Buffer; next: number; size: number; stat: FileStat };

/** What the manager knows of one daemon's log, for a reader through it. */
export interface LogSource {
  /** NAME.log; its rotated files are NAME.log.1 ... NAME.log.`keep`. */
  readonly path: string;
  readonly keep: number;
  readonly ownerUid: number;
  /** The file the pump writes now (see fileIdOf), if any. */
  readonly current: string | undefined;
  /** The file it wrote before its last reopen, and where that file was then. */
  readonly retired: { readonly file: string; readonly path: string } | undefined;
  /** Reads as the owner (UserFiles.readChunk): a length of 0 only looks at the file. */
  read(path: string, offset: number, length: number): Promise<FileResult<Piece>>;
}

/** A file's identity in a LogChunk: it survives a rename, which a name does not. */
export function fileIdOf(stat: Pick<FileStat, 'dev' | 'ino'>): string {
  return `${stat.dev}:${stat.ino}`;
}

/**
 * A piece of a log for a reader through the manager, like `tail -F` of a file rotated by
 * rename: asked with the `file` of its last piece, it reads on in that file wherever the
 * rotation put it (NAME.log.N, or where an outside logrotate renamed it: the pump noted
 * it at its reopen), and only once that file is read to its end and written no more does
 * it move to the file after it. Asked without one, it reads the log as it is now. The
 * bytes always come from a file that is the owner's own regular file with one link.
 */
export async function readLogPiece(
  source: LogSource,
  offset: number,
  file: string | undefined,
): Promise<LogChunk | { error: string }> {
  const now = await source.read(source.path, offset, LOG_CHUNK_BYTES);
  if (file === undefined || (now.ok && fileIdOf(now.value.stat) === file)) {
    if (!now.ok) return { error: `cannot open ${now.error.message}` };
    return answer(source, source.path, now.value, false);
  }
  // Rotated meanwhile: a rotation between two looks moves it one name further; looked
  // for again then, once (a reader left that far behind is told what it lost).
  for (let attempt = 0; attempt < 2; attempt++) {
    const found = await find(source, file);
    if (found === undefined) continue;
    const piece = await source.read(found.path, offset, LOG_CHUNK_BYTES);
    if (!piece.ok || fileIdOf(piece.value.stat) !== file) continue;
    const written = file === source.current;
    if (written || piece.value.data.length > 0)
      return answer(source, found.path, piece.value, !written);
    // Read to its end, and written no more: on to the file after it.
    const after = found.index <= 1 ? source.path : `${source.path}.${found.index - 1}`;
    const next = await source.read(after, 0, LOG_CHUNK_BYTES);
    // Not there yet (between the rotation's rename and the pump's reopen): asked again.
    if (!next.ok) return answer(source, found.path, piece.value, true);
    // Still there: nothing rotated between (see find), so `after` was the file after it.
    if (found.index > 0 && !(await holds(source, found.path, file))) continue;
    return answer(source, after, next.value, after !== source.path);
  }
  if (file === source.current)
    // Renamed by someone, and not reopened yet (a logrotate before its SIGUSR1): it is
    // still written, where only the next reopen tells; the reader asks again.
    return { data: '', next: offset, size: offset, file, rotated: false };
  if (!now.ok) return { error: `cannot open ${now.error.message}` };
  const top = await source.read(source.path, 0, LOG_CHUNK_BYTES);
  if (!top.ok) return { error: `cannot open ${top.error.message}` };
  const chunk = answer(source, source.path, top.value, false);
  return 'error' in chunk ? chunk : { ...chunk, skipped: true };
}

/**
 * Where a file of the log is now: where the pump last saw it (index 0), else NAME.log.1,
 * .2 ... up to the first name missing (index N). Rotation renames the highest first, so
 * a file is never passed over by a look that goes up while it moves up.
 */
async function find(
  source: LogSource,
  file: string,
): Promise<{ path: string; index: number } | undefined> {
  if (source.retired?.file === file && (await holds(source, source.retired.path, file)))
    return { path: source.retired.path, index: 0 };
  for (let index = 1; index <= source.keep; index++) {
    const path = `${source.path}.${index}`;
    const looked = await source.read(path, 0, 0);
    if (!looked.ok) return undefined;
    if (fileIdOf(looked.value.stat) === file) return { path, index };
  }
  return undefined;
}

async function holds(source: LogSource, path: string, file: string): Promise<boolean> {
  const looked = await source.read(path, 0, 0);
  return looked.ok && fileIdOf(looked.value.stat) === file;
}

function answer(
  source: LogSource,
  path: string,
  piece: Piece,
  rotated: boolean,
): LogChunk | { error: string } {
  const refusal = refusalOf(piece.stat, source.ownerUid);
  if (refusal !== undefined) return { error: `log file ${path} ${refusal}; refused` };
  const { data, next, size, stat } = piece;
  return { data: data.toString('base64'), next, size, file: fileIdOf(stat), rotated };
}
