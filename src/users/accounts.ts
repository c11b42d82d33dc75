import { execFileSync } from 'node:child_process';

/** A login account, as the name service reports it. */
export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** A Unix group and its listed members. */
export interface Group {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** A snapshot of the name service, taken once per configuration load. */
export interface AccountDb {
  readonly users: ReadonlyMap<string, Account>;
  readonly byUid: ReadonlyMap<number, Account>;
  readonly groups: ReadonlyMap<string, Group>;
}

/** Parses `getent passwd` output (the passwd(5) format). */
export function parsePasswd(text: string): Account[] {
  const accounts: Account[] = [];
  for (const line of text.split('\n')) {
    const [name, , uid, gid, , home] = line.split(':');
    if (!name || uid === undefined || gid === undefined || home === undefined) continue;
    if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid)) continue;
    accounts.push({ name, uid: Number(uid), gid: Number(gid), home });
  }
  return accounts;
}

/** Parses `getent group` output (the group(5) format). */
export function parseGroups(text: string): Group[] {
  const groups: Group[] = [];
  for (const line of text.split('\n')) {
    const [name, , gid, members] = line.split(':');
    if (!name || gid === undefined || !/^\d+$/.test(gid)) continue;
    groups.push({ name, gid: Number(gid), members: (members ?? '').split(',').filter(Boolean) });
  }
  return groups;
}

/** Builds the lookup maps; the first entry for a name or uid wins, as in NSS. */
export function makeAccountDb(accounts: readonly Account[], groups: readonly Group[]): AccountDb {
  const users = new Map<string, Account>();
  const byUid = new Map<number, Account>();
  for (const account of accounts) {
    if (!users.has(account.name)) users.set(account.name, account);
    if (!byUid.has(account.uid)) byUid.set(account.uid, account);
  }
  const groupMap = new Map<string, Group>();
  for (const group of groups) if (!groupMap.has(group.name)) groupMap.set(group.name, group);
  return { users, byUid, groups: groupMap };
}

/** Reads every user and group through the name service (files, LDAP... as nsswitch says). */
export function loadAccounts(): AccountDb {
  const read = (database: string): string =>
    execFileSync('getent', [database], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return makeAccountDb(parsePasswd(read('passwd')), parseGroups(read('group')));
}

/** Members of a group: those it lists and those whose primary group it is. */
export function membersOf(db: AccountDb, groupName: string): string[] | undefined {
  const group = db.groups.get(groupName);
  if (!group) return undefined;
  const members = new Set(group.members);
  for (const account of db.users.values()) if (account.gid === group.gid) members.add(account.name);
  return [...members];
}

/**
 * Who belongs to which group, primary groups included, as one text: equal texts mean no
 * process's groups could have been taken away (a chfn changes nothing here).
 */
export function membershipKey(db: AccountDb): string {
  const primaries = [...db.users.values()].map((user) => `${user.name}:${user.gid}`);
  const groups = [...db.groups.values()].map((group) => `${group.gid}:${group.members.join(',')}`);
  return `${primaries.join(' ')}\n${groups.join(' ')}`;
}

/** Every gid a user belongs to (primary first), as initgroups(3) would set them. */
export function groupIdsOf(db: AccountDb, account: Account): number[] {
  const gids = new Set([account.gid]);
  for (const group of db.groups.values())
    if (group.members.includes(account.name)) gids.add(group.gid);
  return [...gids];
}

/**
 * Is the account's primary group its own alone? Only then is a group-writable config
 * file harmless. Listed members are not the whole story: another account whose *primary*
 * group it is (useradd -g) is a member too, and could rewrite the file and run code as
 * this user. Accounts with the same uid are the same user to the kernel; a listed member
 * with no account is not trusted (it may be created later).
 */
export function hasPrivateGroup(db: AccountDb, account: Account): boolean {
  const isSomeoneElse = (name: string): boolean => {
    const other = db.users.get(name);
    return other === undefined ? name !== account.name : other.uid !== account.uid;
  };
  for (const other of [...db.users.values(), ...db.byUid.values()])
    if (other.gid === account.gid && other.uid !== account.uid) return false;
  for (const group of db.groups.values())
    if (group.gid === account.gid && group.members.some(isSomeoneElse)) return false;
  return true;
}
