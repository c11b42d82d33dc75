import { type DaemonSpec, parseDaemonConfig } from '../config/daemon.ts';
import { meaningfulLines } from '../config/lines.ts';
import type { ListenLines } from '../config/listen.ts';
import type { Problem } from '../config/problems.ts';
import { type FileRules, judgeReadFile, type ReadOutcome } from '../config/read-file.ts';
import { type ConfigFile, judgeConfigFile } from '../files/config-dir.ts';
import type { FileError } from '../files/file-error.ts';
import { sha256 } from '../process/sha256.ts';
import { printable } from '../protocol/printable.ts';
import type { Owner } from './owner.ts';
import { rescanCost } from './rescan-budget.ts';
import { Slicer } from './slices.ts';

/** The largest daemon config file read; far beyond any real one. */
export const MAX_DAEMON_CONFIG_BYTES = 256 * 1024;
/** At most this many daemons are loaded per user, so one directory cannot flood the manager. */
export const MAX_DAEMONS_PER_USER = 1000;
/**
 * The config bytes read of one user per rescan: a thousand ordinary configs fit many
 * times over; a thousand files of 250 KB do not, and the rest is refused, said to them.
 */
export const MAX_CONFIG_BYTES_PER_USER = 4 * 1024 * 1024;
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
  /** The line of its `restart_delay=`, to point at it when out of the admin's bounds. */
  readonly restartDelayLine?: number | undefined;
  /** The lines of its `listen=` and `listen_group=`, to point at one that is refused. */
  readonly listenLines?: ListenLines;
  /** A digest of what its text says (see `sourceOf`); with a spec only. */
  readonly source?: string;
}

/** A user's daemon directory, read as the user. */
export interface DirScan {
  readonly configs: readonly LoadedConfig[];
  readonly problems: Problem[];
  /** How many `*.conf` files were ignored for their name. */
  readonly badNames: number;
  /** How many daemon files were ignored past MAX_DAEMONS_PER_USER. */
  readonly ignored: number;
  /** The listing failed (a home unreadable, unmounted): it says nothing of what is gone. */
  readonly failed: boolean;
  /** The listing stopped at 100,000 names: nor does it say what is gone. */
  readonly partial: boolean;
  /** It failed for a file system that did not answer in time (read again soon, see Manager.awaitHome). */
  readonly unanswered: boolean;
  /** The directory is not there (read as empty). */
  readonly missing: boolean;
  /** What reading the directory cost, for the user's rescan budget (rescan-budget.ts). */
  readonly cost: number;
}

/** What creating a user's directories found: its problems, and whether the home is missing. */
export interface OwnerDirs {
  readonly problems: Problem[];
  readonly homeGone: boolean;
  /** Its file system did not answer in time. */
  readonly unanswered: boolean;
}

/** A file system that did not answer in time: it may later (a home on a slow mount). */
function unanswered(error: FileError): boolean {
  return error.code === 'TIMEOUT' || error.code === 'NOT_ANSWERING';
}

