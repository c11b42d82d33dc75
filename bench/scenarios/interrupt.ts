/**
 * What to undo if the bench is interrupted (Ctrl-C, SIGTERM) in the middle of a run: a
 * supervisor started from a temporary directory would otherwise run on, with its daemons.
 */
const undo = new Set<() => Promise<unknown>>();

/** Registers a clean-up; returns the function that unregisters it. */
export function onInterrupt(cleanup: () => Promise<unknown>): () => void {
  undo.add(cleanup);
  return () => undo.delete(cleanup);
}

/**
 * Runs every registered clean-up, then `final` (the removal of the bench's temporary
 * directory, which the clean-ups may still use), then exits; installed once by run.ts.
 */
export function exitOnSignals(final: () => void): void {
  let exiting = false;
  const handle = (signal: NodeJS.Signals): void => {
    if (exiting) return;
    exiting = true;
    process.stderr.write(`bench: ${signal}: stopping what runs\n`);
    Promise.allSettled([...undo].map((cleanup) => cleanup())).then(() => {
      final();
      process.exit(130);
    });
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
}
