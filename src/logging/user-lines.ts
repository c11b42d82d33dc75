import { UserBuckets } from '../policy/user-buckets.ts';
import type { Logger } from './logger.ts';

/** The lines one user's requests may have the manager log at once, then a minute. */
export const USER_LINES_AT_ONCE = 1_000;
export const USER_LINES_PER_MINUTE = 120;

/**
 * The lines about one user's daemons (`USER/NAME: ...`: starts, exits, back-offs) the
 * manager logs at once, then a minute: every line of a cold start of the 1,000 daemons a
 * rescan loads, and 10 a minute of each of 60 daemons.
 */
export const DAEMON_LINES_AT_ONCE = 5_000;
export const DAEMON_LINES_PER_MINUTE = 600;

const MINUTE_MS = 60_000;

/** What one kind of a user's lines may be: how many, and how a count of the rest reads. */
export interface LineBudget {
  readonly atOnce: number;
  readonly perMinute: number;
  /** The line that says `count` lines of `user`'s were not logged since `since`. */
  untold(user: string, count: number, since: string): string;
}

const limits = (budget: LineBudget): string =>
  `each user's are limited to ${budget.atOnce.toLocaleString('en-US')} at once, then ${budget.perMinute} a minute`;

/** The lines of a user's requests: audit lines, refusals, their config problems. */
export const REQUEST_LINES: LineBudget = {
  atOnce: USER_LINES_AT_ONCE,
  perMinute: USER_LINES_PER_MINUTE,
  untold: (user, count, since) =>
    `audit: ${user}: ${count} more lines of their requests not logged one by one since ${since} (${limits(REQUEST_LINES)})`,
};

/** The lines about a user's daemons: each daemon's `dmctl why` keeps its last events. */
export const DAEMON_LINES: LineBudget = {
  atOnce: DAEMON_LINES_AT_ONCE,
  perMinute: DAEMON_LINES_PER_MINUTE,
  untold: (user, count, since) =>
    `${user}: ${count} more lines about their daemons not logged one by one since ${since} (${limits(DAEMON_LINES)}; \`dmctl ID why\` has each daemon's last events)`,
};

/**
 * The manager's log lines of one user's doing (audit lines, refusals of their requests;
 * or, with DAEMON_LINES, their daemons' events): the budget's `atOnce`, then `perMinute`;
 * past that they are counted, and said as a count once a minute, or before that user's
 * next line (at most once a minute). The manager's log rotates, and one user asking
 * refused requests at 2,000 a second pushed every earlier line, another user's refused
 * attack on a daemon included, out of all its files in 90 s (an outside review, 36b, F4).
 * Root's lines are never counted.
 */
export class UserLines {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly budget: LineBudget;
  private readonly buckets: UserBuckets;
  private readonly untold = new Map<string, { count: number; since: number }>();
  /** When each user's count was last said (see take). */
  private readonly told = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, now: () => number = Date.now, budget: LineBudget = REQUEST_LINES) {
    this.log = log;
    this.now = now;
    this.budget = budget;
    this.buckets = new UserBuckets(budget.atOnce, budget.perMinute);
  }

  info(user: string, text: string): void {
    if (this.take(user)) this.log.info(text);
  }

  warn(user: string, text: string): void {
    if (this.take(user)) this.log.warn(text);
  }

  error(user: string, text: string): void {
    if (this.take(user)) this.log.error(text);
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
    this.log.warn(this.budget.untold(user, untold.count, new Date(untold.since).toISOString()));
  }
}
