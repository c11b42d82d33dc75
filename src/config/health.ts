import { durationProblem, parseDuration } from './durations.ts';
import type { ProblemList } from './problems.ts';
import { type HealthCheck, parseHealthCheck } from './ready.ts';

/** `health=` with its `health_interval=`, `health_timeout=` and `health_retries=`. */
export interface HealthSpec {
  readonly check: HealthCheck;
  /** From the end of one check to the start of the next. */
  readonly intervalMs: number;
  /** A check that has not passed by then has failed. */
  readonly timeoutMs: number;
  /** This many failures in a row make the daemon unhealthy: it is restarted. */
  readonly retries: number;
}

/** Docker's and systemd's habits: a check every 30 s, 3 failures in a row. */
export const HEALTH_DEFAULTS = { intervalMs: 30_000, timeoutMs: 5_000, retries: 3 } as const;

/** Checks of many daemons stay cheap: none more often than this. */
export const MIN_HEALTH_INTERVAL_MS = 1_000;
const MAX_RETRIES = 100;

/**
 * Judges the `health*=` lines of one file together (each value alone, then how they
 * fit), reporting each problem on its own line; the spec, or undefined without
 * `health=` or with an error.
 */
export function parseHealthKeys(
  lines: ReadonlyMap<string, { readonly line: number; readonly value: string }>,
  problems: ProblemList,
): HealthSpec | undefined {
  const health = lines.get('health');
  if (health === undefined) {
    for (const [key, { line }] of lines)
      problems.warning(line, `'${key}' has no effect without a 'health=' line`);
    return undefined;
  }
  let ok = true;
  const check = parseHealthCheck(health.value);
  if ('error' in check) {
    problems.error(health.line, check.error);
    ok = false;
  }
  const duration = (key: string, fallback: number, least: number, example: string): number => {
    const entry = lines.get(key);
    if (entry === undefined) return fallback;
    const ms = parseDuration(entry.value);
    if (ms === undefined || ms < least) {
      problems.error(entry.line, durationProblem(`'${key}'`, entry.value, example, least));
      ok = false;
      return fallback;
    }
    return ms;
  };
  const intervalMs = duration(
    'health_interval',
    HEALTH_DEFAULTS.intervalMs,
    MIN_HEALTH_INTERVAL_MS,
    '30s',
  );
  const timeoutMs = duration('health_timeout', HEALTH_DEFAULTS.timeoutMs, 1, '5s');
  let retries: number = HEALTH_DEFAULTS.retries;
  const retriesLine = lines.get('health_retries');
  if (retriesLine !== undefined) {
    const value = /^\d{1,3}$/.test(retriesLine.value) ? Number(retriesLine.value) : Number.NaN;
    if (!(value >= 1 && value <= MAX_RETRIES)) {
      problems.error(
        retriesLine.line,
        `'health_retries' must be a whole number from 1 to ${MAX_RETRIES}, not '${retriesLine.value}'`,
      );
      ok = false;
    } else retries = value;
  }
  if (ok && 'kind' in check) return { check, intervalMs, timeoutMs, retries };
  return undefined;
}
