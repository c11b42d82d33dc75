import { closeSync, existsSync, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `running` in the state directory: made when a manager starts, taken away once it has
 * stopped every daemon and exits. An unlink needs no room: a clean stop whose last save
 * failed (a full disk) is still told from a crash by it. Taken for a crash, every daemon
 * that had run was started again, `autostart=no` too, and `why` said each "ended while no
 * manager watched it" (an outside review, 75b, F1: 3 of 3 with a full state directory).
 */
function markPath(stateDir: string): string {
  return join(stateDir, 'running');
}

/** Marks this manager running (kept across an upgrade); whether the mark is there. */
export function markRunning(stateDir: string): boolean {
  try {
    closeSync(openSync(markPath(stateDir), 'a', 0o644));
    return true;
  } catch {
    return false;
  }
}

export function markedRunning(stateDir: string): boolean {
  return existsSync(markPath(stateDir));
}

/**
 * Takes the mark away at a clean exit (whatever its last save did); why not, if it cannot
 * (a read-only state directory: thrown, it was an error with no message and a stack, an
 * outside review, 76a, F3).
 */
export function unmarkRunning(stateDir: string): string | undefined {
  // unlink, not rm: Node's rmSync gives a read-only file system's error no code, and the
  // line said `cannot remove ... ()` (an outside review, 77b, F3).
  try {
    unlinkSync(markPath(stateDir));
    return undefined;
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT') return undefined;
    return `cannot remove ${markPath(stateDir)} (${code || message})`;
  }
}
