import { parseSize } from './sizes.ts';

/** The resource limits the manager can apply to a daemon's processes (setrlimit(2)). */
export const RESOURCES = ['nofile', 'nproc', 'core', 'as'] as const;
export type Resource = (typeof RESOURCES)[number];
/**
 * What the sum of one user's daemons may use (a cgroup of the user's, v1 controllers), and
 * the weight of the user's CPU share against other users' (`cpu.shares`).
 */
export const QUOTAS = ['memory', 'cpu', 'tasks', 'cpuWeight'] as const;
export type Quota = (typeof QUOTAS)[number];
export type LimitKey = Resource | Quota | 'maxDaemons';

/** A user's quotas: bytes of memory, percent of one CPU, processes and threads, a CPU weight. */
export type UserQuota = { readonly [Q in Quota]: number | undefined };

/**
 * A value per resource; `undefined` means the manager sets nothing and the daemon keeps
 * what it inherits from the manager. Counts (nofile, nproc) or bytes (core, as), applied
 * as both the soft and the hard limit.
 */
export type ResourceLimits = { readonly [R in Resource]: number | undefined };

/** Everything the admin limits per user: resources, and daemons running at once. */
export interface UserLimits extends ResourceLimits, UserQuota {
  readonly maxDaemons: number | undefined;
}

/** What one `[limits]` line sets: a value, or `null` for `unlimited` (lifting a default). */
export type LimitValues = { readonly [K in LimitKey]?: number | null };

/** A range of TCP ports, both ends included. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** One `user: key=value, ...` or `@group: key=value, ...` line of `[limits]`. */
export interface LimitRule {
  readonly line: number;
  readonly left: { readonly kind: 'user' | 'group'; readonly name: string };
  readonly values: LimitValues;
  /** `ports=`: the TCP ports the user's daemons may listen on (any address, below 1024 too). */
  readonly ports?: readonly PortRange[];
}

export const NO_LIMITS: UserLimits = {
  nofile: undefined,
  nproc: undefined,
  core: undefined,
  as: undefined,
  memory: undefined,
  cpu: undefined,
  tasks: undefined,
  cpuWeight: undefined,
  maxDaemons: undefined,
};

/** The spelling of each limit in `[limits]` lines; `[settings]` adds `limit-`, daemon configs `limit_`. */
export const LIMIT_NAMES: Record<string, LimitKey> = {
  nofile: 'nofile',
  nproc: 'nproc',
  core: 'core',
  as: 'as',
  memory: 'memory',
  cpu: 'cpu',
  tasks: 'tasks',
  'cpu-weight': 'cpuWeight',
  'max-daemons': 'maxDaemons',
};

/** The most `cpu=` may say: every CPU of a large machine, in percent of one. */
const CPU_PERCENT_MAX = 100_000;

/** The bounds of `cpu-weight=`: those of cgroup2's `cpu.weight` and systemd's CPUWeight=. */
export const CPU_WEIGHT_MAX = 10_000;

const COUNT_MAX = 2 ** 31 - 1;

/**
 * Parses one limit's value: `unlimited` gives null, a count for nofile, nproc and
 * max-daemons, a size like 512M for core and as. Returns an error message otherwise.
 */
export function parseLimitValue(key: LimitKey, text: string): number | null | { error: string } {
  if (text === 'unlimited') return null;
  if (key === 'core' || key === 'as') {
    const bytes = parseSize(text);
    return bytes === undefined
      ? { error: `must be a size like 0, 512M or 2G, or 'unlimited', not '${clip(text)}'` }
      : bytes;
  }
  if (key === 'memory') {
    const bytes = parseSize(text);
    // Below a megabyte no daemon starts: the kernel's OOM killer would take it at once.
    return bytes === undefined || bytes < 1024 * 1024
      ? {
          error: `must be a size of at least 1M, like 512M or 2G, or 'unlimited', not '${clip(text)}'`,
        }
      : bytes;
  }
  if (key === 'cpu') {
    const percent = /^(\d{1,6})%?$/.exec(text)?.[1];
    if (percent === undefined || Number(percent) < 1 || Number(percent) > CPU_PERCENT_MAX)
      return {
        error: `must be a share of one CPU in percent, 1 to ${CPU_PERCENT_MAX} (200 is two CPUs), or 'unlimited', not '${clip(text)}'`,
      };
    return Number(percent);
  }
  if (key === 'cpuWeight') {
    if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > CPU_WEIGHT_MAX)
      return {
        error: `must be a weight from 1 to ${CPU_WEIGHT_MAX} (100 is every user's share), or 'unlimited', not '${clip(text)}'`,
      };
    return Number(text);
  }
  const least = key === 'maxDaemons' ? 0 : 1;
  if (!/^\d{1,10}$/.test(text) || Number(text) < least || Number(text) > COUNT_MAX)
    return { error: `must be a whole number from ${least} or 'unlimited', not '${clip(text)}'` };
  return Number(text);
}

/** Parses `ports=`: ports and ranges separated by spaces, such as `80 443 9000-9099`. */
export function parsePortRanges(text: string): PortRange[] | { error: string } {
  const ranges: PortRange[] = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(word);
    const from = Number(match?.[1]);
    const to = match?.[2] === undefined ? from : Number(match[2]);
    if (!match || from < 1 || to > 65_535 || from > to)
      return {
        error: `ports must be ports from 1 to 65535 or ranges like 9000-9099, separated by spaces, not '${clip(word)}'`,
      };
    ranges.push({ from, to });
  }
  if (ranges.length === 0) return { error: 'ports needs at least one port or range' };
  return ranges;
}

/** Parses the `key=value, key=value` right-hand side of a `[limits]` line. */
export function parseLimitValues(text: string): {
  values: LimitValues;
  ports: PortRange[] | undefined;
  errors: string[];
} {
  const values: { [K in LimitKey]?: number | null } = {};
  const errors: string[] = [];
  let ports: PortRange[] | undefined;
  for (const item of text.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const equals = trimmed.indexOf('=');
    const name = (equals === -1 ? trimmed : trimmed.slice(0, equals)).trim();
    if (name === 'ports' && equals !== -1) {
      const parsed = parsePortRanges(trimmed.slice(equals + 1));
      if ('error' in parsed) errors.push(parsed.error);
      else ports = [...(ports ?? []), ...parsed];
      continue;
    }
    const key = LIMIT_NAMES[name];
    if (equals === -1 || key === undefined) {
      errors.push(
        `expected 'limit=value' with a limit among ${[...Object.keys(LIMIT_NAMES), 'ports'].join(', ')}, got '${clip(trimmed)}'`,
      );
      continue;
    }
    const value = parseLimitValue(key, trimmed.slice(equals + 1).trim());
    if (value !== null && typeof value === 'object') errors.push(`${name} ${value.error}`);
    else values[key] = value;
  }
  return { values, ports, errors };
}

/** Keeps a quoted value short in a message. */
function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
