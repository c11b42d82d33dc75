import type { DaemonRecord } from './state.ts';

/** What was last asked of each daemon, carried out or not yet (see inTurn). */
const lastAction = new WeakMap<DaemonRecord, Promise<unknown>>();

/**
 * Carries out `work` on the daemon once what was asked of it before is carried out:
 * commands take effect in the order they came, as its history says them. A restart reads
 * the daemon's file first (a moment off the event loop); a stop that came 0-2 ms after it
 * took effect before it, and the daemon ran on, wanted up, though both were answered and
 * `why` said the stop last (an outside review, 74a, F5: 4 of 10).
 */
export function inTurn<T>(record: DaemonRecord, work: () => Promise<T>): Promise<T> {
  const mine = (lastAction.get(record) ?? Promise.resolve()).then(work);
  const done = mine.then(
    () => {},
    () => {},
  );
  lastAction.set(record, done);
  void done.then(() => {
    if (lastAction.get(record) === done) lastAction.delete(record);
  });
  return mine;
}
