import { parseSignal } from '../process/signals.ts';
import { DAEMON_KEYS } from '../reference/daemon.ts';
import { durationProblem, parseDuration } from './durations.ts';
import { type HealthSpec, parseHealthKeys } from './health.ts';
import { LIMIT_NAMES, parseLimitValue, type Resource, type ResourceLimits } from './limits.ts';
import { meaningfulLines } from './lines.ts';
import {
  type ListenAddress,
  type ListenLines,
  type ListenSpec,
  MAX_LISTEN,
  NO_LISTEN,
  parseListenAddress,
  parseListenMode,
} from './listen.ts';
import { type Problem, ProblemList } from './problems.ts';
import { parseReadyCheck, type ReadyCheck } from './ready.ts';
import { parseSize } from './sizes.ts';

/** What one `NAME.conf` asks for: immutable, compared whole to detect changes. */
export interface DaemonSpec {
  readonly name: string;
  /** One line of shell, run by `/bin/sh -c`. */
  readonly start: string;
  readonly dir: string;
  /** The user to run as; undefined means the owner of the file. */
  readonly runAs: string | undefined;
  readonly output: 'log' | 'discard';
  readonly autostart: boolean;
  readonly env: readonly (readonly [string, string])[];
  /** Overrides the manager's stop timeout for this daemon. */
  readonly stopTimeoutMs: number | undefined;
  /** Log rotation asked for by the daemon; the admin's settings are the upper bound. */
  readonly logMaxBytes: number | undefined;
  readonly logKeep: number | undefined;
  readonly logTimestamps: boolean;
  /** Resource limits the daemon asks for; they can only lower the admin's. */
  readonly limits: ResourceLimits;
  /** The file-mode creation mask the daemon starts with (022 unless `umask=` says). */
  readonly umask: number;
  /** The sockets the manager holds for it (`listen=` lines), and how they are passed. */
  readonly listen: ListenSpec;
  /** When a process that ended by itself is respawned. */
  readonly restart: RestartRule;
  /** What counts as a clean exit besides status 0. */
  readonly successExit: SuccessExit;
  /** `restart_delay=`: the wait before every respawn; undefined: the admin's minimum. */
  readonly restartDelayMs: number | undefined;
  /** `ready=`: until it passes, a started daemon is `starting`; undefined: ready at once. */
  readonly ready: ReadyCheck | undefined;
  /** `ready_timeout=`: not ready by then is a failed start. */
  readonly readyTimeoutMs: number | undefined;
  /** `health=` and its `health_*=` keys: checked while it runs; failing, it is restarted. */
  readonly health: HealthSpec | undefined;
  /** `watchdog=`: a ready daemon that sends no `WATCHDOG=1` for this long is restarted. */
  readonly watchdogMs: number | undefined;
}

/** `restart=`: always (the original's rule), only after a failure, or never. */
export type RestartRule = 'always' | 'on-failure' | 'no';

/** `success_exit=`: exit statuses and signals that count as clean, besides status 0. */
export interface SuccessExit {
  readonly codes: readonly number[];
  readonly signals: readonly NodeJS.Signals[];
}

/** Reads `success_exit=` (`3 SIGHUP, TERM`); the words it cannot read, if any. */
export function parseSuccessExit(value: string): SuccessExit | { readonly bad: string[] } {
  const codes: number[] = [];
  const signals: NodeJS.Signals[] = [];
  const bad: string[] = [];
  for (const word of value.split(/[\s,]+/).filter((part) => part !== '')) {
    const signal = /^\d+$/.test(word) ? undefined : parseSignal(word);
    if (/^\d{1,3}$/.test(word) && Number(word) <= 255) codes.push(Number(word));
    else if (signal !== undefined && !word.startsWith('-')) signals.push(signal);
    else bad.push(word);
  }
  return bad.length > 0 || (codes.length === 0 && signals.length === 0)
    ? { bad }
    : { codes, signals };
}

/** What a file without `restart=`, `success_exit=`, `restart_delay=` or `ready=` asks for. */
export const SPEC_DEFAULTS = {
  restart: 'always',
  successExit: { codes: [], signals: [] },
  restartDelayMs: undefined,
  ready: undefined,
  readyTimeoutMs: undefined,
  health: undefined,
  watchdogMs: undefined,
} as const satisfies Partial<DaemonSpec>;

