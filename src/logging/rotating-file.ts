import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import { rotateLogFiles } from '../logs/log-file.ts';

/** When the manager's own log rotates, and how many old ones it keeps. */
export interface RotationPolicy {
  readonly maxBytes: number;
  readonly keep: number;
}

/**
 * A writer of the manager's own log file, for `createLogger`: it appends whole lines,
 * and before a line would take the file past `maxBytes` the file becomes FILE.1 (FILE.1
 * becomes FILE.2 ... up to `keep`) and a new one is begun. What users make the manager
 * say (refusals, audit lines) can therefore never fill the disk. A line that cannot be
 * written (a full disk, a file that cannot be opened again) is dropped: logging never
 * stops the manager.
 */
export function rotatingFileWriter(path: string, policy: RotationPolicy): (line: string) => void {
  let file = openAppend(path);
  return (line) => {
    const bytes = Buffer.from(line, 'utf8');
    if (file !== undefined && file.size > 0 && file.size + bytes.length > policy.maxBytes) {
      closeSync(file.fd);
      rotateLogFiles(path, policy.keep);
      file = undefined;
    }
    file ??= openAppend(path);
    if (file === undefined) return;
    try {
      for (let written = 0; written < bytes.length; )
        written += writeSync(file.fd, bytes, written, bytes.length - written);
    } catch {
      // ENOSPC, EIO: the line is lost, the manager goes on.
    }
    file.size += bytes.length;
  };
}

function openAppend(path: string): { fd: number; size: number } | undefined {
  try {
    const fd = openSync(
      path,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
    return { fd, size: fstatSync(fd).size };
  } catch {
    return undefined;
  }
}
