import { UserBuckets } from '../policy/user-buckets.ts';

/**
 * The work one user's config files may cost the manager per minute: bytes read, plus
 * FILE_COST per file opened and NAME_COST per `*.conf` name listed, plus the bytes written
 * when the configs as last read are kept again (state/config-copies.ts). A full directory
 * (1,000 files, 4 MiB read) costs about 8 MiB, so a user may rescan it eight times a
 * minute (and at once, after a quiet minute); a directory of ordinary configs, hundreds
 * of times.
 */
export const RESCAN_BYTES_PER_MINUTE = 64 * 1024 * 1024;
export const FILE_COST = 4 * 1024;
export const NAME_COST = 64;

const MIB = 1024 * 1024;

/** What reading a daemon directory cost, in the budget's bytes. */
export function rescanCost(bytesRead: number, filesOpened: number, namesListed: number): number {
  return bytesRead + filesOpened * FILE_COST + namesListed * NAME_COST;
}

/**
 * A bucket per user that refills at `perMinute` bytes a minute up to `perMinute`: a
 * rescan asked by a user whose bucket is empty is refused, with when to try again. The
 * user who asks pays (a manager of others for theirs); a rescan nobody asked for (root's,
 * a reload, a change of accounts) costs nobody anything. Pure (the time is given), so
 * that the rule is tested without waiting.
 */
export class RescanBudget {
  private readonly perMinute: number;
  private readonly buckets: UserBuckets;

  constructor(perMinute = RESCAN_BYTES_PER_MINUTE) {
    this.perMinute = perMinute;
    this.buckets = new UserBuckets(perMinute, perMinute);
  }

  /**
   * Takes what a rescan asked by `user` cost. The bucket may go below empty, by one
   * minute's worth at most: a refused user waits about a minute at worst.
   */
  charge(user: string, cost: number, now: number): void {
    this.buckets.take(user, cost, now, -this.perMinute);
  }

  /** Why `user` may not rescan now (a message for them, of `what` they asked), or undefined if they may. */
  refusal(user: string, now: number, what = 'rescan'): string | undefined {
    if (this.buckets.level(user, now) > 0) return undefined;
    const seconds = this.buckets.secondsUntil(user, 1, now);
    return (
      `${what} refused: your rescans cost more than ${Math.round(this.perMinute / MIB)} MiB of reading ` +
      `in the last minute (bytes read, ${FILE_COST / 1024} KiB a file, ${NAME_COST} bytes a *.conf name, and what keeping your configs as last read writes), ` +
      `the most one user's may; try again in ${seconds} s`
    );
  }
}