/** A shorter watchdog would have the manager wake up for every daemon all the time. */
const MIN_WATCHDOG_MS = 1_000;

/** The umask of a daemon whose config does not set one: that of a login shell. */
export const DEFAULT_UMASK = 0o022;

/** Bounds that keep a hostile file from costing the manager memory or time. */
export const DAEMON_CONFIG_LIMITS = { exports: 1000, environmentBytes: 128 * 1024 } as const;

const DAEMON_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,127}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The keys of the reference (src/reference/daemon.ts); others are warned about. */
const KNOWN_KEYS = DAEMON_KEYS.map((entry) => entry.name);

/** True for a name that can be a daemon's name (and so a file `NAME.conf`). */
export function isValidDaemonName(name: string): boolean {
  return DAEMON_NAME.test(name);
}

/**
 * The original's rule: a value whose first letter is y, t, 1 or o means yes ("off" is
 * the one word where that rule surprises, so it means no here). No is a first letter n,
 * f or 0, or "off". Anything else (`maybe`, `disabled`, an empty value) is undefined:
 * the original read it as no without a word, which hid typos.
 */
export function parseYes(value: string): boolean | undefined {
  if (value.toLowerCase() === 'off') return false;
  if (/^[yYtT1oO]/.test(value)) return true;
  if (/^[nNfF0]/.test(value)) return false;
  return undefined;
}

/** Parses a umask such as `022`, `0027` or `7`: octal, at most 0777. */
export function parseUmask(value: string): number | undefined {
  if (!/^0?[0-7]{1,3}$/.test(value)) return undefined;
  return Number.parseInt(value, 8);
}

