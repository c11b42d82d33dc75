import { closeSync, constants, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The temporary file is opened without following a link in its place (O_NOFOLLOW):
 * through a state-dir below a user's directory, a user made root write the state into a
 * file of their choosing (an outside review, 36b, F5; such a state-dir is refused at the
 * manager's start now too).
 */
const TEMPORARY_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

/**
 * Writes `text` to `path` so that a crash at any point leaves the old file or the new,
 * never half of one: a temporary file beside it, fsync, rename over the old one, fsync
 * of the directory. Private to root (0600).
 */
export function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.tmp`;
  const fd = openSync(temporary, TEMPORARY_FLAGS, 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** The same as `writeAtomically`, off the event loop (its own temporary file). */
export async function writeAtomicallyAsync(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp-async`;
  const file = await open(temporary, TEMPORARY_FLAGS, 0o600);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
