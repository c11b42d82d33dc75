import type { LimitRule } from '../config/limits.ts';
import { ROOT } from '../policy/authorize.ts';
import { portsForUser } from '../policy/ports.ts';
import { type AccountDb, membersOf } from '../users/accounts.ts';
import type { ListenRights } from './judge.ts';

/**
 * What root lets `owner`'s `listen=` lines have: the ports `[limits]` grants them, and
 * the groups they are a member of (listed, or their primary group) for `listen_group=`.
 * The kernel checks the group again when the socket file is given it, as the owner.
 */
export function listenRightsOf(
  owner: string,
  db: AccountDb,
  rules: readonly LimitRule[],
): ListenRights {
  const isMemberOf = (group: string): boolean => membersOf(db, group)?.includes(owner) ?? false;
  return {
    ports: portsForUser(owner, isMemberOf, rules),
    groupOf: (name) => {
      const group = db.groups.get(name);
      if (group === undefined)
        return { refusal: `'listen_group=${name}' refused: there is no group '${name}'` };
      if (owner !== ROOT && !isMemberOf(name))
        return {
          refusal: `'listen_group=${name}' refused: '${owner}' is not a member of group '${name}'`,
        };
      return group.gid;
    },
  };
}
