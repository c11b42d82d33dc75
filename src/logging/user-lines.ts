import { UserBuckets } from '../policy/user-buckets.ts';
import type { Logger } from './logger.ts';

/** The lines one user's requests may have the manager log at once, then a minute. */
export const USER_LINES_AT_ONCE = 1_000;
export const USER_LINES_PER_MINUTE = 120;

const MINUTE_MS = 60_000;

/**
 * The manager's log lines of one user's doing (audit lines, refusals of their requests):
 * USER_LINES_AT_ONCE, then USER_LINES_PER_MINUTE; past that they are counted, and said as
 * a count once a minute, or before that user's next line (at most once a minute). The manager's log rotates, and
 * one user asking refused requests at 2,000 a second pushed every earlier line, another
 * user's refused attack on a daemon included, out of all its files in 90 s (an outside
 * review, 36b, F4). Root's lines are never counted.
 */
export class UserLines {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly buckets = new UserBuckets(USER_LINES_AT_ONCE, USER_LINES_PER_MINUTE);
  private readonly untold = new Map<string, { count: number; since: number }>();
  /** When each user's count was last said (see take). */
  private readonly told = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, now: () => number = Date.now) {
    this.log = log;
    this.now = now;
  }

  info(user: string, text: string): void {
    if (this.take(user)) this.log.info(text);
  }

  warn(user: string, text: string): void {
    if (this.take(user)) this.log.warn(text);
  }

  /** Says the counts of lines not logged (once a minute; and at the manager's end). */
  tellUntold(): void {
    for (const user of [...this.untold.keys()]) this.tellUntoldOf(user);
  }

  private take(user: string): boolean {
    if (user === 'root') return true;
    const now = this.now();
    if (this.buckets.level(user, now) < 1) {
      const untold = this.untold.get(user);
      this.untold.set(user, { count: (untold?.count ?? 0) + 1, since: untold?.since ?? now });
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.tellUntold();
      }, MINUTE_MS).unref();
      return false;
    }
    this.buckets.take(user, 1, now);
    // The count before the user's next line, at most once a minute: said before each line
    // let through, it was a line more for each (an outside review, 37a, F5: 240 a minute).
    const told = this.told.get(user);
    if (told === undefined || now - told >= MINUTE_MS) this.tellUntoldOf(user);
    return true;
  }

  private tellUntoldOf(user: string): void {
    const untold = this.untold.get(user);
    if (untold === undefined) return;
    this.untold.delete(user);
    this.told.set(user, this.now());
    this.log.warn(
      `audit: ${user}: ${untold.count} more lines of their requests not logged one by one since ${new Date(untold.since).toISOString()} (each user's are limited to ${USER_LINES_AT_ONCE.toLocaleString('en-US')} at once, then ${USER_LINES_PER_MINUTE} a minute)`,
    );
  }
}
