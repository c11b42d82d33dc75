import { judgeReadFile } from '../config/read-file.ts';
import { UserFiles } from '../files/user-files.ts';
import { sha256 } from '../process/sha256.ts';
import type { Account } from '../users/accounts.ts';
import type { Owner } from './owner.ts';
import { configPathOf, createOwnerDirs, MAX_DAEMON_CONFIG_BYTES, readConfig } from './scan.ts';

/**
 * A daemon's config as its owner sees it now, for `dmctl edit` to copy: read as the
 * owner with the rules of loading, so a file swapped for a link to someone else's file
 * is refused, never shown. No text when there is no file yet.
 */
export async function readConfigAsOwner(
  owner: Owner,
  name: string,
): Promise<{ file: string; text?: string; mode?: number } | { error: string; reason: string }> {
  const file = configPathOf(owner, name);
  const read = await readConfig(owner, name);
  if (read.ok) return { file, text: read.text, mode: read.mode };
  return read.missing
    ? { file }
    : { error: `cannot edit ${file}: it ${read.reason}`, reason: read.reason };
}

/**
 * The caller's edited copy, read as the caller: the manager can read no file through
 * this that the caller could not, and only a regular file of the caller's own.
 */
export async function readEditedCopy(
  source: string,
  caller: Account,
  groupIds: readonly number[],
): Promise<{ text: string } | { error: string }> {
  const read = await new UserFiles(caller, groupIds).readChunk(
    source,
    0,
    MAX_DAEMON_CONFIG_BYTES + 1,
  );
  if (!read.ok) return { error: `cannot read the edited copy: ${read.error.message}` };
  const judged = judgeReadFile(read.value.stat, read.value.data, {
    ownerUid: caller.uid,
    ownerName: caller.name,
    privateGid: undefined,
    maxBytes: MAX_DAEMON_CONFIG_BYTES,
    refuseExecutable: false,
  });
  return judged.ok
    ? { text: judged.text }
    : { error: `cannot read the edited copy ${source}: it ${judged.reason}` };
}

/**
 * Replaces a daemon's config with `text`, as its owner (the way sudoedit writes back):
 * the kernel judges every step with the owner's rights, and the new file is written
 * beside the old one and renamed over it, so a symlink planted there is replaced, never
 * followed. `expect` is the hash of the text the edit began from ('' for no file): a
 * file changed meanwhile, or no longer loadable as it was, is left alone.
 */
export async function writeConfigAsOwner(
  owner: Owner,
  name: string,
  text: string,
  expect: string,
): Promise<{ file: string } | { error: string }> {
  const file = configPathOf(owner, name);
  await createOwnerDirs(owner);
  const current = await readConfigAsOwner(owner, name);
  if ('error' in current) return { error: `${file} ${current.reason} now; not replaced` };
  // configHash of protocol/config-hash.ts, dmctl's, without node:crypto (see sha256.ts).
  const found = current.text === undefined ? '' : sha256(current.text).toString('hex');
  if (found !== expect)
    return {
      error: `${file} was changed by someone else since the edit began; not replaced (edit it again)`,
    };
  // Group-write survived the read only for the owner's private group: keep it.
  const mode = current.mode === undefined ? 0o644 : current.mode & 0o664;
  const written = await owner.files.replaceFile(file, Buffer.from(text, 'utf8'), mode);
  return written.ok ? { file } : { error: `cannot write ${file}: ${written.error.message}` };
}
