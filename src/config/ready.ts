import { isIPv4 } from 'node:net';
/** `ready=`: how the manager knows a started daemon is ready to serve. */
export type ReadyCheck =
  /** Something accepts a TCP connection on HOST:PORT. */
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  /** Something accepts a connection on the unix socket at PATH. */
  | { readonly kind: 'unix'; readonly path: string }
  /** COMMAND, run as the daemon runs (user, dir, environment), exits with status 0. */
  | { readonly kind: 'exec'; readonly command: string }
  /** A GET of the URL (on the loopback) answers 2xx. */
  | { readonly kind: 'http'; readonly url: string }
  /** The daemon says `READY=1` on $NOTIFY_SOCKET (sd_notify(3)). */
  | { readonly kind: 'notify' };

/** `health=`: the same checks but `notify`, tried again and again while the daemon runs. */
export type HealthCheck = Exclude<ReadyCheck, { readonly kind: 'notify' }>;

/** How long a daemon may take to be ready when `ready_timeout=` does not say. */
export const DEFAULT_READY_TIMEOUT_MS = 60_000;

/** Reads `notify`, `tcp:127.0.0.1:8080`, `tcp:[::1]:8080`, `unix:/run/x.sock`, `http://127.0.0.1:8080/up` or `exec:COMMAND`. */
export function parseReadyCheck(value: string): ReadyCheck | { readonly error: string } {
  if (value === 'notify') return { kind: 'notify' };
  const check = parseCheck(value, 'ready');
  if ('error' in check && /^(tcp|unix|exec|http|https):/.test(value)) return check;
  if ('error' in check)
    return {
      error: `'ready' must be notify, tcp:HOST:PORT, unix:PATH, http://127.0.0.1:PORT/PATH or exec:COMMAND, not '${value}'`,
    };
  return check;
}

/** Reads `health=`: a ready= check but `notify` (sd_notify's pings are `watchdog=`). */
export function parseHealthCheck(value: string): HealthCheck | { readonly error: string } {
  if (value === 'notify')
    return {
      error:
        "'health=notify' is not a check the manager can make; use watchdog= with WATCHDOG=1 pings",
    };
  return parseCheck(value, 'health');
}

function parseCheck(value: string, key: string): HealthCheck | { readonly error: string } {
  if (value.startsWith('http:') || value.startsWith('https:')) return parseHttp(value, key);
  const colon = value.indexOf(':');
  const kind = value.slice(0, colon);
  const rest = value.slice(colon + 1).trim();
  if (colon !== -1 && kind === 'tcp') {
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(rest);
    const port = Number(match?.[3]);
    const host = match?.[1] ?? match?.[2];
    if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535)
      return { error: `'${key}=tcp:' needs HOST:PORT, such as tcp:127.0.0.1:8080, not '${rest}'` };
    // The manager (root) connects: only where anyone on this host could (a review's
    // tcp:10.255.255.1 went past a firewall's rules for the user's uid).
    if (!isLoopback(host))
      return {
        error: `'${key}=tcp:' is tried by the manager, so only on the loopback (127.0.0.1, [::1], localhost), not '${host}'; use exec: to check elsewhere, as the daemon`,
      };
    return { kind, host, port };
  }
  if (colon !== -1 && kind === 'unix') {
    if (!rest.startsWith('/') || rest.length > 107)
      return {
        error: `'${key}=unix:' needs an absolute socket path (at most 107 bytes), not '${rest}'`,
      };
    return { kind, path: rest };
  }
  if (colon !== -1 && kind === 'exec') {
    if (rest === '') return { error: `'${key}=exec:' needs a command` };
    return { kind, command: rest };
  }
  return {
    error: `'${key}' must be tcp:HOST:PORT, unix:PATH, http://127.0.0.1:PORT/PATH or exec:COMMAND, not '${value}'`,
  };
}

/**
 * `http://127.0.0.1:8080/health`: plain HTTP on the loopback only, for the reason of
 * tcp: (the manager connects as root); no user:password (it would show in status).
 */
function parseHttp(value: string, key: string): HealthCheck | { readonly error: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { error: `'${key}=' needs a URL such as http://127.0.0.1:8080/health, not '${value}'` };
  }
  if (url.protocol !== 'http:')
    return {
      error: `'${key}=' checks plain http:// on the loopback only (no TLS there), not '${value}'`,
    };
  if (url.username !== '' || url.password !== '')
    return { error: `'${key}=' takes no user or password in its URL: '${value}'` };
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!isLoopback(host))
    return {
      error: `'${key}=http://' is tried by the manager, so only on the loopback (127.0.0.1, [::1], localhost), not '${url.hostname}'; use exec: to check elsewhere, as the daemon`,
    };
  return { kind: 'http', url: url.href };
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
    case 'http':
      return check.url;
    case 'notify':
      return 'notify';
  }
}

/** 127.0.0.0/8, ::1 or localhost. */
function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
}
