import { readFileSync } from 'node:fs';
import { type Database, type GetentFailure, getentAsync, getentSync } from './getent.ts';

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
  return readNameService().db;
}

/** The local account files, which every change of users and groups on this host rewrites. */
export const PASSWD_FILE = '/etc/passwd';
export const GROUP_FILE = '/etc/group';

/** What `getent` gave beyond the local files (LDAP, systemd...), as last read in full. */
export interface OtherAccounts {
  readonly accounts: readonly Account[];
  readonly groups: readonly Group[];
}

/** The name service as last read in full: its accounts, and those not from the local files. */
export interface NameService {
  readonly db: AccountDb;
  readonly others: OtherAccounts;
}

/**
 * `getent` is read again when the local files changed while it ran: a line it gave that
 * the files no longer hold (an account deleted meanwhile) would be taken for another
 * source's, and outlive its deletion until the next full read.
 */
const READ_TRIES = 3;

/**
 * A full read, whoever runs `getent`: each `yield` asks for a database's text, the local
 * files are read before and after, and the whole is read again if they changed meanwhile.
 */
function* fullRead(): Generator<Database, NameService, string> {
  for (let tries = 1; ; tries++) {
    const local = readLocalFiles();
    const passwd = yield 'passwd';
    const group = yield 'group';
    const after = readLocalFiles();
    if (sameFiles(local, after) || tries === READ_TRIES) return nameServiceOf(passwd, group, after);
  }
}

/**
 * Reads the whole name service, blocking: for start-up and the command line. Throws
 * GetentFailed, naming the command, if a `getent` fails or runs past its deadline.
 */
export function readNameService(): NameService {
  const read = fullRead();
  let step = read.next();
  while (!step.done) step = read.next(getentSync(step.value));
  return step.value;
}

/**
 * Reads the whole name service without blocking the manager, for root's SIGHUP: daemons
 * are respawned and dmctl answered while a slow LDAP or sssd answers. Why not, if a
 * `getent` fails, runs past its deadline, or `abandon` aborts (killed then).
 */
export async function readNameServiceAsync(
  abandon: AbortSignal,
): Promise<NameService | GetentFailure> {
  const read = fullRead();
  let step = read.next();
  while (!step.done) {
    const text = await getentAsync(step.value, abandon);
    if (typeof text !== 'string') return text;
    step = read.next(text);
  }
  return step.value;
}

/**
 * The accounts with /etc/passwd and /etc/group read again, the other sources as last
 * read in full. Any user's chfn rewrites /etc/passwd: reading two local files costs
 * nothing, where running `getent` would make the manager wait on every name service at
 * each user's will. The local files come first, as `passwd: files ...` says.
 */
export function withLocalFilesNow(others: OtherAccounts): AccountDb {
  const passwd = parsePasswd(readFileSync(PASSWD_FILE, 'utf8'));
  const groups = parseGroups(readFileSync(GROUP_FILE, 'utf8'));
  return makeAccountDb([...passwd, ...others.accounts], [...groups, ...others.groups]);
}

/** `getent`'s answers, with what they hold beyond the local files they were read with. */
function nameServiceOf(passwd: string, group: string, local: LocalFiles): NameService {
  const accounts = parsePasswd(passwd);
  const groups = parseGroups(group);
  const others = {
    accounts: beyond(accounts, parsePasswd(local.passwd), (account) => account.uid),
    groups: beyond(groups, parseGroups(local.group), (entry) => entry.gid),
  };
  return { db: makeAccountDb(accounts, groups), others };
}

interface LocalFiles {
  readonly passwd: string;
  readonly group: string;
}

function readLocalFiles(): LocalFiles {
  return { passwd: readLocal(PASSWD_FILE), group: readLocal(GROUP_FILE) };
}

function sameFiles(one: LocalFiles, other: LocalFiles): boolean {
  return one.passwd === other.passwd && one.group === other.group;
}

/**
 * The entries of `all` that are not entries of `local`, by name and id as parsed: getent
 * may print a local line otherwise than it is written (`0010` as `10`, a trailing space
 * dropped), and a local entry taken for another source's would outlive its deletion.
 */
export function beyond<T extends { readonly name: string }>(
  all: readonly T[],
  local: readonly T[],
  idOf: (entry: T) => number,
): T[] {
  const own = new Set(local.map((entry) => `${entry.name}:${idOf(entry)}`));
  return all.filter((entry) => !own.has(`${entry.name}:${idOf(entry)}`));
}

function readLocal(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
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
