import type {
  LimitKey,
  LimitRule,
  LimitValues,
  Resource,
  ResourceLimits,
  UserLimits,
} from '../config/limits.ts';

/**
 * The limits of `user`: the `[settings]` defaults, then every `[limits]` line naming one
 * of the user's groups, then every line naming the user; later lines win within each
 * kind. A line may raise or lower a default (the admin writes both); `unlimited` lifts it.
 */
export function limitsForUser(
  user: string,
  isMemberOf: (group: string) => boolean,
  defaults: UserLimits,
  rules: readonly LimitRule[],
): UserLimits {
  const merged: { -readonly [K in LimitKey]: number | undefined } = { ...defaults };
  const apply = (values: LimitValues): void => {
    for (const [key, value] of Object.entries(values) as [LimitKey, number | null][])
      merged[key] = value === null ? undefined : value;
  };
  for (const rule of rules)
    if (rule.left.kind === 'group' && isMemberOf(rule.left.name)) apply(rule.values);
  for (const rule of rules)
    if (rule.left.kind === 'user' && rule.left.name === user) apply(rule.values);
  return merged;
}

/**
 * The limits a daemon runs with: its owner's, lowered where the daemon's config asks for
 * less. Asking for more than the admin allows gets the admin's value. Where the admin
 * sets nothing the daemon's own value stands; it is applied as the daemon's user, so the
 * kernel refuses to raise anything above what the manager itself has.
 */
export function limitsForDaemon(owner: ResourceLimits, asked: ResourceLimits): ResourceLimits {
  const lower = (resource: Resource): number | undefined => {
    const admin = owner[resource];
    const own = asked[resource];
    if (admin === undefined) return own;
    if (own === undefined) return admin;
    return Math.min(admin, own);
  };
  return { nofile: lower('nofile'), nproc: lower('nproc'), core: lower('core'), as: lower('as') };
}
