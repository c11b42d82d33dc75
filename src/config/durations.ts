const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SYNTAX = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
/** The longest duration any setting takes: 24 h (and far below Node's 2^31 ms timers). */
const MAX_DURATION_MS = 86_400_000;

/** Parses `10`, `10s`, `500ms`, `2m`, `1h` into milliseconds (bare numbers are seconds). */
export function parseDuration(text: string): number | undefined {
  const ms = durationOf(text);
  return ms !== undefined && ms <= MAX_DURATION_MS ? ms : undefined;
}

function durationOf(text: string): number | undefined {
  const match = SYNTAX.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1000);
  return Number.isFinite(value) ? Math.round(value) : undefined;
}

/**
 * Why `text` is not a duration `what` takes (at least `leastMs` when given, `example`
 * being one that is): past the longest one, too short, or no duration at all.
 */
export function durationProblem(what: string, text: string, example: string, leastMs = 0): string {
  const ms = durationOf(text);
  if (ms !== undefined && ms > MAX_DURATION_MS) return `${what} must be at most 24h, not '${text}'`;
  if (leastMs > 0) {
    const floor = leastMs >= 1000 ? `${leastMs / 1000}s` : `${leastMs}ms`;
    return `${what} must be a duration of at least ${floor}, such as ${example}, not '${text}'`;
  }
  return `${what} must be a duration like ${example}, not '${text}'`;
}
