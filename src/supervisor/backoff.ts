/** How respawns back off when a daemon keeps dying soon after it starts. */
export interface BackoffPolicy {
  /** Added to the cooldown at each quick exit. */
  readonly stepMs: number;
  /** The cooldown never grows past this. */
  readonly maxMs: number;
  /** A run at least this long is "good behaviour": respawn at once, forget the cooldown. */
  readonly stableMs: number;
}

/**
 * The original Daemon Manager's rule: a daemon that ran for less than `stableMs` has its
 * cooldown grown by `stepMs` (up to `maxMs`) and waits that long before the respawn; one
 * that ran longer is respawned at once with its cooldown reset.
 */
export function cooldownAfterExit(
  policy: BackoffPolicy,
  currentCooldownMs: number,
  ranMs: number,
): number {
  if (ranMs >= policy.stableMs) return 0;
  return Math.min(policy.maxMs, currentCooldownMs + policy.stepMs);
}
