import { readFileSync } from 'node:fs';

/**
 * The pid a held lock names (the process that took it), if it still is a manager that
 * could hold that lock: its command line runs `daemon-manager.mjs`, and its real uid is
 * one of `uids` (root's, or the user's own for a personal manager's). Otherwise
 * undefined: the taker may be gone (an upgrade, a kill -9 while its keeper holds on) and
 * the pid reused, by another user's process that calls itself daemon-manager (an outside
 * review forked 11,000 times to get the pid, and root's refusal named it).
 */
export function managerHolding(
  pid: number | undefined,
  uids: readonly number[],
): number | undefined {
  if (!pid) return undefined;
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
    return command.includes('daemon-manager.mjs') && uids.includes(uid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