/** Creates the user's daemon and log directories, as the user. */
export async function createOwnerDirs(owner: Owner): Promise<OwnerDirs> {
  if (!owner.createDirs) return { problems: [], homeGone: false, unanswered: false };
  const made = await owner.files.mkdirs([owner.daemonDir, owner.logDir], 0o755);
  if (made.ok) return { problems: [], homeGone: false, unanswered: false };
  const { error } = made;
  // mkdir -p of ~/.daemon-manager fails at the home itself when the home is gone (the
  // user may not create it where it should be).
  const homeGone = error.path === owner.account.home;
  return {
    problems: [
      {
        file: error.path,
        severity: 'warning',
        message: homeGone
          ? `cannot create directory: the home directory ${owner.account.home} does not exist`
          : `cannot create directory (${error.code})`,
      },
    ],
    homeGone,
    unanswered: unanswered(error),
  };
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

/** Where a daemon's config file is. */
export function configPathOf(owner: Owner, name: string): string {
  return `${owner.daemonDir}/${name}.conf`;
}

function parsed(name: string, file: string, outcome: ReturnType<typeof judgeReadFile>) {
  if (!outcome.ok)
    return {
      name,
      file,
      spec: undefined,
      problems: [{ file, severity: 'error' as const, message: `refused: ${outcome.reason}` }],
      runAsLine: undefined,
    };
  const config = parseDaemonConfig(outcome.text, file, name);
  return {
    name,
    file,
    ...config,
    ...(config.spec === undefined ? {} : { source: sourceOf(outcome.text) }),
  };
}

/**
 * A digest of the lines of a config's text that can mean something (not blank, not a
 * comment, as `meaningfulLines` reads them), saved beside a run: a manager that takes
 * the run over (an upgrade, a start after a crash) tells by it whether the file changed
 * since the run began. The spec itself is not compared: its shape may differ between the
 * two managers' versions. An edit of comments alone is no change.
 */
export function sourceOf(text: string): string {
  let plain = '';
  for (const line of meaningfulLines(text)) plain += `${spelledPlainly(line.text)}\n`;
  return sha256(plain).toString('base64').slice(0, 22);
}

/**
 * A line as the parser reads it: blanks around its `=` (and after `export`) mean nothing,
 * so `autostart = yes` is `autostart=yes` (an outside review: such an edit made while the
 * manager was down restarted the daemon at the next rescan). A line written without them
 * is unchanged, so digests saved by earlier versions still match.
 */
function spelledPlainly(line: string): string {
  const exported = /^export\s+(.*)$/.exec(line);
  const assignment = exported?.[1] ?? line;
  const equals = assignment.indexOf('=');
  if (equals === -1) return line;
  const plain = `${assignment.slice(0, equals).trim()}=${assignment.slice(equals + 1).trim()}`;
  return exported ? `export ${plain}` : plain;
}

/**
 * What each owner's files were at their last rescan: what fstat and the bytes were, and
 * what they gave. A file whose bytes are the same (a `touch`, a rescan in a loop) is not
 * decoded and parsed again: a 250 KB config is not made into strings at every rescan.
 * Keyed by the Owner, which is made anew when the user's rights change.
 */
const lastLoaded = new WeakMap<Owner, Map<string, { facts: string; loaded: LoadedConfig }>>();

/** What decides how a read file is judged and parsed: its fstat facts and its bytes. */
function factsOf(file: ConfigFile): string | undefined {
  const { stat, data } = file;
  if (stat === undefined || data === undefined || file.error !== undefined || file.skipped)
    return undefined;
  const digest = sha256(data).toString('base64');
  return `${stat.mode}:${stat.uid}:${stat.gid}:${stat.nlink}:${stat.size}:${stat.aclWrite}:${digest}`;
}

/**
 * Lists and reads the `NAME.conf` files of the user's daemon directory, as the user and
 * off the event loop, within bounds: at most MAX_DAEMONS_PER_USER files and
 * MAX_CONFIG_BYTES_PER_USER bytes, each judged by the rules of a config file (in slices
 * of the event loop's time, see Slicer).
 */
export async function scanDaemonDir(
  owner: Owner,
  slicer = new Slicer(),
  onRead: (files: number) => void = () => {},
  loaded: readonly string[] = [],
): Promise<DirScan> {
  // What is opened is bounded by count and what is read by bytes (a skipped file is
  // refused, said to its owner); the rest is only counted. Past the count, the daemons
  // loaded now are read first: a new file never pushes a running daemon out.
  const read = await owner.files.readConfigDir(
    owner.daemonDir,
    {
      maxFiles: MAX_DAEMONS_PER_USER,
      maxFileBytes: MAX_DAEMON_CONFIG_BYTES,
      maxTotalBytes: MAX_CONFIG_BYTES_PER_USER,
    },
    // Those past the count would not be read anyway (and the addon takes no more).
    loaded.slice(0, MAX_DAEMONS_PER_USER).map((name) => `${name}.conf`),
  );
  if (!read.ok) {
    const { error } = read;
    // The directory itself missing is an empty listing; anything else says nothing.
    const missing = error.code === 'ENOENT' && error.path === owner.daemonDir;
    return {
      configs: [],
      problems: missing
        ? []
        : [
            {
              file: owner.daemonDir,
              severity: 'warning',
              message:
                error.code === 'EREMOTE'
                  ? `not read: ${error.message}`
                  : `cannot list directory (${error.code})`,
            },
          ],
      badNames: 0,
      ignored: 0,
      failed: !missing,
      partial: false,
      unanswered: unanswered(error),
      missing,
      cost: 0,
    };
  }
  const { files, badNames, badNamesShown } = read.value;
  onRead(files.length);
  // Badly named files were counted by the native listing, never opened (src/files).
  const problems: Problem[] = badNamesShown.slice(0, BAD_NAMES_SHOWN).map((name) => ({
    file: `${owner.daemonDir}/${printable(name.slice(0, 200))}`,
    severity: 'warning',
    message:
      'ignored: a daemon name uses letters, digits and . _ @ + -, starts with a letter, digit or _, and has at most 128 of them',
  }));
  const configs: LoadedConfig[] = [];
  const tooMany = read.value.total - badNames - files.length;
  const rules = daemonConfigRules(owner);
  const before = lastLoaded.get(owner);
  const now = new Map<string, { facts: string; loaded: LoadedConfig }>();
  for (const file of files) {
    await slicer.pause();
    const name = file.name.slice(0, -'.conf'.length);
    const facts = factsOf(file);
    const known = before?.get(name);
    const loaded =
      facts !== undefined && known?.facts === facts
        ? known.loaded
        : parsed(name, file.path, judgeConfigFile(file, rules));
    if (facts !== undefined) now.set(name, { facts, loaded });
    configs.push(loaded);
  }
  lastLoaded.set(owner, now);
  if (tooMany > 0 || read.value.listingCut)
    problems.push({
      file: owner.daemonDir,
      severity: 'warning',
      message: `more than ${MAX_DAEMONS_PER_USER} daemon files; ${tooMany} more are ignored (those of the daemons loaded before are kept)`,
    });
  if (badNames > BAD_NAMES_SHOWN)
    problems.push({
      file: owner.daemonDir,
      severity: 'warning',
      message: `... and ${badNames - BAD_NAMES_SHOWN} more *.conf files ignored for their names`,
    });
  const bytesRead = files.reduce((sum, file) => sum + (file.data?.length ?? 0), 0);
  const opened = files.filter((file) => !file.skipped).length;
  const cost = rescanCost(bytesRead, opened, read.value.total);
  return {
    configs,
    problems,
    badNames,
    ignored: tooMany,
    failed: false,
    partial: read.value.listingCut,
    unanswered: false,
    missing: false,
    cost,
  };
}

/** Why a config file could not be read, as a refusal says it (`is a symbolic link; ...`). */
export function readFailure(error: FileError, file: string): string {
  switch (error.code) {
    case 'ENOENT':
      return 'does not exist';
    case 'ELOOP':
      return 'is a symbolic link; config files must be regular files';
    case 'EACCES':
      return 'cannot be read by its owner (permission denied)';
    default:
      return error.message.startsWith(`${file}: `)
        ? error.message.slice(file.length + 2)
        : error.message;
  }
}

/** Reads one daemon config as its owner: the text and mode, or why not. */
export async function readConfig(owner: Owner, name: string): Promise<ReadOutcome> {
  const file = configPathOf(owner, name);
  const read = await owner.files.readChunk(file, 0, MAX_DAEMON_CONFIG_BYTES + 1);
  if (!read.ok)
    return {
      ok: false,
      reason: readFailure(read.error, file),
      ...(read.error.code === 'ENOENT' ? { missing: true as const } : {}),
    };
  return judgeReadFile(read.value.stat, read.value.data, daemonConfigRules(owner));
}

/** Reads and parses one daemon config as its owner. */
export async function loadConfig(owner: Owner, name: string): Promise<LoadedConfig> {
  return parsed(name, configPathOf(owner, name), await readConfig(owner, name));
}

/** Is a daemon's config file gone (looked for as its owner)? Not when it cannot be told. */
export async function isConfigGone(owner: Owner, name: string): Promise<boolean> {
  const read = await owner.files.readChunk(configPathOf(owner, name), 0, 0);
  return !read.ok && read.error.code === 'ENOENT';
}
