import type { Account } from '../users/accounts.ts';
import { type ConfigDir, toConfigDir } from './config-dir.ts';
import { describeFailure, type FileResult } from './file-error.ts';
import {
  type FileStat,
  fileOps,
  OP,
  type OpName,
  type RawArgs,
  type RawResult,
} from './native-ops.ts';
import { markReturned, markStuck, notAnswering } from './not-answering.ts';

export interface UserFilesOptions {
  /** How long an operation may take before it is reported as not answering. */
  readonly deadlineMs: number;
}

/** Bounds of one readConfigDir: counts and sizes, so a rescan is bounded work. */
export interface ConfigDirLimits {
  readonly maxFiles: number;
  readonly maxFileBytes: number;
  readonly maxTotalBytes: number;
}

const DEFAULT_OPTIONS: UserFilesOptions = { deadlineMs: 10_000 };

/**
 * File operations in one user's tree, done as that user (their uid, gid and groups) on
 * the addon's own threads (native/user_files.c), never on the event loop. Each resolves
 * to a value or a FileError; none throws on an expected failure.
 *
 * The operations of one user run one at a time, in order. One that has not returned by
 * the deadline resolves to a time-out, and from then on until it returns every further
 * operation of that user fails at once with the same message: a user whose tree hangs
 * (a FUSE file system that never answers, a dead NFS server) holds one thread, delays
 * nobody else and cannot pile up work.
 */
export class UserFiles {
  private readonly account: Account;
  private readonly groupIds: readonly number[];
  private readonly options: UserFilesOptions;

  constructor(
    account: Account,
    groupIds: readonly number[],
    options: Partial<UserFilesOptions> = {},
  ) {
    this.account = account;
    this.groupIds = groupIds;
    this.options = { ...DEFAULT_OPTIONS, ...options };
  }

  /**
   * Lists `dir`'s `*.conf` files (sorted) and reads them within `limits`; past
   * `limits.maxFiles`, the `preferred` file names are read first.
   */
  async readConfigDir(
    dir: string,
    limits: ConfigDirLimits,
    preferred: readonly string[] = [],
  ): Promise<FileResult<ConfigDir>> {
    const raw = await this.run('readConfigDir', dir, {
      path: dir,
      paths: preferred,
      n1: limits.maxFiles,
      n2: limits.maxFileBytes,
      n3: limits.maxTotalBytes,
    });
    return 'error' in raw ? raw : { ok: true, value: toConfigDir(raw.value, dir) };
  }

  /** mkdir -p of each path, with `mode` for the directories made. */
  async mkdirs(paths: readonly string[], mode: number): Promise<FileResult<void>> {
    const raw = await this.run('mkdirs', paths[0] ?? '', { paths, n1: mode });
    return 'error' in raw ? raw : { ok: true, value: undefined };
  }

  /**
   * Opens (or creates with `mode`) a file for appending, never through a final symlink,
   * never blocking; the caller judges the returned stat and closes the fd it refuses.
   */
  async openAppend(
    path: string,
    mode: number,
  ): Promise<FileResult<{ fd: number; stat: FileStat }>> {
    const raw = await this.run('openAppend', path, { path, n1: mode });
    if ('error' in raw) return raw;
    const { fd, stat } = raw.value;
    if (fd === undefined || stat === undefined)
      throw new Error('openAppend: no descriptor returned');
    return { ok: true, value: { fd, stat } };
  }

  /** NAME -> NAME.1, NAME.1 -> NAME.2 ... keeping `keep` old files. */
  async rotate(path: string, keep: number): Promise<FileResult<void>> {
    const raw = await this.run('rotate', path, { path, n1: keep });
    return 'error' in raw ? raw : { ok: true, value: undefined };
  }

  /**
   * Reads up to `length` bytes at `offset` (negative: from the end). No data when the
   * file is not a regular file: the stat says what it is.
   */
  async readChunk(
    path: string,
    offset: number,
    length: number,
  ): Promise<FileResult<{ data: Buffer; next: number; size: number; stat: FileStat }>> {
    const raw = await this.run('readChunk', path, { path, n1: offset, n2: length });
    if ('error' in raw) return raw;
    const { data, next, size, stat } = raw.value;
    if (stat === undefined) throw new Error('readChunk: no stat returned');
    return {
      ok: true,
      value: { data: data ?? Buffer.alloc(0), next: next ?? 0, size: size ?? stat.size, stat },
    };
  }

  /** Takes an exclusive flock on a directory; the lock lasts until closeFd(fd). */
  async lockDir(path: string): Promise<FileResult<{ fd: number }>> {
    return this.withFd('lockDir', path, { path });
  }

