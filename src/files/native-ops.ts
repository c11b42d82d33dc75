import { createRequire } from 'node:module';
import { findBuilt } from '../process/native.ts';

/** What fstat(2) said of an opened file. */
export interface FileStat {
  readonly dev: number;
  readonly ino: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  /** Its birth time in ns since the epoch, where the file system keeps one (ops, not listings). */
  readonly btime?: string;
  readonly size: number;
  /** An access ACL lets a named user or group write the file (native/acl.c). */
  readonly aclWrite: boolean;
}

/** One `*.conf` file of readConfigDir, as native/conf_dir.c found it. */
export interface RawConfEntry {
  readonly name: string;
  readonly errno: number;
  /** EREMOTE: who mounted the FUSE file system the file is on, and where. */
  readonly mountUid?: number;
  readonly mountPoint?: string;
  readonly stat?: FileStat;
  /** Present when the file was read: at most maxFileBytes + 1 bytes. */
  readonly data?: Buffer;
  /** Not read: maxTotalBytes had been read already. */
  readonly skipped: boolean;
}

/** The result of one native operation: errno 0 on success, else where it failed. */
export interface RawResult {
  readonly errno: number;
  readonly step: '' | 'parent' | 'final';
  readonly errorPath?: string;
  /** EREMOTE: who mounted the FUSE file system the path would enter, and where. */
  readonly mountUid?: number;
  readonly mountPoint?: string;
  readonly stat?: FileStat;
  readonly fd?: number;
  readonly holderPid?: number;
  readonly data?: Buffer;
  readonly next?: number;
  readonly size?: number;
  readonly entries?: readonly RawConfEntry[];
  readonly total?: number;
  readonly listingCut?: boolean;
  /** readConfigDir: `*.conf` files whose name cannot be a daemon's (never opened). */
  readonly badNames?: number;
  /** readConfigDir: the first of them in byte order (at most 10). */
  readonly badNamesShown?: readonly string[];
}

/** The operation numbers of native/user_ops.h (enum dm_op_kind). */
export const OP = {
  readConfigDir: 0,
  mkdirs: 1,
  openAppend: 2,
  rotate: 3,
  readChunk: 4,
  lockDir: 5,
  bindUnix: 6,
  connectUnix: 7,
  replaceFile: 8,
  removeSocket: 9,
} as const;
export type OpName = keyof typeof OP;

export interface RawArgs {
  readonly path?: string;
  readonly paths?: readonly string[];
  readonly n1?: number;
  readonly n2?: number;
  readonly n3?: number;
  /** replaceFile: the new content. */
  readonly data?: Buffer;
}

/** The part of the addon (native/user_files.c) this folder uses. */
export interface FileOps {
  /** Queues an operation as uid/gid/groups on the addon's own threads. */
  fileOp(
    kind: number,
    uid: number,
    gid: number,
    groups: readonly number[],
    args: RawArgs,
  ): Promise<RawResult>;
  /** close(2); returns the errno, 0 if none. */
  closeFd(fd: number): number;
  /** Closes a socket held for a daemon, what waits in it taken and dropped first. */
  releaseHeldSocket(fd: number): number;
  filePoolCounts(): { threads: number; idle: number; jobs: number };
  /** The daemon-name rule readConfigDir applies to a `NAME.conf` file's NAME. */
  isDaemonName(name: string): boolean;
}

let loaded: FileOps | undefined;

/** Loads the addon once. */
export function fileOps(): FileOps {
  loaded ??= createRequire(import.meta.url)(findBuilt('dm_native.node')) as FileOps;
  return loaded;
}
