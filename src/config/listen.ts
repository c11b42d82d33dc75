/**
 * The `listen=` lines of a daemon's config: sockets the manager binds once and holds
 * for the daemon while it is wanted up, across its respawns (issue 12). Pure: text to
 * addresses; who may bind what is decided in policy/ports.ts.
 */
import { isIPv6 } from 'node:net';

/** One socket a daemon asks for. */
export type ListenAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/** Everything a daemon asks for about its sockets. */
export interface ListenSpec {
  readonly addresses: readonly ListenAddress[];
  /** The mode of the unix socket files it makes (0660 unless `listen_mode=` says). */
  readonly mode: number;
  /** The group given to its unix socket files (the owner's own unless `listen_group=`). */
  readonly group: string | undefined;
  /** `stdin`: the one socket is standard input (FastCGI); `systemd`: fds 3 onwards. */
  readonly passing: 'systemd' | 'stdin';
}

/** Where the listen lines are, to point at one that is refused (kept out of the spec, so that
 * moving a line is not a change of the daemon). */
export interface ListenLines {
  readonly addresses: readonly number[];
  readonly group: number | undefined;
}

export const NO_LISTEN: ListenSpec = {
  addresses: [],
  mode: 0o660,
  group: undefined,
  passing: 'systemd',
};

/** At most this many sockets per daemon (one message of the keeper carries them all). */
export const MAX_LISTEN = 16;

// sun_path holds 108 bytes with the NUL.
const UNIX_PATH_MAX = 107;

/** Parses `unix:/PATH`, `tcp:127.0.0.1:9000` or `tcp:[::1]:9000`; an error message otherwise. */
export function parseListenAddress(text: string): ListenAddress | { error: string } {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    if (!path.startsWith('/'))
      return { error: `'listen' needs an absolute path after 'unix:', not '${clip(text)}'` };
    if (Buffer.byteLength(path) > UNIX_PATH_MAX)
      return { error: `'listen' path is longer than ${UNIX_PATH_MAX} bytes: '${clip(text)}'` };
    if (/[\0\n]/.test(path) || path.split('/').some((part) => part === '..' || part === '.'))
      return { error: `'listen' path must be plain, without '.' or '..': '${clip(text)}'` };
    return { kind: 'unix', path };
  }
  const tcp = /^tcp:(?:\[([0-9A-Fa-f:]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  if (tcp) {
    const port = Number(tcp[3]);
    if (port < 1 || port > 65_535)
      return { error: `'listen' port must be from 1 to 65535, not ${tcp[3]}` };
    if (tcp[2]?.split('.').some((part) => Number(part) > 255))
      return { error: `'listen' has no valid IPv4 address: '${clip(text)}'` };
    // Written as the kernel reads it (`[0::1]` is `::1`, `127.000.0.1` is `127.0.0.1`):
    // the loopback and duplicates are told by the address, not by how it was written (an
    // outside review, 36b: `[0::1]` refused as "not the loopback").
    const host =
      tcp[2] === undefined ? canonicalIpv6(tcp[1] ?? '') : tcp[2].split('.').map(Number).join('.');
    if (host === undefined) return { error: `'listen' has no valid IPv6 address: '${clip(text)}'` };
    return { kind: 'tcp', host, port };
  }
  return {
    error: `'listen' must be unix:/PATH, tcp:127.0.0.1:PORT or tcp:[::1]:PORT, not '${clip(text)}'`,
  };
}

/** An IPv6 address as RFC 5952 writes it (`::1`), or undefined if it is none. */
function canonicalIpv6(text: string): string | undefined {
  if (!isIPv6(text)) return undefined;
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/** How an address reads in messages and in the keeper's store: `unix:/x`, `tcp:[::1]:9000`. */
export function formatAddress(address: ListenAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return address.host.includes(':')
    ? `tcp:[${address.host}]:${address.port}`
    : `tcp:${address.host}:${address.port}`;
}

/** A loopback address: `127.0.0.1` or `::1`, which every user may listen on above 1023. */
export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1';
}

/** Parses `listen_mode=`: an octal mode such as 0660, at most 0777. */
export function parseListenMode(text: string): number | undefined {
  if (!/^0?[0-7]{3}$/.test(text)) return undefined;
  return Number.parseInt(text, 8);
}

function clip(text: string): string {
  return text.length > 120 ? `${text.slice(0, 120)}...` : text;
}
