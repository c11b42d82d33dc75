import { type FileRules, judgeReadFile, type ReadOutcome } from '../config/read-file.ts';
import { describeFailure, type FileError } from './file-error.ts';
import type { FileStat, RawResult } from './native-ops.ts';

/** One `*.conf` file of a daemon directory, as read by the user. */
export interface ConfigFile {
  readonly name: string;
  readonly path: string;
  /** fstat of the opened file; absent when it could not be opened. */
  readonly stat?: FileStat;
  /** What was read (at most maxFileBytes + 1 bytes); absent when not read. */
  readonly data?: Buffer;
  readonly error?: FileError;
  /** Not read because the directory's byte budget (maxTotalBytes) was used up. */
  readonly skipped: boolean;
}

/**
 * A daemon directory: at most `maxFiles` config files whose names can be daemon names
 * (the preferred ones, then the first others in byte order; listed in byte order), and
 * how many `*.conf` files it has.
 */
export interface ConfigDir {
  readonly files: readonly ConfigFile[];
  /** How many `*.conf` names the directory has, badly named ones too (at least; see listingCut). */
  readonly total: number;
  /** The listing stopped at 100,000 names. */
  readonly listingCut: boolean;
  /** `*.conf` files whose name cannot be a daemon's: counted, never opened. */
  readonly badNames: number;
  /** The first of them in byte order (a few, to name them to their owner). */
  readonly badNamesShown: readonly string[];
}

export function toConfigDir(raw: RawResult, dir: string): ConfigDir {
  const files = (raw.entries ?? []).map((entry): ConfigFile => {
    const path = `${dir}/${entry.name}`;
    const error =
      entry.errno === 0
        ? undefined
        : describeFailure(
            'readConfigDir',
            path,
            {
              errno: entry.errno,
              step: 'final',
              ...(entry.mountUid !== undefined && { mountUid: entry.mountUid }),
              ...(entry.mountPoint !== undefined && { mountPoint: entry.mountPoint }),
            },
            'its owner',
          );
    return {
      name: entry.name,
      path,
      ...(entry.stat && { stat: entry.stat }),
      ...(entry.data && { data: entry.data }),
      ...(error && { error }),
      skipped: entry.skipped,
    };
  });
  return {
    files,
    total: raw.total ?? files.length,
    listingCut: raw.listingCut ?? false,
    badNames: raw.badNames ?? 0,
    badNamesShown: raw.badNamesShown ?? [],
  };
}

/**
 * Judges one file of readConfigDir with the rules of src/config/read-file.ts (regular,
 * the owner's, one link, not writable by others, not too big, UTF-8).
 */
export function judgeConfigFile(file: ConfigFile, rules: FileRules): ReadOutcome {
  if (file.skipped)
    return {
      ok: false,
      reason: 'not read: the daemon directory has more config bytes than allowed',
    };
  if (file.error?.code === 'ELOOP')
    return { ok: false, reason: 'is a symbolic link; config files must be regular files' };
  if (file.error) return { ok: false, reason: file.error.message.slice(file.path.length + 2) };
  if (!file.stat) return { ok: false, reason: 'could not be examined' };
  return judgeReadFile(file.stat, file.data, rules);
}
