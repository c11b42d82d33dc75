import { existsSync } from 'node:fs';

/**
 * Holds this process's event loop (as a SIGSTOP or a starved CPU would) until `file`
 * exists and at least `ms` have passed. Call it from the loop's check phase
 * (setImmediate), so that the next turn begins with the timers: inside a timer, expired
 * ones are judged by the time the timers phase began, and no stall is seen.
 */
export function holdLoopUntil(file: string, ms: number): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const until = Date.now() + ms;
  while (!existsSync(file) || Date.now() < until) Atomics.wait(cell, 0, 0, 10);
}
