import { constants } from 'node:os';
import type { OpName, RawResult } from './native-ops.ts';

/** An expected failure of an operation in a user's tree, with a message a person can act on. */
export interface FileError {
  /** An errno name (`ENOENT`, `ELOOP` ...), `TIMEOUT` or `NOT_ANSWERING`. */
  readonly code: string;
  /** The path the operation failed on. */
  readonly path: string;
  readonly message: string;
  /** lockDir: the pid holding the lock, when /proc/locks named it. */
  readonly holderPid?: number;
  /** ENOENT: the file alone is missing, its directory is there. */
  readonly fileAlone?: true;
}

export type FileResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: FileError };

const ERRNO_NAMES = new Map<number, string>();
// The first name of a number wins: EAGAIN before EWOULDBLOCK, EDEADLK before EDEADLOCK.
for (const [name, number] of Object.entries(constants.errno))
  if (!ERRNO_NAMES.has(number)) ERRNO_NAMES.set(number, name);
/** Linux's EREMOTE, which Node does not name: a path into a FUSE file system a user mounted. */
export const EREMOTE = 66;
ERRNO_NAMES.set(EREMOTE, 'EREMOTE');

/** The name of an errno number (EWOULDBLOCK and EAGAIN are one number on Linux: EAGAIN). */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** The longest unix socket path a client can connect to (sun_path less its NUL). */
export const MAX_SOCKET_PATH = 107;

/**
 * Turns a failed native result into a FileError whose message says what to fix; `who` is
 * the user the operation ran as (named by uid `whoUid` when known).
 */
export function describeFailure(
  op: OpName,
  path: string,
  raw: RawResult,
  who: string,
  whoUid?: number,
): FileError {
  const code = errnoName(raw.errno);
  const failing = raw.errorPath ?? path;
  const say = (message: string): FileError => ({
    code,
    path: failing,
    message: `${failing}: ${message}`,
  });
  switch (code) {
    case 'ELOOP':
      return raw.step === 'final'
        ? say('is a symbolic link; refused')
        : say(
            'refused: the path goes through a /proc magic link (/proc/PID/root, /proc/PID/fd/N ...) or a loop of symbolic links',
          );
    case 'EREMOTE':
      return say(userMountRefusal(raw, who, whoUid));
    case 'ENOENT':
      return raw.step === 'final'
        ? { ...say('does not exist'), fileAlone: true }
        : say(raw.step === 'parent' ? 'its directory does not exist' : 'does not exist');
    case 'EACCES':
    case 'EPERM':
      return say(`permission denied to ${who}`);
    case 'ENOTDIR':
      return say('a part of the path is not a directory');
    case 'ENAMETOOLONG':
      return op === 'bindUnix' || op === 'connectUnix'
        ? say(
            `is too long for a unix socket (${Buffer.byteLength(path)} bytes, at most ${MAX_SOCKET_PATH})`,
          )
        : say('is too long');
    case 'EAGAIN':
      if (op === 'lockDir') {
        const holder = raw.holderPid;
        const error = say(
          holder ? `is locked by process ${holder}` : 'is locked by another process',
        );
        return holder ? { ...error, holderPid: holder } : error;
      }
      return say(
        op === 'connectUnix'
          ? 'the listener is not accepting (backlog full)'
          : 'try again later (EAGAIN)',
      );
    case 'ECONNREFUSED':
      return say('nothing listens there');
    case 'EADDRINUSE':
      return say('exists already');
    case 'ENXIO':
      return say('is a unix socket, or a FIFO or a device with nothing at the other end; refused');
    case 'ENOSPC':
      return say('no space left on the device');
    case 'EINVAL':
      return say('not an absolute path to a file (refused)');
    default:
      return say(`${op} failed (${code})`);
  }
}

/** Why a path into a FUSE file system a user mounted is refused (native/user_mounts.c). */
function userMountRefusal(raw: RawResult, who: string, whoUid: number | undefined): string {
  const uid = raw.mountUid;
  const mounter =
    uid === undefined ? 'a user' : uid === whoUid ? `${who} (uid ${uid})` : mounterOf(uid);
  const where = raw.mountPoint === undefined ? '' : ` at ${raw.mountPoint}`;
  return `is on a FUSE file system mounted by ${mounter}${where}; the manager does not go there (its server could hold the manager beyond SIGKILL): unmount it`;
}

let accountNameOf: (uid: number) => string | undefined = () => undefined;

/**
 * Where the names of accounts are looked up, as they are now, for the refusals of a
 * user's FUSE mount: the mounter is often not the owner of the path (another user's
 * mount bind-mounted into the owner's tree), and the kernel knows only the uid.
 */
export function nameMountersWith(lookup: (uid: number) => string | undefined): void {
  accountNameOf = lookup;
}

/** The mounter of a user's FUSE mount as the refusals say it: `NAME (uid N)`, or `uid N`. */
export function mounterOf(uid: number): string {
  const name = accountNameOf(uid);
  return name === undefined ? `uid ${uid}` : `${name} (uid ${uid})`;
}

/**
 * A refusal said by the native pump (`mounted by uid N at`), the mounter named as
 * `mounterOf` names it.
 */
export function namingMounter(message: string): string {
  return message.replace(
    /mounted by uid (\d+) at /,
    (_, uid: string) => `mounted by ${mounterOf(Number(uid))} at `,
  );
}
