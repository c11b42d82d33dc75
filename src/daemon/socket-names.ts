import {
  formatAddress,
  type ListenAddress,
  type ListenSpec,
  parseListenAddress,
} from '../config/listen.ts';

/** The unix socket file made for a held socket: its device and inode. */
export interface MadeFile {
  readonly dev: number;
  readonly ino: number;
}

/**
 * What must not change for a held socket to be kept: its address, and for a unix socket
 * its file's mode and group (`unix:/run/x.sock 660 33`, `tcp:[::1]:9000`).
 */
export function socketKey(
  address: ListenAddress,
  listen: ListenSpec,
  gid: number | undefined,
): string {
  if (address.kind === 'tcp') return formatAddress(address);
  return `${formatAddress(address)} ${listen.mode.toString(8)} ${gid ?? '-'}`;
}

/**
 * The name of a held socket in the keeper's store, `lsn:ID DEV:INO KEY` (`-` for TCP):
 * all a manager started after a crash or an upgrade needs to take it back, since a
 * daemon id has no space.
 */
export function storeName(id: string, made: MadeFile | undefined, key: string): string {
  return `lsn:${id} ${made ? `${made.dev}:${made.ino}` : '-'} ${key}`;
}

/** Reads back a store name; undefined for one this manager did not write. */
export function parseStoreName(
  name: string,
): { id: string; key: string; address: ListenAddress; made: MadeFile | undefined } | undefined {
  const match = /^lsn:(\S+) (-|\d+:\d+) (.+)$/.exec(name);
  if (!match) return undefined;
  const [, id = '', made = '-', key = ''] = match;
  // A unix key ends with its mode and group: the path is what comes before them.
  const addressText = key.startsWith('unix:') ? key.replace(/ \S+ \S+$/, '') : key;
  const address = parseListenAddress(addressText);
  if ('error' in address) return undefined;
  const [dev, ino] = made === '-' ? [] : made.split(':').map(Number);
  return {
    id,
    key,
    address,
    made: dev === undefined || ino === undefined ? undefined : { dev, ino },
  };
}
