import type { Policy } from './policy.ts';

/**
 * The authorization rules of daemon-manager, in one place. Every check the manager
 * makes goes through these pure functions; `authorize.test.ts` holds their table.
 */

export const ROOT = 'root';

/** May `user` have daemons at all? Root always; others only if on the left of [can_run_as]. */
export function mayRunDaemons(policy: Policy, user: string): boolean {
  return user === ROOT || policy.runAs.has(user);
}

/** May daemons owned by `owner` run as `runAs`? Self (if allowed daemons), root anyone, else [can_run_as]. */
export function mayRunAs(policy: Policy, owner: string, runAs: string): boolean {
  if (owner === ROOT) return true;
  const allowed = policy.runAs.get(owner);
  if (allowed === undefined) return false;
  return runAs === owner || allowed.has(runAs);
}

/** May `caller` see and control the daemons of `owner`? Root all, a user self plus [manages]. */
export function mayManage(policy: Policy, caller: string, owner: string): boolean {
  return caller === ROOT || caller === owner || (policy.manages.get(caller)?.has(owner) ?? false);
}

/** Does `user` get a control socket: may they run daemons or manage anyone's? */
export function mayUseManager(policy: Policy, user: string): boolean {
  return mayRunDaemons(policy, user) || policy.manages.has(user);
}
