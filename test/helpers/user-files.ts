import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { UserFiles } from '../../src/files/user-files.ts';
import type { TestUser } from './host.ts';

/** The file operations of a sandbox user (their own group only). */
export function filesOf(user: TestUser, deadlineMs = 10_000): UserFiles {
  return new UserFiles(user, [user.gid], { deadlineMs });
}

/** Writes a file owned by `user` (root's when undefined) with `mode`. */
export function writeOwned(
  path: string,
  text: string | Buffer,
  user?: TestUser,
  mode = 0o644,
): void {
  writeFileSync(path, text, { mode });
  if (user) chownSync(path, user.uid, user.gid);
}

/** Makes a directory owned by `user` with `mode`. */
export function mkdirOwned(path: string, user: TestUser, mode = 0o755): void {
  mkdirSync(path, { recursive: true, mode });
  chownSync(path, user.uid, user.gid);
}
