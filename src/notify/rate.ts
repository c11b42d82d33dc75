/**
 * How many datagrams (or bytes) a daemon may send: a token bucket, refilled at
 * `perSecond` up to `burst`. Pure, with the time passed in. A daemon pinging its watchdog
 * every second and updating its status now and then stays far below it.
 */
export class RateLimit {
  private tokens: number;
  private last: number;
  private readonly burst: number;
  private readonly perSecond: number;

  constructor(burst: number, perSecond: number, now: number) {
    this.burst = burst;
    this.perSecond = perSecond;
    this.tokens = burst;
    this.last = now;
  }

  /** Takes `amount` tokens at `now` (one by default); false when fewer are left. */
  take(now: number, amount = 1): boolean {
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.perSecond);
    this.last = now;
    if (this.tokens < amount) return false;
    this.tokens -= amount;
    return true;
  }
}
