import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** How a file someone else may have planted is opened: no final symlink, no blocking on a FIFO, no terminal. */
export const UNTRUSTED_READ =
  constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

import { decodeConfigText } from './lines.ts';

/** What a configuration file must be before a byte of it is read. */
export interface FileRules {
  /** The only uid allowed to own the file. */
  readonly ownerUid: number;
  readonly ownerName: string;
  /** Group-write is accepted only for this gid (the owner's private group), if any. */
  readonly privateGid: number | undefined;
  readonly maxBytes: number;
  /** Refuse files with an execute bit, as the original did for daemon configs. */
  readonly refuseExecutable: boolean;
  /** Who reads it, for a file they may not read: its owner, unless said. */
  readonly reader?: string;
}

export type ReadOutcome =
  | { readonly ok: true; readonly text: string; readonly mode: number }
  | { readonly ok: false; readonly reason: string; readonly missing?: true };

/**
 * Reads a configuration file that someone else may have planted. The file is opened
 * without following a final symlink and without blocking (a FIFO would otherwise hang
 * the manager), then judged on what the open descriptor is: a regular file, owned by
 * the right user, with one link, not writable by others, not too big. Reasons never
 * quote the content, so a refused file cannot leak through an error message.
 */
export function readConfigFile(path: string, rules: FileRules): ReadOutcome {
  let fd: number;
  try {
    fd = openSync(path, UNTRUSTED_READ);
  } catch (error) {
    const reason = describeOpenError(error, rules.reader ?? 'its owner');
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
      ? { ok: false, reason, missing: true }
      : { ok: false, reason };
  }
  try {
    const stats = fstatSync(fd);
    const refusal = judge(stats, rules);
    if (refusal !== undefined) return { ok: false, reason: refusal };
    return judgeContent(readAll(fd, rules.maxBytes), stats.mode, rules);
  } finally {
    closeSync(fd);
  }
}

/** What fstat said of an open file: node's Stats, or what the native readConfigDir returns. */
export interface FileFacts {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly size: number;
  /** An access ACL lets a named user or group write it (known for files read as the user). */
  readonly aclWrite?: boolean;
}

/**
 * Judges a file read elsewhere (src/files readConfigDir, as the user, off the event
 * loop) by the same rules: what its descriptor was, then what was read of it (at most
 * maxBytes + 1 bytes; undefined when it was not read).
 */
export function judgeReadFile(
  stats: FileFacts,
  bytes: Uint8Array | undefined,
  rules: FileRules,
): ReadOutcome {
  const refusal = judge(stats, rules);
  if (refusal !== undefined) return { ok: false, reason: refusal };
  if (bytes === undefined) return { ok: false, reason: 'could not be read' };
  return judgeContent(bytes.length > rules.maxBytes ? undefined : bytes, stats.mode, rules);
}

function judgeContent(bytes: Uint8Array | undefined, mode: number, rules: FileRules): ReadOutcome {
  if (bytes === undefined) return { ok: false, reason: `is larger than ${rules.maxBytes} bytes` };
  const decoded = decodeConfigText(bytes);
  if ('error' in decoded) return { ok: false, reason: decoded.error };
  return { ok: true, text: decoded.text, mode: mode & 0o7777 };
}

function judge(stats: FileFacts, rules: FileRules): string | undefined {
  if ((stats.mode & constants.S_IFMT) !== constants.S_IFREG) return 'is not a regular file';
  if (stats.uid !== rules.ownerUid)
    return `is owned by uid ${stats.uid}, not by ${rules.ownerName}`;
  if (stats.nlink !== 1)
    return `has ${stats.nlink} hard links; a config file must have exactly one`;
  if (stats.mode & 0o002) return 'is world-writable';
  if (stats.mode & 0o020 && stats.gid !== rules.privateGid) return 'is group-writable';
  if (stats.aclWrite === true) return 'has a POSIX ACL that lets another user or group write it';
  if (rules.refuseExecutable && stats.mode & 0o111) return 'is executable';
  if (stats.size > rules.maxBytes) return `is larger than ${rules.maxBytes} bytes`;
  return undefined;
}

function readAll(fd: number, maxBytes: number): Uint8Array | undefined {
  const buffer = Buffer.alloc(Math.min(maxBytes + 1, 64 * 1024));
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const count = readSync(fd, buffer, 0, buffer.length, null);
    if (count === 0) break;
    total += count;
    if (total > maxBytes) return undefined;
    chunks.push(Buffer.from(buffer.subarray(0, count)));
  }
  return Buffer.concat(chunks, total);
}

function describeOpenError(error: unknown, reader: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ELOOP':
      return 'is a symbolic link; config files must be regular files';
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
      return `cannot be read by ${reader} (permission denied)`;
    default:
      return `cannot be opened (${code ?? 'unknown error'})`;
  }
}
