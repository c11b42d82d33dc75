import type { RunReport } from '../keeper/protocol.ts';

/**
 * The uid of the account that had this daemon's owner's name before (`now` is the uid the
 * name has now, undefined if none has it), if a run the keeper holds, or else the saved
 * state, says the daemon is that account's; undefined when it is the account's of now.
 */
export function formerOwnerOf(
  runs: readonly RunReport[],
  savedUid: number | undefined,
  now: number | undefined,
): number | undefined {
  const recorded = runs.find((run) => run.ownerUid !== undefined && run.ownerUid !== now);
  if (recorded !== undefined) return recorded.ownerUid;
  return savedUid !== undefined && savedUid !== now ? savedUid : undefined;
}
