const MINUTE_MS = 60_000;

/**
 * A bucket per user that refills at `perMinute` a minute up to `full`: what one user may
 * ask of the manager (rescans, starts, log lines) out of what it shares with everyone.
 * Pure (the time is given), so that each rule is tested without waiting. A full bucket
 * is forgotten: the map holds only users who asked lately.
 */
export class UserBuckets {
  private readonly full: number;
  private readonly perMinute: number;
  private readonly buckets = new Map<string, { level: number; at: number }>();

  constructor(full: number, perMinute: number) {
    this.full = full;
    this.perMinute = perMinute;
  }

  /** What is left in `user`'s bucket at `now`. */
  level(user: string, now: number): number {
    const bucket = this.buckets.get(user);
    if (bucket === undefined) return this.full;
    const refilled = ((now - bucket.at) / MINUTE_MS) * this.perMinute;
    const level = Math.min(this.full, bucket.level + Math.max(0, refilled));
    if (level === this.full) this.buckets.delete(user);
    return level;
  }

  /** Takes `cost` from it at `now`, down to `floor` at most. */
  take(user: string, cost: number, now: number, floor = 0): void {
    this.buckets.set(user, { level: Math.max(floor, this.level(user, now) - cost), at: now });
  }

  /** How long until `user`'s bucket holds `amount` again, in whole seconds (at least 1). */
  secondsUntil(user: string, amount: number, now: number): number {
    return Math.max(1, Math.ceil(((amount - this.level(user, now)) / this.perMinute) * 60));
  }
}
