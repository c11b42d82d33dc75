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
 * A bucket per user: each start or restart they ask for takes one, and so does each start
 * of a new daemon and each restart of a changed one that a rescan they asked for (or a
 * look of the manager's at their directory) makes (outside reviews, 38a, F3: 2,200
 * restarts in 30 s that way; 39b, F1 and 40a, F1: 3,000-4,200 starts a minute of new
 * files, deleted and written again); refused when none is left, with when to try again.
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
    if (this.buckets.level(user, now) < 1) return spent(this.buckets.secondsUntil(user, 1, now));
    this.buckets.take(user, 1, now);
    return undefined;
  }

  /** Why `count` starts of `user`'s were held back, and when all of them may be asked for. */
  heldBack(user: string, count: number, now: number): string {
    return spent(this.buckets.secondsUntil(user, Math.min(count, STARTS_AT_ONCE), now));
  }
}

/** What a user is told past the budget. */
function spent(seconds: number): string {
  return (
    `you asked for more than ${STARTS_AT_ONCE.toLocaleString('en-US')} starts and restarts lately ` +
    `(then ${STARTS_PER_MINUTE} a minute), the most one user may; try again in ${seconds} s`
  );
}
