import type { ChildProcess } from 'node:child_process';

/**
 * The children this process spawned with node:child_process, until libuv has reaped
 * them. The manager's Reaper reaps every other zombie child on SIGCHLD; one of these
 * reaped by it, libuv never sees it end and its `exit` never comes (an upgrade's new code
 * that ended before it was ready was then waited for without end). Every asynchronous
 * spawn in the manager goes through `ownChild`.
 */
const own = new Set<number>();

/** Registers `child` as libuv's to reap, until its `exit`. */
export function ownChild<T extends ChildProcess>(child: T): T {
  const { pid } = child;
  if (pid === undefined) return child;
  own.add(pid);
  child.once('exit', () => own.delete(pid));
  return child;
}

/** Whether `pid` is a child spawned through node:child_process and not yet reaped by libuv. */
export function isOwnChild(pid: number): boolean {
  return own.has(pid);
}
