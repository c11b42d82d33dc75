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

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
