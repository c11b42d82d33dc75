/**
 * The starts and restarts one user may ask for: STARTS_AT_ONCE at once (every daemon a
 * user may have), then STARTS_PER_MINUTE. A start asked while a daemon cools down skips
 * its back-off, and what a start and the exit of a crashing program cost is the manager's
 * CPU, shared by every user: 16 clients of one user asking starts of daemons that exit at
 * once made about 90 starts a second, and another user's `status` 4 times slower and
 * their respawns up to 25 times (an outside review, 36b, F2).
 */
export const STARTS_AT_ONCE = 1_000;
export const STARTS_PER_MINUTE = 300;

const MINUTE_MS = 60_000;

/**
 * A bucket per user: each start or restart asked takes one, refused when none is left,
 * with when to try again. Root's requests and the manager's own starts (respawns,
 * autostart) take none. Pure (the time is given), so that the rule is tested without waiting.
 */
export class StartBudget {
  private readonly buckets = new Map<string, { level: number; at: number }>();

  /** Takes one start of `user`'s; why not, if none is left (a message for them). */
  take(user: string, now: number): string | undefined {
    const level = this.levelOf(user, now);
    if (level < 1) {
      const seconds = Math.max(1, Math.ceil(((1 - level) / STARTS_PER_MINUTE) * 60));
      return (
        `refused: you asked for more than ${STARTS_AT_ONCE.toLocaleString('en-US')} starts and restarts lately ` +
        `(then ${STARTS_PER_MINUTE} a minute), the most one user may; try again in ${seconds} s`
      );
    }
    this.buckets.set(user, { level: level - 1, at: now });
    return undefined;
  }

  private levelOf(user: string, now: number): number {
    const bucket = this.buckets.get(user);
    if (bucket === undefined) return STARTS_AT_ONCE;
    const refilled = ((now - bucket.at) / MINUTE_MS) * STARTS_PER_MINUTE;
    const level = Math.min(STARTS_AT_ONCE, bucket.level + Math.max(0, refilled));
    if (level === STARTS_AT_ONCE) this.buckets.delete(user);
    return level;
  }
}
