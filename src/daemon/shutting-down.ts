import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A manager's pid, in its state directory while it shuts down (`shutting-down`). A manager
 * started then waits for it to exit (see takeLock in main.ts), and the next one to take the
 * lock after a `kill -9` during that shutdown knows why the daemons it starts again were
 * stopped (an outside review, 74b, F3, F4).
 */
const SHUTTING_DOWN = 'shutting-down';

export function shuttingDownPath(stateDir: string): string {
  return join(stateDir, SHUTTING_DOWN);
}

/** Says this manager shuts down; why not, if it cannot. */
export function markShuttingDown(stateDir: string): string | undefined {
  try {
    writeFileSync(shuttingDownPath(stateDir), `${process.pid}\n`, { mode: 0o644 });
    return undefined;
  } catch (error) {
    return `cannot write ${shuttingDownPath(stateDir)}: ${(error as Error).message}`;
  }
}

/** The pid of the manager that said it shuts down in `stateDir`, if one did. */
export function shuttingDownPid(stateDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(shuttingDownPath(stateDir), 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the mark of a manager before away (this one holds the lock): its pid, if there was one. */
export function clearShuttingDown(stateDir: string): number | undefined {
  const marked = shuttingDownPid(stateDir);
  rmSync(shuttingDownPath(stateDir), { force: true });
  return marked;
}