  /**
   * A listening unix stream socket at `path`, made by the user, with `mode` and, if asked,
   * `group` (the kernel refuses a group the user is not in); with the file's stat.
   */
  async bindUnix(
    path: string,
    backlog: number,
    mode: number,
    group?: number,
  ): Promise<FileResult<{ fd: number; stat: FileStat }>> {
    const raw = await this.run('bindUnix', path, { path, n1: backlog, n2: mode, n3: group ?? -1 });
    if ('error' in raw) return raw;
    const { fd, stat } = raw.value;
    if (fd === undefined || stat === undefined) throw new Error('bindUnix: no descriptor returned');
    return { ok: true, value: { fd, stat } };
  }

  /**
   * Removes the user's socket file at `path` if it is still the one `made` says (device
   * and inode), or, without `made`, if it is a stale one: a socket nothing listens on.
   */
  async removeSocket(path: string, made?: { dev: number; ino: number }): Promise<FileResult<void>> {
    const raw = await this.run('removeSocket', path, {
      path,
      n1: made?.dev ?? 0,
      n2: made?.ino ?? 0,
    });
    return 'error' in raw ? raw : { ok: true, value: undefined };
  }

  /**
   * Replaces a file's content as the user: a new file beside it, written, synced, given
   * `mode`, renamed over it (a link planted there is replaced, never followed).
   */
  async replaceFile(path: string, data: Buffer, mode: number): Promise<FileResult<void>> {
    const raw = await this.run('replaceFile', path, { path, data, n1: mode });
    return 'error' in raw ? raw : { ok: true, value: undefined };
  }

  /** Whether the user can connect to the unix socket at `path` (closed at once). */
  async connectUnix(path: string): Promise<FileResult<void>> {
    const raw = await this.run('connectUnix', path, { path });
    return 'error' in raw ? raw : { ok: true, value: undefined };
  }

  private async withFd(
    op: OpName,
    path: string,
    args: RawArgs,
  ): Promise<FileResult<{ fd: number }>> {
    const raw = await this.run(op, path, args);
    if ('error' in raw) return raw;
    if (raw.value.fd === undefined) throw new Error(`${op}: no descriptor returned`);
    return { ok: true, value: { fd: raw.value.fd } };
  }

  /** Runs one native operation against the deadline. */
  private run(op: OpName, path: string, args: RawArgs): Promise<FileResult<RawResult>> {
    const uid = this.account.uid;
    const refusal = notAnswering(uid);
    if (refusal !== undefined)
      return Promise.resolve({
        ok: false,
        error: { code: 'NOT_ANSWERING', path, message: refusal },
      });
    const native = fileOps();
    const pending = native.fileOp(OP[op], uid, this.account.gid, this.groupIds, args);
    return new Promise((resolve) => {
      let late = false;
      let answered = false;
      const seconds = this.options.deadlineMs / 1000;
      // Judged after the loop's next poll: libuv runs expired timers before it polls, so
      // after a stall of the manager (a starved CPU, another user's load) an answer that
      // came in time waited unread while the user was taken for one whose tree hangs.
      // Not unref'd: an unref'd immediate does not keep that poll from blocking, and a
      // manager with nothing else to do (starting, its first user's home on a file system
      // that does not answer) waited in it for good, never started.
      const timer = setTimeout(() => {
        setImmediate(() => {
          if (answered) return;
          late = true;
          const message = `${path}: no answer within ${seconds} s (an NFS or FUSE mount?)`;
          markStuck(uid, message);
          resolve({ ok: false, error: { code: 'TIMEOUT', path, message } });
        });
      }, this.options.deadlineMs);
      timer.unref();
      void pending.then((raw) => {
        answered = true;
        clearTimeout(timer);
        if (late) {
          // Nobody waits for it any more: what it opened is closed, and the user may go on.
          if (raw.fd !== undefined) native.closeFd(raw.fd);
          markReturned(uid);
          return;
        }
        if (raw.errno === 0) resolve({ ok: true, value: raw });
        else resolve({ ok: false, error: describeFailure(op, path, raw, this.account.name, uid) });
      });
    });
  }
}

/** Closes a descriptor handed out by openAppend, lockDir or bindUnix. */
export function closeFd(fd: number): void {
  fileOps().closeFd(fd);
}

/**
 * Closes a socket held for a daemon that is let go of: it takes no more connections, and
 * what waits in it (descriptors a user passed, whose last close could wait) is taken and
 * dropped first (see native/held_release.h).
 */
export function releaseHeldSocket(fd: number): void {
  fileOps().releaseHeldSocket(fd);
}
