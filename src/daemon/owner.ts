import type { Settings } from '../config/settings.ts';
import { expandUserPath } from '../config/settings.ts';
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
}

/** Describes a daemon owner: root's files live in the `-root` paths, everyone else's under their home. */
export function makeOwner(account: Account, db: AccountDb, settings: Settings): Owner {
  const isRoot = account.uid === 0;
  const daemonTemplate = isRoot ? settings.daemonPathDaemonRoot : settings.daemonPathDaemon;
  const logTemplate = isRoot ? settings.daemonPathLogRoot : settings.daemonPathLog;
  return {
    account,
    groupIds: groupIdsOf(db, account),
    privateGid: hasPrivateGroup(db, account) ? account.gid : undefined,
    daemonDir: expandUserPath(daemonTemplate, account),
    logDir: expandUserPath(logTemplate, account),
    createDirs: isRoot || daemonTemplate.startsWith('~/'),
  };
}
