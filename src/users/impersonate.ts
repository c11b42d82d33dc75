import type { Account } from './accounts.ts';

/**
 * Runs `action` with the effective uid, gid and groups of `account`, then returns to
 * root. Everything the manager does inside a user's tree (reading configs, creating
 * directories, opening logs) goes through here, so the kernel applies that user's
 * permissions: a symlink or hard link planted by the user can only reach what the
 * user could reach anyway.
 *
 * The switch is process-wide (glibc applies seteuid to every thread), so `action`
 * must be synchronous and the manager keeps no file-system work in flight meanwhile.
 * Without root (personal mode) there is nobody else to be: `action` just runs.
 */
export function asUser<T>(account: Account, groupIds: readonly number[], action: () => T): T {
  if (process.geteuid?.() !== 0 || account.uid === 0) return action();
  const savedGroups = process.getgroups?.() ?? [];
  process.setgroups?.([...groupIds]);
  process.setegid?.(account.gid);
  process.seteuid?.(account.uid);
  try {
    return action();
  } finally {
    // Order matters: only an effective root may set the gid and groups back.
    process.seteuid?.(0);
    process.setegid?.(0);
    process.setgroups?.(savedGroups);
  }
}
