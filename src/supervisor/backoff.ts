/** How respawns back off when a daemon keeps dying soon after it starts. */
export interface BackoffPolicy {
  /**
   * The first wait after a quick exit; each further quick exit doubles the wait (as
   * systemd's RestartSteps), unless `stepMs` is set.
   */
  readonly firstMs: number;
  /** Set (the admin wrote `cooldown-step`): the original's rule, this much longer each time. */
  readonly stepMs: number | undefined;
  /** The cooldown never grows past this (nor past the daemon's own delay, if longer). */
  readonly maxMs: number;
  /** A run at least this long is "good behaviour": the back-off is forgotten. */
  readonly stableMs: number;
  /** The wait before every respawn, even after a good run (`restart_delay=`; 0: at once). */
  readonly delayMs: number;
}

/**
 * The cooldown before the next respawn. A daemon that ran `stableMs` or longer waits only
 * its own delay (none by default): one that crashes now and then stays up. A quick exit
 * grows the wait: doubling from `firstMs` (or the daemon's delay, if longer), or, where
 * the admin set `cooldown-step`, the original Daemon Manager's linear steps; never past
 * `maxMs` (or the delay), so a crash loop is cooled down but never given up on.
 */
export function cooldownAfterExit(
  policy: BackoffPolicy,
  currentCooldownMs: number,
  ranMs: number,
): number {
  if (ranMs >= policy.stableMs) return policy.delayMs;
  const capMs = Math.max(policy.maxMs, policy.delayMs);
  const floorMs = Math.max(policy.delayMs, policy.stepMs === undefined ? policy.firstMs : 0);
  const grown =
    policy.stepMs !== undefined
      ? currentCooldownMs + policy.stepMs
      : currentCooldownMs < floorMs
        ? floorMs
        : currentCooldownMs * 2;
  return Math.min(capMs, Math.max(floorMs, grown));
}
