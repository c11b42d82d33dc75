import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { readConfigFile } from '../config/read-file.ts';
import { configHash } from '../protocol/config-hash.ts';
import type { Account } from '../users/accounts.ts';
import { asUser } from '../users/impersonate.ts';
import type { Owner } from './owner.ts';
import {
  configPathOf,
  createOwnerDirs,
  daemonConfigRules,
  MAX_DAEMON_CONFIG_BYTES,
} from './scan.ts';

/**
 * A daemon's config as its owner sees it now, for `dmctl edit` to copy: read as the
 * owner with the rules of loading, so a file swapped for a link to someone else's file
 * is refused, never shown. No text when there is no file yet.
 */
export function readConfigAsOwner(
  owner: Owner,
  name: string,
): { file: string; text?: string } | { error: string } {
  const file = configPathOf(owner, name);
  const read = asUser(owner.account, owner.groupIds, () =>
    readConfigFile(file, daemonConfigRules(owner)),
  );
  if (read.ok) return { file, text: read.text };
  return read.missing ? { file } : { error: `cannot edit ${file}: it ${read.reason}` };
}

/**
 * The caller's edited copy, read as the caller: the manager can read no file through
 * this that the caller could not, and only a regular file of the caller's own.
 */
export function readEditedCopy(
  source: string,
  caller: Account,
  groupIds: readonly number[],
): { text: string } | { error: string } {
  const read = asUser(caller, groupIds, () =>
    readConfigFile(source, {
      ownerUid: caller.uid,
      ownerName: caller.name,
      privateGid: undefined,
      maxBytes: MAX_DAEMON_CONFIG_BYTES,
      refuseExecutable: false,
    }),
  );
  return read.ok
    ? { text: read.text }
    : { error: `cannot read the edited copy ${source}: it ${read.reason}` };
}

/**
 * Replaces a daemon's config with `text`, as its owner (the way sudoedit writes back):
 * the kernel judges every step with the owner's rights, and the new file is written
 * beside the old one and renamed over it, so a symlink planted there is replaced, never
 * followed. `expect` is the hash of the text the edit began from ('' for no file): a
 * file changed meanwhile, or no longer loadable as it was, is left alone.
 */
export function writeConfigAsOwner(
  owner: Owner,
  name: string,
  text: string,
  expect: string,
): { file: string } | { error: string } {
  const file = configPathOf(owner, name);
  createOwnerDirs(owner);
  return asUser(owner.account, owner.groupIds, () => {
    const current = readConfigFile(file, daemonConfigRules(owner));
    if (!current.ok && !current.missing)
      return { error: `${file} ${current.reason} now; not replaced` };
    const found = current.ok ? configHash(current.text) : '';
    if (found !== expect)
      return {
        error: `${file} was changed by someone else since the edit began; not replaced (edit it again)`,
      };
    // Group-write survived the read only for the owner's private group: keep it.
    const mode = current.ok ? current.mode & 0o664 : 0o644;
    const temporary = `${owner.daemonDir}/.${name}.conf.${randomBytes(6).toString('hex')}`;
    try {
      writeNewFile(temporary, text, mode);
      renameSync(temporary, file);
      return { file };
    } catch (error) {
      rmSync(temporary, { force: true });
      return { error: `cannot write ${file} (${(error as NodeJS.ErrnoException).code})` };
    }
  });
}

function writeNewFile(path: string, text: string, mode: number): void {
  const fd = openSync(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    // The manager's umask (077) applied to open: set the mode the file should have.
    fchmodSync(fd, mode);
    const bytes = Buffer.from(text, 'utf8');
    for (let written = 0; written < bytes.length; )
      written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
