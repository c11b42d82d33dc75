import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';

/** How a child ended, as waitpid(2) reports it. */
export type WaitStatus = { readonly code?: number; readonly signal?: number; readonly gone?: true };

/** A SOCK_SEQPACKET connection to dm-keeper, carrying descriptors (native/keeper_link.c). */
export interface KeeperChannel {
  /** Sends one message; throws when the keeper is gone or stuck. */
  send(fields: readonly string[], fds?: readonly number[]): void;
  close(): void;
  /** The keeper's pid as the kernel knows it (SO_PEERCRED), before any hello; 0 if unknown. */
  readonly peerPid: number;
}

/** The reading of one sd_notify socket (native/notify_socket.c). */
export interface NotifyWatch {
  /** Stops reading; what is sent meanwhile waits in the kernel's bounded queue. */
  pause(): void;
  resume(): void;
  /** Reads what is queued now, at once, unless paused (its messages come through the callback). */
  drain(): void;
  /** Stops reading and closes the descriptor. */
  close(): void;
}

/** The system calls of native/dm_native.c (see there for why each is needed). */
export interface Native {
  /** waitpid(pid, WNOHANG): undefined while the child runs. */
  waitpid(pid: number): WaitStatus | undefined;
  setSubreaper(): void;
  setCloexec(fd: number, on: boolean): void;
  /** The uid of the process at the other end of a connected unix socket (SO_PEERCRED). */
  peerUid(fd: number): number;
  /** SO_PASSRIGHTS off on a unix socket: true if the kernel has the option (see native/native.h). */
  refusePassedDescriptors(fd: number): boolean;
  /** Whether the process at the other end of a connected unix socket has closed it (POLLHUP). */
  peerGone(fd: number): boolean;
  /** Signals caught by native/early/ before the manager's handlers: a bit per number. */
  takeEarlySignals(): number;
  /** A memory-reducing GC, then malloc_trim(0): free pages back to the kernel; whether glibc had any. */
  trimMemory(): boolean;
  /** Raises the soft open-files limit to the hard one: [soft, hard] then, -1 for unlimited. */
  raiseDescriptorLimit(): [number, number];
  /** Starts dm-keeper listening on `socketPath`; its pid, once it listens. */
  spawnKeeper(binary: string, socketPath: string): number;
  /** Connects to a keeper; `onMessage` gets each message, and null fields at the end. */
  connectKeeper(
    socketPath: string,
    onMessage: (fields: string[] | null, fds: number[]) => void,
  ): KeeperChannel;
  /** An exclusive flock on a file (created 0600): its descriptor; throws with `holder`. */
  lockFile(path: string): number;
  closeFd(fd: number): void;
  /** A listening unix stream socket bound at path (replacing a stale file): its descriptor. */
  listenUnix(path: string, backlog: number): number;
  /** A listening TCP socket on an IP address (a daemon's `listen=`), bound as root; throws with `code`. */
  listenTcp(host: string, port: number, backlog: number): number;
  /** A datagram socket for sd_notify at path (SO_PASSCRED), owned by uid:gid, mode 0700. */
  bindNotify(path: string, uid: number, gid: number): number;
  /** Reads it: each datagram with the kernel's credentials of its sender (data null if too long). */
  watchNotify(
    fd: number,
    onMessage: (pid: number, uid: number, gid: number, data: Buffer | null) => void,
  ): NotifyWatch;
}

/**
 * A file built by `npm ci` (node-gyp) under the package's own build/Release: the bundle
 * runs from dist/, the sources (tests) from src/DIR/. Never looked for further up: a
 * build/Release planted in a directory above the package (as /tmp/build, by anyone) would
 * be loaded as root.
 */
export function findBuilt(name: string): string {
  const dir = import.meta.dirname;
  const root = basename(dir) === 'dist' ? dirname(dir) : dirname(dirname(dir));
  const built = join(root, 'build', 'Release', name);
  if (existsSync(built)) return built;
  throw new Error(`${built} not found: run npm ci (it builds it with node-gyp)`);
}

/** Loads the addon (native/dm_native.c). */
export function loadNative(): Native {
  return createRequire(import.meta.url)(findBuilt('dm_native.node')) as Native;
}
