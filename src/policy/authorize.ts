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

/**
 * May `caller` change the config files of `owner`? The owner and root only. [manages]
 * lets a help-desk user see and control daemons, not choose what runs as their owner:
 * writing a config is running code as that user (and as whomever they may run as).
 */
export function mayEditConfigs(caller: string, owner: string): boolean {
  return caller === ROOT || caller === owner;
}

/**
 * Why a daemon of `owner` may not run as `runAs`, or undefined if it may. A user that
 * does not exist is named as such (not as "not allowed"), so a typo is found at once.
 */
export function runAsRefusal(
  policy: Policy,
  owner: string,
  runAs: string,
  userExists: boolean,
): string | undefined {
  if (!userExists) return `no such user '${runAs}' (user=)`;
  if (!mayRunAs(policy, owner, runAs))
    return `user '${runAs}' is not allowed for '${owner}' (see [can_run_as])`;
  return undefined;
}
