/**
 * The users whose trees stopped answering: an operation of theirs passed its deadline
 * and has not returned yet. Keyed by uid, shared by every UserFiles of that uid, so a
 * new scan of a stuck user fails at once instead of queueing behind the stuck call.
 */
const stuck = new Map<number, { count: number; message: string }>();

/** Why `uid`'s operations are refused now, if they are. */
export function notAnswering(uid: number): string | undefined {
  return stuck.get(uid)?.message;
}

/** An operation of `uid` passed its deadline: the user's tree is not answering. */
export function markStuck(uid: number, message: string): void {
  const entry = stuck.get(uid);
  if (entry) entry.count++;
  else stuck.set(uid, { count: 1, message });
}

/** Told of a uid whose tree answers again (its last late operation returned). */
const answeringAgain = new Set<(uid: number) => void>();

/** Calls `listener` with each uid whose tree answers again; the function that stops it. */
export function onAnsweringAgain(listener: (uid: number) => void): () => void {
  answeringAgain.add(listener);
  return () => answeringAgain.delete(listener);
}

/** A late operation of `uid` has finally returned. */
export function markReturned(uid: number): void {
  const entry = stuck.get(uid);
  if (!entry) return;
  if (--entry.count > 0) return;
  stuck.delete(uid);
  for (const listener of answeringAgain) listener(uid);
}
