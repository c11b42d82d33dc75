import { existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { type DaemonSpec, isValidDaemonName, parseDaemonConfig } from '../config/daemon.ts';
import type { Problem } from '../config/problems.ts';
import { type FileRules, readConfigFile } from '../config/read-file.ts';
import { printable } from '../protocol/printable.ts';
import { asUser } from '../users/impersonate.ts';
import type { Owner } from './owner.ts';

/** The largest daemon config file read; far beyond any real one. */
export const MAX_DAEMON_CONFIG_BYTES = 256 * 1024;
/** At most this many daemons are loaded per user, so one directory cannot flood the manager. */
export const MAX_DAEMONS_PER_USER = 1000;
/** Files ignored for a bad name are named up to this many, then only counted. */
export const BAD_NAMES_SHOWN = 10;

/** One config file, read and parsed: a spec when it is valid, and whatever it said. */
export interface LoadedConfig {
  readonly name: string;
  readonly file: string;
  readonly spec: DaemonSpec | undefined;
  readonly problems: readonly Problem[];
  /** The line of its `user=`, to point at it when that user is refused. */
  readonly runAsLine: number | undefined;
}

/** Creates the user's daemon and log directories, as the user. */
export function createOwnerDirs(owner: Owner): Problem[] {
  if (!owner.createDirs) return [];
  const problems: Problem[] = [];
  asUser(owner.account, owner.groupIds, () => {
    for (const dir of [owner.daemonDir, owner.logDir]) {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o755 });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
        // mkdir -p of ~/.daemon-manager fails with EACCES when the home itself is gone.
        const homeGone =
          dir.startsWith(`${owner.account.home}/`) && !existsSync(owner.account.home);
        problems.push({
          file: dir,
          severity: 'warning',
          message: homeGone
            ? `cannot create directory: the home directory ${owner.account.home} does not exist`
            : `cannot create directory (${code})`,
        });
      }
    }
  });
  return problems;
}

/** Lists the names of the `NAME.conf` files in the user's daemon directory, as the user. */
export function listConfigNames(owner: Owner): {
  names: string[];
  problems: Problem[];
  /** How many `*.conf` files were ignored for their name. */
  badNames: number;
  /** The listing failed (a home unreadable, unmounted): it says nothing of what is gone. */
  failed: boolean;
} {
  const problems: Problem[] = [];
  let entries: string[];
  try {
    entries = asUser(owner.account, owner.groupIds, () => readdirSync(owner.daemonDir));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const failed = code !== 'ENOENT' || !existsSync(owner.account.home);
    if (code !== 'ENOENT')
      problems.push({
        file: owner.daemonDir,
        severity: 'warning',
        message: `cannot list directory (${code})`,
      });
    return { names: [], problems, failed, badNames: 0 };
  }
  const names: string[] = [];
  let badNames = 0;
  for (const entry of entries.sort()) {
    if (!entry.endsWith('.conf')) continue;
    const name = entry.slice(0, -'.conf'.length);
    if (!isValidDaemonName(name)) {
      if (++badNames <= BAD_NAMES_SHOWN)
        problems.push({
          file: `${owner.daemonDir}/${printable(entry.slice(0, 200))}`,
          severity: 'warning',
          message: 'ignored: a daemon name uses letters, digits and . _ @ + - (at most 128)',
        });
    } else if (names.length >= MAX_DAEMONS_PER_USER) {
      problems.push({
        file: owner.daemonDir,
        severity: 'warning',
        message: `more than ${MAX_DAEMONS_PER_USER} daemons; the rest are ignored`,
      });
      break;
    } else names.push(name);
  }
  if (badNames > BAD_NAMES_SHOWN)
    problems.push({
      file: owner.daemonDir,
      severity: 'warning',
      message: `... and ${badNames - BAD_NAMES_SHOWN} more *.conf files ignored for their names`,
    });
  return { names, problems, failed: false, badNames };
}

/** Where a daemon's config file is. */
export function configPathOf(owner: Owner, name: string): string {
  return `${owner.daemonDir}/${name}.conf`;
}

/** Is a daemon's config file gone (looked for as its owner)? Not when it cannot be told. */
export function isConfigGone(owner: Owner, name: string): boolean {
  try {
    asUser(owner.account, owner.groupIds, () => lstatSync(configPathOf(owner, name)));
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** What a daemon config must be: its owner's, one link, not writable by others, small. */
export function daemonConfigRules(owner: Owner): FileRules {
  return {
    ownerUid: owner.account.uid,
    ownerName: owner.account.name,
    privateGid: owner.privateGid,
    maxBytes: MAX_DAEMON_CONFIG_BYTES,
    refuseExecutable: true,
  };
}

/** Reads and parses one daemon config as its owner. */
export function loadConfig(owner: Owner, name: string): LoadedConfig {
  const file = configPathOf(owner, name);
  const read = asUser(owner.account, owner.groupIds, () =>
    readConfigFile(file, daemonConfigRules(owner)),
  );
  if (!read.ok)
    return {
      name,
      file,
      spec: undefined,
      problems: [{ file, severity: 'error', message: `refused: ${read.reason}` }],
      runAsLine: undefined,
    };
  return { name, file, ...parseDaemonConfig(read.text, file, name) };
}
