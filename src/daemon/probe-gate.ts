/**
 * How often one user's checks that start a process (`exec:` and `unix:` of `ready=` and
 * `health=`) may start one. Each is a fork by the keeper, which forks everyone's
 * respawns too: 200 of one user's daemons checked every second made another user's
 * respawn wait 1.3-2 s (an outside review). Past the rate a check waits its turn, so a
 * user with many such checks gets each less often; nobody else waits.
 */
export class ProbeGate {
  private readonly intervalMs: number;
  private readonly burst: number;
  /** When each user's next check may start, were they all to come now. */
  private readonly next = new Map<string, number>();

  constructor(perSecond: number, burst: number) {
    this.intervalMs = 1000 / perSecond;
    this.burst = burst;
  }

  /** Books the user's next check: how long it waits before it starts (0: at once). */
  book(user: string, now: number): number {
    // A user idle for a while may start `burst` at once, then one every interval.
    const earliest = now - (this.burst - 1) * this.intervalMs;
    const at = Math.max(this.next.get(user) ?? earliest, earliest);
    this.next.set(user, at + this.intervalMs);
    return Math.max(0, at - now);
  }
}
