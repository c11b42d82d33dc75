/** The admin's bounds of a daemon's `restart_delay=` (`restart-delay-min`, `-max`). */
export interface DelayBounds {
  readonly minMs: number;
  readonly maxMs: number;
}

/** Why a daemon may not ask for this restart delay, or undefined when it may. */
export function restartDelayRefusal(
  delayMs: number | undefined,
  bounds: DelayBounds,
): string | undefined {
  if (delayMs === undefined) return undefined;
  if (delayMs < bounds.minMs)
    return `'restart_delay' ${formatMs(delayMs)} is shorter than the admin allows (restart-delay-min = ${formatMs(bounds.minMs)})`;
  if (delayMs > bounds.maxMs)
    return `'restart_delay' ${formatMs(delayMs)} is longer than the admin allows (restart-delay-max = ${formatMs(bounds.maxMs)})`;
  return undefined;
}

/** The wait a daemon has before each respawn: its own, else the admin's minimum. */
export function restartDelayOf(delayMs: number | undefined, bounds: DelayBounds): number {
  return Math.min(bounds.maxMs, Math.max(bounds.minMs, delayMs ?? bounds.minMs));
}

/** A duration as it would be written in a config: `1h`, `90s`, `500ms`. */
function formatMs(ms: number): string {
  for (const [size, unit] of [
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1_000, 's'],
  ] as const)
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
