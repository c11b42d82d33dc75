import { constants, renameSync, rmSync } from 'node:fs';
import type { FileFacts } from '../config/read-file.ts';
import { printable } from '../protocol/printable.ts';

/**
 * Shifts FILE to FILE.1, .1 to .2 ... keeping `keep` old files: the manager's own log,
 * in its state directory (daemons' logs are rotated by the log pump, as their owner).
 */
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

/**
 * Why an opened file is not the daemon's own log: not regular, someone else's, or a hard
 * link (a log pre-created as a link to another file is never written nor read).
 */
export function refusalOf(stats: FileFacts, ownerUid: number): string | undefined {
  if ((stats.mode & constants.S_IFMT) !== constants.S_IFREG) return 'is not a regular file';
  if (stats.uid !== ownerUid) return `is owned by uid ${stats.uid}`;
  if (stats.nlink !== 1) return `has ${stats.nlink} hard links`;
  return undefined;
}

/** The line written to the log at each start, so a reader can tell runs apart. */
export function startBanner(now: Date, id: string, runAs: string, command: string): string {
  return `--- ${now.toISOString()} daemon-manager: starting ${id} as ${runAs}: ${printable(command)}\n`;
}