function sameAddress(a: ListenAddress, b: ListenAddress): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Parses a daemon config file; reports every problem in it at once. */
export function parseDaemonConfig(
  text: string,
  file: string,
  name: string,
): {
  spec: DaemonSpec | undefined;
  problems: Problem[];
  /** The line of the `user=` that counts, to point at it when that user is refused. */
  runAsLine: number | undefined;
  /** The line of the `restart_delay=` that counts, to point at it when out of bounds. */
  restartDelayLine: number | undefined;
  /** The lines of `listen=` and `listen_group=`, to point at one root refuses. */
  listenLines: ListenLines;
} {
  const problems = new ProblemList(file);
  const env = new Map<string, string>();
  const seen = new Map<string, number>();
  let start: string | undefined;
  let dir = '/';
  let runAs: string | undefined;
  let runAsLine: number | undefined;
  let output: DaemonSpec['output'] = 'discard';
  let autostart = true;
  let stopTimeoutMs: number | undefined;
  let logMaxBytes: number | undefined;
  let logKeep: number | undefined;
  let logTimestamps = false;
  let umask = DEFAULT_UMASK;
  let restart: RestartRule = 'always';
  let successExit: SuccessExit = { codes: [], signals: [] };
  let restartDelayMs: number | undefined;
  let restartDelayLine: number | undefined;
  let ready: ReadyCheck | undefined;
  let readyTimeoutMs: number | undefined;
  let watchdogMs: number | undefined;
  /** The `health*=` lines, judged together once the file is read. */
  const healthLines = new Map<string, { line: number; value: string }>();
  const limits: { [R in Resource]: number | undefined } = {
    nofile: undefined,
    nproc: undefined,
    core: undefined,
    as: undefined,
  };
  let environmentBytes = 0;
  const addresses: ListenAddress[] = [];
  const addressLines: number[] = [];
  let listenMode = NO_LISTEN.mode;
  let listenGroup: string | undefined;
  let passing: ListenSpec['passing'] = NO_LISTEN.passing;
  const listenSettings = new Map<string, number>();

  for (const { line, text: entry, cutWord } of meaningfulLines(text)) {
    // As in the original, and said: a password, a URL's fragment or a colour was cut
    // there without a word (an outside review, 74a, F7).
    if (cutWord)
      problems.warning(
        line,
        `'#' starts a comment, even within a word or quotes: the line ends before it, as '${entry}' (a value cannot hold '#'; a start line that needs one can run a script)`,
      );
    const exported = /^export\s+(.*)$/.exec(entry);
    if (exported) {
      const assignment = exported[1] ?? '';
      const equals = assignment.indexOf('=');
      const key = (equals === -1 ? assignment : assignment.slice(0, equals)).trim();
      const value = equals === -1 ? '' : assignment.slice(equals + 1).trim();
      if (equals === -1 || !ENV_NAME.test(key)) {
        problems.error(
          line,
          `expected 'export NAME=value' with a valid variable name, got '${entry}'`,
        );
        continue;
      }
      // Counted in UTF-8 bytes, as execve(2) will see them (the name is ASCII).
      environmentBytes += key.length + Buffer.byteLength(value, 'utf8') + 2;
      if (env.size >= DAEMON_CONFIG_LIMITS.exports && !env.has(key)) {
        problems.error(line, `too many export lines (at most ${DAEMON_CONFIG_LIMITS.exports})`);
        break;
      }
      if (environmentBytes > DAEMON_CONFIG_LIMITS.environmentBytes) {
        problems.error(
          line,
          `exported environment exceeds ${DAEMON_CONFIG_LIMITS.environmentBytes} bytes`,
        );
        break;
      }
      env.set(key, value);
      continue;
    }
    const equals = entry.indexOf('=');
    if (equals === -1) {
      problems.error(line, `expected 'key=value', got '${entry}'`);
      continue;
    }
    const key = entry.slice(0, equals).trim();
    const value = entry.slice(equals + 1).trim();
    const earlier = seen.get(key);
    if (earlier !== undefined && KNOWN_KEYS.includes(key) && key !== 'listen')
      problems.warning(line, `'${key}' was already set on line ${earlier}; this line wins`);
    seen.set(key, line);
    switch (key) {
      case 'start':
        if (value === '') problems.error(line, "'start' is empty");
        else start = value;
        break;
      case 'dir':
        if (!value.startsWith('/'))
          problems.error(line, `'dir' must be an absolute path, not '${value}'`);
        else dir = value;
        break;
      case 'user':
        // Bounded: the name is quoted in refusals, and no system has longer ones.
        if (value.length > 256 || !/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(value))
          problems.error(line, `'user' must be a user name, not '${value}'`);
        else [runAs, runAsLine] = [value, line];
        break;
      case 'output':
        if (value === 'log' || value === 'discard') output = value;
        else problems.error(line, `'output' must be 'log' or 'discard', not '${value}'`);
        break;
      case 'autostart':
      case 'log_timestamps': {
        const yes = parseYes(value);
        if (yes === undefined) problems.error(line, `'${key}' must be yes or no, not '${value}'`);
        else if (key === 'autostart') autostart = yes;
        else logTimestamps = yes;
        break;
      }
      case 'umask': {
        const mask = parseUmask(value);
        if (mask === undefined)
          problems.error(line, `'umask' must be an octal mask like 022 or 0027, not '${value}'`);
        else umask = mask;
        break;
      }
      case 'stop_timeout':
      case 'stop-timeout': {
        const ms = parseDuration(value);
        if (ms === undefined)
          problems.error(line, durationProblem(`'${key}'`, value, '10s or 500ms'));
        else stopTimeoutMs = ms;
        break;
      }
      case 'restart':
        if (value === 'always' || value === 'on-failure' || value === 'no') restart = value;
        else
          problems.error(line, `'restart' must be 'always', 'on-failure' or 'no', not '${value}'`);
        break;
      case 'success_exit': {
        const parsed = parseSuccessExit(value);
        if ('bad' in parsed)
          problems.error(
            line,
            `'success_exit' takes exit statuses (0-255) and signal names such as 3 SIGHUP, not '${parsed.bad.join(' ') || value}'`,
          );
        else successExit = parsed;
        break;
      }
      case 'restart_delay': {
        const ms = parseDuration(value);
        if (ms === undefined)
          problems.error(line, durationProblem(`'restart_delay'`, value, '5s or 500ms'));
        else [restartDelayMs, restartDelayLine] = [ms, line];
        break;
      }
      case 'ready': {
        const check = parseReadyCheck(value);
        if ('error' in check) problems.error(line, check.error);
        else ready = check;
        break;
      }
      case 'ready_timeout': {
        const ms = parseDuration(value);
        if (ms === undefined || ms === 0)
          problems.error(line, durationProblem(`'ready_timeout'`, value, '30s or 2m'));
        else readyTimeoutMs = ms;
        break;
      }
      case 'health':
      case 'health_interval':
      case 'health_timeout':
      case 'health_retries':
        healthLines.set(key, { line, value });
        break;
      case 'watchdog': {
        const ms = parseDuration(value);
        if (ms === undefined || ms < MIN_WATCHDOG_MS)
          problems.error(line, durationProblem(`'watchdog'`, value, '30s', MIN_WATCHDOG_MS));
        else watchdogMs = ms;
        break;
      }
      case 'log_max_size': {
        const bytes = parseSize(value);
        if (bytes === undefined)
          problems.error(line, `'log_max_size' must be a size like 10M, not '${value}'`);
        else logMaxBytes = bytes;
        break;
      }
      case 'log_keep':
        if (!/^\d{1,3}$/.test(value) || Number(value) < 1)
          problems.error(line, `'log_keep' must be a number from 1 to 999, not '${value}'`);
        else logKeep = Number(value);
        break;
      case 'limit_nofile':
      case 'limit_nproc':
      case 'limit_core':
      case 'limit_as': {
        const resource = LIMIT_NAMES[key.slice('limit_'.length)] as Resource;
        const parsed = parseLimitValue(resource, value);
        if (parsed !== null && typeof parsed === 'object')
          problems.error(line, `'${key}' ${parsed.error}`);
        // 'unlimited' asks for nothing: the admin's limit (if any) stays.
        else limits[resource] = parsed ?? undefined;
        break;
      }
      case 'listen': {
        const address = parseListenAddress(value);
        if ('error' in address) problems.error(line, address.error);
        else if (addresses.length === MAX_LISTEN)
          problems.error(line, `too many 'listen' lines (at most ${MAX_LISTEN})`);
        else if (addresses.some((other) => sameAddress(other, address)))
          problems.error(
            line,
            `'listen=${value}' is already on line ${addressLines[addresses.findIndex((other) => sameAddress(other, address))]}`,
          );
        else {
          addresses.push(address);
          addressLines.push(line);
        }
        break;
      }
      case 'listen_mode': {
        const mode = parseListenMode(value);
        listenSettings.set(key, line);
        if (mode === undefined)
          problems.error(line, `'listen_mode' must be an octal mode like 0660, not '${value}'`);
        else listenMode = mode;
        break;
      }
      case 'listen_group':
        listenSettings.set(key, line);
        if (value.length > 256 || !/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(value))
          problems.error(line, `'listen_group' must be a group name, not '${value}'`);
        else listenGroup = value;
        break;
      case 'listen_fd':
        listenSettings.set(key, line);
        if (value === '0') passing = 'stdin';
        else if (value === '3') passing = 'systemd';
        else
          problems.error(
            line,
            `'listen_fd' must be 0 (the socket on standard input, for FastCGI) or 3 (fds 3 onwards, as systemd), not '${value}'`,
          );
        break;
      default:
        problems.warning(line, `unknown key '${key}' ignored (known: ${KNOWN_KEYS.join(', ')})`);
    }
  }
  if (passing === 'stdin' && addresses.length > 1)
    problems.error(
      listenSettings.get('listen_fd'),
      `'listen_fd=0' passes one socket on standard input, but ${addresses.length} 'listen' lines ask for more`,
    );
  if (addresses.length === 0)
    for (const [key, line] of listenSettings)
      problems.warning(line, `'${key}' has no effect without a 'listen=' line`);
  const health = parseHealthKeys(healthLines, problems);
  if (start === undefined && !problems.items.some((p) => p.message.startsWith("'start'")))
    problems.error(undefined, "no 'start=' line: nothing to run");
  const failed = problems.items.some((problem) => problem.severity === 'error');
  const spec: DaemonSpec | undefined =
    failed || start === undefined
      ? undefined
      : {
          name,
          start,
          dir,
          runAs,
          output,
          autostart,
          env: [...env],
          stopTimeoutMs,
          logMaxBytes,
          logKeep,
          logTimestamps,
          limits,
          umask,
          restart,
          successExit,
          restartDelayMs,
          ready,
          readyTimeoutMs,
          health,
          watchdogMs,
          listen: {
            addresses,
            mode: listenMode,
            group: listenGroup,
            passing,
          },
        };
  const listenLines = { addresses: addressLines, group: listenSettings.get('listen_group') };
  return { spec, problems: problems.items, runAsLine, restartDelayLine, listenLines };
}
