import { fstatSync } from 'node:fs';
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
  // A run over is the past: beside a run of the account of now with processes left, the
  // manager before started that one once the old account's runs were gone, and was killed
  // before the keeper forgot their ends. Taken for the old account's, the daemon of the
  // name now was stopped as someone else's, and the other daemon, waiting for it, lost its
  // history (a full test run).
  const left = (run: RunReport): boolean => run.alive || !run.empty;
  const liveOfNow = now !== undefined && runs.some((run) => left(run) && run.ownerUid === now);
  const recorded = runs.find(
    (run) => run.ownerUid !== undefined && run.ownerUid !== now && (left(run) || !liveOfNow),
  );
  if (recorded !== undefined) return recorded.ownerUid;
  return savedUid !== undefined && savedUid !== now ? savedUid : undefined;
}

/**
 * Whether a user's lock the keeper kept is on a file of the account of uid `now`: the
 * `.lock` is always a file of the account it was taken for (lockDir refuses any other),
 * so the file's owner tells the old account's lock from the new one's.
 */
export function lockedFor(fd: number, now: number | undefined): boolean {
  if (now === undefined) return false;
  try {
    return fstatSync(fd).uid === now;
  } catch {
    return false;
  }
}
