import { SETTINGS } from '../reference/master.ts';
import { durationProblem, parseDuration } from './durations.ts';
import { type LimitKey, NO_LIMITS, parseLimitValue, type UserLimits } from './limits.ts';
import { parseSize } from './sizes.ts';

/** The `[settings]` of the master config, with every default filled in. */
export interface Settings {
  readonly daemonPathDaemon: string;
  readonly daemonPathLog: string;
  readonly daemonPathDaemonRoot: string;
  readonly daemonPathLogRoot: string;
  /** Where the per-user control sockets live (a root-owned directory). */
  readonly socketDir: string;
  /** Where the manager persists what it knows. */
  readonly stateDir: string;
  /** Default time between SIGTERM and SIGKILL when stopping a daemon. */
  readonly stopTimeoutMs: number;
  /** The longest stop a daemon's stop_timeout may ask for: a shutdown is bounded by it. */
  readonly maxStopTimeoutMs: number;
  /**
   * How much the cooldown grows at each quick exit (the original's linear rule), when the
   * admin sets it; unset, it doubles from 1 s. Either way up to `cooldownMaxMs`.
   */
  readonly cooldownStepMs: number | undefined;
  readonly cooldownMaxMs: number;
  /** The bounds of a daemon's `restart_delay=`; the lower one is also the default delay. */
  readonly restartDelayMinMs: number;
  readonly restartDelayMaxMs: number;
  /** A daemon that ran this long is respawned at once and its cooldown forgotten. */
  readonly stableUptimeMs: number;
  /** Logs rotate when they would pass this size (0: never), keeping this many old files. */
  readonly logMaxBytes: number;
  readonly logKeep: number;
  /** Track each daemon in a cgroup where possible (containment; slower respawns on cgroup v1). */
  readonly cgroups: boolean;
  /** Give each user's daemons one CPU share (a v1 `cpu` cgroup per user), whatever their number of processes. */
  readonly cpuFairShare: boolean;
  /** Limits for every user's daemons, unless a `[limits]` line says otherwise. */
  readonly limits: UserLimits;
  /** Where to serve Prometheus metrics; off when undefined. */
  readonly metricsListen: ListenAddress | undefined;
}

/** A TCP address to listen on. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_SETTINGS: Settings = {
  daemonPathDaemon: '~/.daemon-manager/daemons',
  daemonPathLog: '~/.daemon-manager/logs',
  daemonPathDaemonRoot: '/etc/daemon-manager/daemons',
  daemonPathLogRoot: '/var/log/daemon-manager',
  socketDir: '/run/daemon-manager',
  stateDir: '/var/lib/daemon-manager',
  stopTimeoutMs: 10_000,
  maxStopTimeoutMs: 300_000,
  cooldownStepMs: undefined,
  cooldownMaxMs: 60_000,
  restartDelayMinMs: 0,
  restartDelayMaxMs: 300_000,
  stableUptimeMs: 60_000,
  logMaxBytes: 10 * 1024 * 1024,
  logKeep: 5,
  cgroups: true,
  cpuFairShare: true,
  limits: NO_LIMITS,
  metricsListen: undefined,
};

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type PathKey = 'daemonPathDaemon' | 'daemonPathLog' | 'daemonPathDaemonRoot' | 'daemonPathLogRoot';
type DurationKey =
  | 'stopTimeoutMs'
  | 'maxStopTimeoutMs'
  | 'cooldownStepMs'
  | 'cooldownMaxMs'
  | 'restartDelayMinMs'
  | 'restartDelayMaxMs'
  | 'stableUptimeMs';

const PATH_KEYS: Record<string, PathKey | 'socketDir' | 'stateDir'> = {
  'daemon-path-daemon': 'daemonPathDaemon',
  'daemon-path-log': 'daemonPathLog',
  'daemon-path-daemon-root': 'daemonPathDaemonRoot',
  'daemon-path-log-root': 'daemonPathLogRoot',
  'socket-dir': 'socketDir',
  'state-dir': 'stateDir',
};

const DURATION_KEYS: Record<string, DurationKey> = {
  'stop-timeout': 'stopTimeoutMs',
  'max-stop-timeout': 'maxStopTimeoutMs',
  'cooldown-step': 'cooldownStepMs',
  'cooldown-max': 'cooldownMaxMs',
  'restart-delay-min': 'restartDelayMinMs',
  'restart-delay-max': 'restartDelayMaxMs',
  'stable-uptime': 'stableUptimeMs',
};

// The defaults of `[limits]`: they apply to every user that no `[limits]` line names.
const LIMIT_KEYS: Record<string, LimitKey> = {
  'max-daemons': 'maxDaemons',
  'limit-nofile': 'nofile',
  'limit-nproc': 'nproc',
  'limit-core': 'core',
  'limit-as': 'as',
};

/** Every key `[settings]` accepts: those of the reference (src/reference/master.ts). */
export const SETTINGS_KEYS = SETTINGS.map((entry) => entry.name);

