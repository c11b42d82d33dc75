import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, type ManagerSetting } from './host.ts';
import { waitFor } from './wait.ts';

/**
 * A passwd source that does not answer while a test says so (test/fixtures/nss-dmhang.c),
 * for one manager alone: the machine's nsswitch.conf and name services stay as they are
 * for everyone else.
 */
export interface NssHang {
  /** How to start the manager so that its `getent passwd` asks the module too. */
  readonly manager: ManagerSetting;
  /** From now on, `getent passwd` waits (until `answer`). */
  hang(): void;
  /** Lets every `getent passwd` waiting go on, and the next ones answer at once. */
  answer(): void;
  /** Waits until a `getent passwd` waits in the module; returns its pid. */
  waiting(): Promise<number>;
}

/**
 * Builds the module into `dir`, with a copy of /etc/nsswitch.conf that says
 * `passwd: files dmhang`. The manager runs in a mount namespace of its own
 * (`unshare -m`), where the copy is bind-mounted over /etc/nsswitch.conf, and with
 * LD_LIBRARY_PATH naming `dir`, where glibc finds libnss_dmhang.so.2 (getent is not
 * setuid: glibc honours the variable). Its processes alone see the copy; it goes away with
 * the last of them.
 */
export function buildNssHang(dir: string): NssHang {
  execFileSync('cc', [
    '-O2',
    '-shared',
    '-fPIC',
    '-o',
    join(dir, 'libnss_dmhang.so.2'),
    join(FIXTURES, 'nss-dmhang.c'),
  ]);
  const nsswitch = join(dir, 'nsswitch.conf');
  const conf = readFileSync('/etc/nsswitch.conf', 'utf8');
  writeFileSync(nsswitch, conf.replace(/^passwd:.*$/m, 'passwd: files dmhang'));
  const flag = join(dir, 'dmhang-flag');
  const waitingFile = `${flag}.waiting`;
  return {
    manager: {
      wrapper: [
        'unshare',
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount --bind "$0" /etc/nsswitch.conf && exec "$@"',
        nsswitch,
      ],
      env: { LD_LIBRARY_PATH: dir, DMHANG_FLAG: flag },
    },
    hang: () => {
      rmSync(waitingFile, { force: true });
      writeFileSync(flag, '');
    },
    answer: () => rmSync(flag, { force: true }),
    waiting: () =>
      waitFor('a getent passwd to wait in libnss_dmhang', () => {
        try {
          return Number(readFileSync(waitingFile, 'utf8'));
        } catch {
          return undefined;
        }
      }),
  };
}
