import { closeSync, constants, fstatSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { type FileFacts, UNTRUSTED_READ } from '../config/read-file.ts';

/**
 * Opens a daemon's log for appending. The caller runs this as the log's owner (see
 * `asUser`), so the kernel decides what may be opened; on top of that a final symlink
 * is refused, and the descriptor is checked to be a regular file of the owner with one
 * link, so a log pre-created as a link to someone else's file is never written.
 */
export function openLog(
  path: string,
  ownerUid: number,
): { fd: number; size: number } | { error: string } {
  let fd: number;
  try {
    fd = openSync(
      path,
      constants.O_WRONLY |
        constants.O_APPEND |
        constants.O_CREAT |
        constants.O_NOFOLLOW |
        constants.O_NOCTTY |
        constants.O_NONBLOCK,
      0o640,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { error: `log file ${path} is a symbolic link; refused` };
    return { error: `cannot open log file ${path} (${code ?? 'unknown error'})` };
  }
  const stats = fstatSync(fd);
  const refusal = refusalOf(stats, ownerUid);
  if (refusal !== undefined) {
    closeSync(fd);
    return { error: `log file ${path} ${refusal}; refused` };
  }
  return { fd, size: stats.size };
}

/** Shifts NAME.log to NAME.log.1, .1 to .2 ... keeping `keep` old files (run as the owner). */
export function rotateLogFiles(path: string, keep: number): string | undefined {
  try {
    rmSync(`${path}.${keep}`, { force: true });
    for (let index = keep - 1; index >= 1; index--)
      renameIfPresent(`${path}.${index}`, `${path}.${index + 1}`);
    renameIfPresent(path, `${path}.1`);
    return undefined;
  } catch (error) {
    return `cannot rotate ${path} (${(error as NodeJS.ErrnoException).code})`;
  }
}

function renameIfPresent(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** Why an opened file is not the daemon's own log: not regular, someone else's, or a hard link. */
export function refusalOf(stats: FileFacts, ownerUid: number): string | undefined {
  if ((stats.mode & constants.S_IFMT) !== constants.S_IFREG) return 'is not a regular file';
  if (stats.uid !== ownerUid) return `is owned by uid ${stats.uid}`;
  if (stats.nlink !== 1) return `has ${stats.nlink} hard links`;
  return undefined;
}

/** The line written to the log at each start, so a reader can tell runs apart. */
export function startBanner(now: Date, id: string, runAs: string, command: string): string {
  return `--- ${now.toISOString()} daemon-manager: starting ${id} as ${runAs}: ${command}\n`;
}

/**
 * Reads a piece of a log for someone allowed to see it but not to open it (a help-desk
 * user of [manages]). Run as the log's owner; the same checks as for writing apply, so
 * a link planted in place of the log cannot make the manager read another file.
 */
export function readLogChunk(
  path: string,
  ownerUid: number,
  offset: number,
  maxBytes: number,
): { data: Buffer; next: number; size: number } | { error: string } {
  let fd: number;
  try {
    fd = openSync(path, UNTRUSTED_READ);
  } catch (error) {
    return { error: `cannot open ${path} (${(error as NodeJS.ErrnoException).code})` };
  }
  try {
    const stats = fstatSync(fd);
    const refusal = refusalOf(stats, ownerUid);
    if (refusal !== undefined) return { error: `log file ${path} ${refusal}; refused` };
    const start = offset < 0 ? Math.max(0, stats.size + offset) : offset > stats.size ? 0 : offset;
    const buffer = Buffer.alloc(Math.max(0, Math.min(maxBytes, stats.size - start)));
    const count = buffer.length === 0 ? 0 : readSync(fd, buffer, 0, buffer.length, start);
    return { data: buffer.subarray(0, count), next: start + count, size: stats.size };
  } finally {
    closeSync(fd);
  }
}