/** Applies one `key = value` of `[settings]`; returns an error message or undefined. */
export function applySetting(
  settings: Mutable<Settings>,
  key: string,
  value: string,
): string | undefined {
  const pathKey = PATH_KEYS[key];
  if (pathKey !== undefined) {
    const rootOnly = pathKey === 'socketDir' || pathKey === 'stateDir';
    if (value === '') return `setting '${key}' needs a path`;
    if (rootOnly && !value.startsWith('/'))
      return `setting '${key}' must be an absolute path, not '${value}'`;
    if (!rootOnly && !value.startsWith('/') && !value.startsWith('~/'))
      return `setting '${key}' must be absolute or start with '~/', not '${value}'`;
    settings[pathKey] = value.replace(/\/+$/, '') || '/';
    return undefined;
  }
  const durationKey = DURATION_KEYS[key];
  if (durationKey !== undefined) {
    const ms = parseDuration(value);
    if (ms === undefined) return durationProblem(`setting '${key}'`, value, '10s or 500ms');
    settings[durationKey] = ms;
    return undefined;
  }
  if (key === 'log-max-size') {
    const bytes = parseSize(value);
    if (bytes === undefined)
      return `setting 'log-max-size' must be a size like 10M or 0, not '${value}'`;
    settings.logMaxBytes = bytes;
    return undefined;
  }
  if (key === 'cgroups' || key === 'cpu-fair-share') {
    if (!/^(yes|no)$/.test(value)) return `setting '${key}' must be yes or no, not '${value}'`;
    settings[key === 'cgroups' ? 'cgroups' : 'cpuFairShare'] = value === 'yes';
    return undefined;
  }
  if (key === 'log-keep') {
    if (!/^\d{1,3}$/.test(value) || Number(value) < 1)
      return `setting 'log-keep' must be a number from 1 to 999, not '${value}'`;
    settings.logKeep = Number(value);
    return undefined;
  }
  if (key === 'metrics-listen') {
    const address = parseListenAddress(value);
    if (address === undefined)
      return `setting 'metrics-listen' must be HOST:PORT, such as 127.0.0.1:9815 or [::1]:9815, not '${value}'`;
    settings.metricsListen = address;
    return undefined;
  }
  const limitKey = LIMIT_KEYS[key];
  if (limitKey !== undefined) {
    const parsed = parseLimitValue(limitKey, value);
    if (parsed !== null && typeof parsed === 'object') return `setting '${key}' ${parsed.error}`;
    settings.limits = { ...settings.limits, [limitKey]: parsed ?? undefined };
    return undefined;
  }
  return `unknown setting '${key}' (known: ${SETTINGS_KEYS.join(', ')})`;
}

/** Reads `127.0.0.1:9815`, `[::1]:9815` or `localhost:9815`. */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  return { host, port };
}

/** Expands `~/` to the user's home and `%username%` to the login name in a path setting. */
export function expandUserPath(template: string, user: { name: string; home: string }): string {
  const withName = template.replaceAll('%username%', user.name);
  return withName.startsWith('~/')
    ? `${user.home.replace(/\/+$/, '')}/${withName.slice(2)}`
    : withName;
}
