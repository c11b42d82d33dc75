import { isIPv4 } from 'node:net';
/** `ready=`: how the manager knows a started daemon is ready to serve. */
export type ReadyCheck =
  /** Something accepts a TCP connection on HOST:PORT. */
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  /** Something accepts a connection on the unix socket at PATH. */
  | { readonly kind: 'unix'; readonly path: string }
  /** COMMAND, run as the daemon runs (user, dir, environment), exits with status 0. */
  | { readonly kind: 'exec'; readonly command: string };

/** How long a daemon may take to be ready when `ready_timeout=` does not say. */
export const DEFAULT_READY_TIMEOUT_MS = 60_000;

/** Reads `tcp:127.0.0.1:8080`, `tcp:[::1]:8080`, `unix:/run/x.sock` or `exec:COMMAND`. */
export function parseReadyCheck(value: string): ReadyCheck | { readonly error: string } {
  const colon = value.indexOf(':');
  const kind = value.slice(0, colon);
  const rest = value.slice(colon + 1).trim();
  if (colon !== -1 && kind === 'tcp') {
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(rest);
    const port = Number(match?.[3]);
    const host = match?.[1] ?? match?.[2];
    if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535)
      return { error: `'ready=tcp:' needs HOST:PORT, such as tcp:127.0.0.1:8080, not '${rest}'` };
    // The manager (root) connects: only where anyone on this host could (a review's
    // tcp:10.255.255.1 went past a firewall's rules for the user's uid).
    if (!isLoopback(host))
      return {
        error: `'ready=tcp:' is tried by the manager, so only on the loopback (127.0.0.1, [::1], localhost), not '${host}'; use exec: to check elsewhere, as the daemon`,
      };
    return { kind, host, port };
  }
  if (colon !== -1 && kind === 'unix') {
    if (!rest.startsWith('/') || rest.length > 107)
      return {
        error: `'ready=unix:' needs an absolute socket path (at most 107 bytes), not '${rest}'`,
      };
    return { kind, path: rest };
  }
  if (colon !== -1 && kind === 'exec') {
    if (rest === '') return { error: "'ready=exec:' needs a command" };
    return { kind, command: rest };
  }
  return {
    error: `'ready' must be tcp:HOST:PORT, unix:PATH or exec:COMMAND, not '${value}'`,
  };
}

/** The check as the config says it, for messages: `tcp:127.0.0.1:8080`. */
export function describeReadyCheck(check: ReadyCheck): string {
  switch (check.kind) {
    case 'tcp':
      return `tcp:${check.host.includes(':') ? `[${check.host}]` : check.host}:${check.port}`;
    case 'unix':
      return `unix:${check.path}`;
    case 'exec':
      return `exec:${check.command}`;
  }
}

/** 127.0.0.0/8, ::1 or localhost. */
function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
}
