import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Spawned, spawnCollecting } from './cli.ts';
import { FIXTURES, type TestUser } from './host.ts';
import { waitFor } from './wait.ts';

/**
 * Makes sure libfuse3 can be built against (Debian's fuse3 and libfuse3-dev, installed
 * when missing, as bench/ does for its peers); the reason FUSE cannot be used otherwise.
 */
export function fuseMissing(): string | undefined {
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse on this machine';
  if (hasFuse3()) return undefined;
  try {
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    execFileSync(
      'apt-get',
      ['install', '-y', '--no-install-recommends', 'fuse3', 'libfuse3-dev', 'pkg-config'],
      {
        stdio: 'ignore',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      },
    );
  } catch (error) {
    return `cannot install fuse3 and libfuse3-dev: ${(error as Error).message}`;
  }
  return hasFuse3() ? undefined : 'libfuse3-dev is still missing after installing it';
}

function hasFuse3(): boolean {
  try {
    execFileSync('pkg-config', ['--exists', 'fuse3'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Compiles test/fixtures/NAME.c (hang-fs or hang-write-fs) into `dir`; returns the program. */
export function buildHangFs(dir: string, name: 'hang-fs' | 'hang-write-fs' = 'hang-fs'): string {
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' });
  const binary = join(dir, name);
  execFileSync('cc', [
    '-O2',
    '-o',
    binary,
    join(FIXTURES, `${name}.c`),
    ...flags.trim().split(/\s+/),
  ]);
  return binary;
}

/** A mounted hang-fs, served by a process of its user. */
export interface HangFs {
  readonly mountpoint: string;
  readonly server: Spawned;
  /** Kills the server (which fails its pending requests with ENOTCONN) and unmounts. */
  stop(): Promise<void>;
}

/**
 * Who mounts a hang-fs, and for whom (see test/fixtures/hang-fs.c): `allow_other` and
 * `owner_only`, the user (user_id=UID, as fusermount3 makes it, with or without
 * allow_other); `root`, an administrator (user_id=0, allow_other); `fusermount`, the
 * user themself through the setuid fusermount3 (no allow_other: /etc/fuse.conf does not
 * let users ask for it).
 */
export type HangFsMode = 'allow_other' | 'owner_only' | 'root' | 'fusermount';

/**
 * How a user's own mount (no allow_other) is made here: through fusermount3 when users
 * may open /dev/fuse (fusermount3 opens it as the user; distributions make it 0666), else
 * by root as fusermount3 would have made it (user_id=UID, no allow_other: the same mount
 * to the kernel), where /dev/fuse is root's alone (some containers).
 */
export function usersOwnMount(): HangFsMode {
  return (statSync('/dev/fuse').mode & 0o006) === 0o006 ? 'fusermount' : 'owner_only';
}

/**
 * Mounts a file system that never answers a lookup (with `all`, never answers anything)
 * on `mountpoint`, served by a process of `user` (see test/fixtures/hang-fs.c).
 */
export async function mountHangFs(
  binary: string,
  mountpoint: string,
  user: TestUser,
  mode: HangFsMode,
  hang: 'lookup' | 'all' = 'lookup',
): Promise<HangFs> {
  return serveMount(
    [binary, mountpoint, String(user.uid), String(user.gid), mode, hang],
    mountpoint,
  );
}

/**
 * Mounts test/fixtures/hang-write-fs.c (built by buildHangFs) on `mountpoint`, as root
 * (user_id=0, allow_other), its files `user`'s: its writes (with `reads`, its reads too:
 * the exec of a program there) wait from a SIGUSR1 of its server to a SIGUSR2.
 */
export function mountHangWriteFs(
  binary: string,
  mountpoint: string,
  user: TestUser,
  hang: 'writes' | 'reads' = 'writes',
): Promise<HangFs> {
  const reads = hang === 'reads' ? ['reads'] : [];
  return serveMount([binary, mountpoint, String(user.uid), String(user.gid), ...reads], mountpoint);
}

async function serveMount(command: readonly string[], mountpoint: string): Promise<HangFs> {
  const server = spawnCollecting(command);
  const stop = async (): Promise<void> => {
    await server.stop();
    if (isMounted(mountpoint)) execFileSync('umount', ['-l', mountpoint]);
  };
  try {
    await waitFor(
      'hang-fs to mount',
      () => (server.output().includes('mounted') ? true : undefined),
      {
        describe: () => server.output(),
      },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { mountpoint, server, stop };
}

function isMounted(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === path);
}

/** How many times a mounted hang-fs said `text` (`hang on`, `read held`, ...). */
export function saidBy(mount: HangFs | undefined, text: string): number {
  return (mount?.server.output().split(text).length ?? 1) - 1;
}

/**
 * Makes a hang-write-fs hold every write (with `reads`, every read too) from now on
 * (`on`), or lets them all go on; resolves once its server says so.
 */
export async function switchHang(mount: HangFs | undefined, on: boolean): Promise<void> {
  const pid = mount?.server.child.pid;
  if (mount === undefined || pid === undefined) throw new Error('no hang-write-fs is mounted');
  const word = on ? 'hang on' : 'hang off';
  const before = saidBy(mount, word);
  process.kill(pid, on ? 'SIGUSR1' : 'SIGUSR2');
  await waitFor(`hang-write-fs to say ${word}`, () =>
    saidBy(mount, word) > before ? true : undefined,
  );
  if (on) hanging.add(mount);
  else hanging.delete(mount);
}

/** The mounts switchHang left holding. */
const hanging = new WeakSet<HangFs>();

/** Lets a hang-write-fs's held calls go on if switchHang left it holding (a test's clean-up). */
export async function endHang(mount: HangFs | undefined): Promise<void> {
  if (mount !== undefined && hanging.has(mount)) await switchHang(mount, false);
}
