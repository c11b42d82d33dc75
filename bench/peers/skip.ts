/**
 * A peer's `skipReason` for a system left out above `largest` daemons (every count when
 * `largest` is Infinity: `--no-skip`).
 */
export function skipAbove(largest: number, reason: string): (count: number) => string | undefined {
  return (count) => (count > largest ? reason : undefined);
}
