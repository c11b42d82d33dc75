import { UserBuckets } from '../policy/user-buckets.ts';

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

/**
 * A bucket per user: each start or restart they ask for takes one, and so does each
 * restart of a changed daemon that a rescan they asked for makes (an outside review, 38a,
 * F3: 2,200 restarts in 30 s that way); refused when none is left, with when to try again.
 * Root's requests and the manager's own starts (respawns, autostart) take none. Pure (the
 * time is given), so that the rule is tested without waiting.
 */
export class StartBudget {
  private readonly buckets = new UserBuckets(STARTS_AT_ONCE, STARTS_PER_MINUTE);

  /**
   * Takes one start of `user`'s; why not, if none is left (for them: what they asked
   * for, and when to try again).
   */
  take(user: string, now: number): string | undefined {
    if (this.buckets.level(user, now) < 1) {
      const seconds = this.buckets.secondsUntil(user, 1, now);
      return (
        `you asked for more than ${STARTS_AT_ONCE.toLocaleString('en-US')} starts and restarts lately ` +
        `(then ${STARTS_PER_MINUTE} a minute), the most one user may; try again in ${seconds} s`
      );
    }
    this.buckets.take(user, 1, now);
    return undefined;
  }
}
