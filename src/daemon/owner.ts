import type { Settings } from '../config/settings.ts';
import { expandUserPath } from '../config/settings.ts';
import { UserFiles } from '../files/user-files.ts';
import type { Account, AccountDb } from '../users/accounts.ts';
import { groupIdsOf, hasPrivateGroup } from '../users/accounts.ts';

/** A user whose daemons the manager runs, with where their files are. */
export interface Owner {
  readonly account: Account;
  readonly groupIds: readonly number[];
  /** The user's private group (nobody else's primary or supplementary group), whose group-write is harmless. */
  readonly privateGid: number | undefined;
  readonly daemonDir: string;
  readonly logDir: string;
  /** Directories under the home are created by the manager (as the user) at start. */
  readonly createDirs: boolean;
  /** Every file operation in the user's tree: as the user, off the event loop, with a deadline. */
  readonly files: UserFiles;
}

/** Describes a daemon owner: root's files live in the `-root` paths, everyone else's under their home. */
export function makeOwner(account: Account, db: AccountDb, settings: Settings): Owner {
  const isRoot = account.uid === 0;
  const daemonTemplate = isRoot ? settings.daemonPathDaemonRoot : settings.daemonPathDaemon;
  const logTemplate = isRoot ? settings.daemonPathLogRoot : settings.daemonPathLog;
  const groupIds = groupIdsOf(db, account);
  return {
    account,
    groupIds,
    privateGid: hasPrivateGroup(db, account) ? account.gid : undefined,
    daemonDir: expandUserPath(daemonTemplate, account),
    logDir: expandUserPath(logTemplate, account),
    createDirs: isRoot || daemonTemplate.startsWith('~/'),
    files: new UserFiles(account, groupIds),
  };
}

/** Do two owners have the same rights and paths (the account's other fields aside)? */
export function sameOwner(a: Owner, b: Owner): boolean {
  return (
    a.account.name === b.account.name &&
    a.account.uid === b.account.uid &&
    a.account.gid === b.account.gid &&
    a.account.home === b.account.home &&
    a.privateGid === b.privateGid &&
    a.daemonDir === b.daemonDir &&
    a.logDir === b.logDir &&
    a.createDirs === b.createDirs &&
    a.groupIds.length === b.groupIds.length &&
    a.groupIds.every((gid, index) => gid === b.groupIds[index])
  );
}
