import { type Account, type AccountDb, groupIdsOf } from '../users/accounts.ts';

/**
 * The groups a run was given (its gid and supplementary groups) that its run-as user may
 * no longer have, each said as a person reads it. `nameThen` names a gid as it was named
 * when the run got it, if that is known: a gid may be another group's now (an outside
 * review saw a user said to be taken out of a group they were never in), and a group
 * deleted and made again under its name, the user in it, is said as such. A run taken
 * over from another manager has no names of then: its gids are said as gids, with the
 * group that has the gid now.
 */
export function revokedGroups(
  given: readonly number[],
  runAs: Account,
  db: AccountDb,
  nameThen: (gid: number) => string | undefined,
): string[] {
  const allowed = new Set(groupIdsOf(db, runAs));
  const revoked = [...new Set(given)].filter((gid) => !allowed.has(gid));
  return revoked.map((gid) => {
    const name = nameThen(gid);
    if (name === undefined) {
      const holder = groupNameIn(db, gid);
      const now = holder === undefined ? '' : ` (the group ${holder} now)`;
      return `${runAs.name} is no longer in gid ${gid}${now}`;
    }
    const now = db.groups.get(name)?.gid;
    return now !== undefined && now !== gid && allowed.has(now)
      ? `its group ${name} is another group now (gid ${gid}, now ${now})`
      : `${runAs.name} is no longer in ${name} (gid ${gid})`;
  });
}

/** The name of the group `gid` in `db`, if one has it. */
export function groupNameIn(db: AccountDb, gid: number): string | undefined {
  for (const group of db.groups.values()) if (group.gid === gid) return group.name;
  return undefined;
}
