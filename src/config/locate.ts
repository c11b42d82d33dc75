import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type MasterConfig, parseMasterConfig } from './master.ts';
import { hasErrors, type Problem } from './problems.ts';
import { readConfigFile } from './read-file.ts';
import type { Settings } from './settings.ts';

/** Where the master config is looked for when neither --config nor the environment says. */
export const DEFAULT_MASTER_CONFIGS = [
  '/etc/daemon-manager/daemon-manager.conf',
  '/etc/daemon-manager.conf',
];

/** --config, else $DAEMON_MANAGER_CONFIG, else the first default that exists. */
export function masterConfigPath(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv,
): string | undefined {
  if (explicit !== undefined) return explicit;
  const fromEnv = env.DAEMON_MANAGER_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return DEFAULT_MASTER_CONFIGS.find((path) => existsSync(path));
}

/** The control socket of `user` under a system manager. */
export function systemSocketPath(settings: Settings, user: string): string {
  return join(settings.socketDir, `${user}.sock`);
}

/** The control socket of a personal manager: inside the user's own tree. */
export function personalSocketPath(home: string): string {
  return join(home, '.daemon-manager', 'dmctl.sock');
}

/**
 * Reads and parses the master config. It decides who runs what as whom, so it must be
 * root's alone: owned by root and writable by nobody else, or it is refused. With
 * `keepErrors`, a root-owned file with errors still yields what could be parsed.
 */
export function readMasterConfig(
  path: string,
  options: { readonly keepErrors?: boolean } = {},
): { config: MasterConfig; problems: Problem[] } | { problems: Problem[] } {
  const read = readConfigFile(path, {
    ownerUid: 0,
    ownerName: 'root',
    privateGid: undefined,
    maxBytes: 1024 * 1024,
    refuseExecutable: false,
    // dmctl reads it as its caller: "by its owner" said root could not read /etc/shadow
    // (an outside review, 74a, F3).
    reader: process.geteuid?.() === 0 ? 'root' : `this account (uid ${process.geteuid?.()})`,
  });
  if (!read.ok)
    return { problems: [{ file: path, severity: 'error', message: `refused: ${read.reason}` }] };
  const parsed = parseMasterConfig(read.text, path);
  return hasErrors(parsed.problems) && !options.keepErrors ? { problems: parsed.problems } : parsed;
}

/**
 * The socket-dir as a path of real directories, if only root could have put a socket
 * there: the directory and each one above it root's, the directory writable by root
 * alone, those above it by others only with the sticky bit. Else a user could make
 * dmctl, root's included, ask a server of theirs and print what it says.
 */
export function trustedSocketDir(dir: string, owner = 0): { real: string } | { doubt: string } {
  // dmctl asks, and the manager (running as `owner`) too: see src/daemon/main.ts.
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return { real: dir }; // nothing there: the connection fails and says so
  }
  return trustedFrom(real, real, owner);
}

/**
 * `real` if it and each directory above it are root's (or `owner`'s), `leaf` writable by
 * its owner alone, those above it by others only with the sticky bit.
 */
function trustedFrom(
  real: string,
  leaf: string | undefined,
  owner: number,
): { real: string } | { doubt: string } {
  for (let path = real; ; path = dirname(path)) {
    let mode: number;
    let uid: number;
    let link: boolean;
    try {
      const stat = lstatSync(path);
      ({ mode, uid } = stat);
      link = stat.isSymbolicLink();
    } catch (error) {
      return { doubt: `${path} cannot be examined (${(error as NodeJS.ErrnoException).code})` };
    }
    if (uid !== 0 && uid !== owner) return { doubt: `${path} is not root's (uid ${uid})` };
    // A link's own mode is always 0777 and means nothing: its owner, and its directory's, do.
    const othersWrite = !link && (mode & 0o022) !== 0;
    if (othersWrite && (path === leaf || (mode & 0o1000) === 0))
      return {
        doubt: `${path} may be written by others than its owner (mode ${(mode & 0o7777).toString(8)})`,
      };
    if (path === '/') return { real };
  }
}

/**
 * The root-only paths of the settings (`socket-dir`, `state-dir`, root's daemon configs
 * and logs) that another user could have put or may move: each directory of the path as
 * written (a link in it included: a user's link was followed, and moved later, an outside
 * review, 38a, F4) and of the path it leads to must be root's, writable by others only
 * with the sticky bit. A directory not there yet counts by the nearest one above it.
 * `withLeaf` false: the directories above each path alone (checked before the manager
 * makes the path; prepare-dirs.ts judges the path itself then). The manager writes its
 * state, and root's daemons' logs, as root: below a directory of a user's, that user made
 * it write them into files of their choosing (an outside review, 36b, F5).
 */
export function untrustedRootPaths(settings: Settings, owner = 0, withLeaf = true): string[] {
  const doubts: string[] = [];
  for (const [name, dir] of [
    ['socket-dir', settings.socketDir],
    ['state-dir', settings.stateDir],
    ['daemon-path-daemon-root', settings.daemonPathDaemonRoot],
    ['daemon-path-log-root', settings.daemonPathLogRoot],
  ] as const) {
    const doubt = untrustedPlace(name, dir, owner, withLeaf);
    if (doubt !== undefined) doubts.push(doubt);
  }
  return doubts;
}

/**
 * Why root's manager may not use `path` (named `name`: a setting, an option), if another
 * user could have put or may move a directory of it (see untrustedRootPaths). `withLeaf`
 * false: the directories above it alone (a file: the pidfile, the syslog socket).
 */
export function untrustedPlace(
  name: string,
  path: string,
  owner = 0,
  withLeaf = true,
): string | undefined {
  const doubt = untrustedPath(withLeaf ? path : dirname(path), withLeaf, owner);
  return doubt === undefined
    ? undefined
    : `${name} ${path}: ${doubt}; another user could choose where the manager writes as root`;
}

/** Why `dir` (as written, and where it leads) is not root's alone, if it is not. */
function untrustedPath(dir: string, leafToo: boolean, owner: number): string | undefined {
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const leaf = leafToo && existing === dir;
  // As written: a link on the way is judged as the directory it stands in.
  const written = trustedFrom(existing, leaf ? existing : undefined, owner);
  if ('doubt' in written) return written.doubt;
  let real: string;
  try {
    real = realpathSync(existing);
  } catch (error) {
    return `${existing} cannot be examined (${(error as NodeJS.ErrnoException).code})`;
  }
  const trusted = trustedFrom(real, leaf ? real : undefined, owner);
  return 'doubt' in trusted ? trusted.doubt : undefined;
}
