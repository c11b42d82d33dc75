import { readdirSync, readFileSync } from 'node:fs';
import type { Native, WaitStatus } from './native.ts';
import { isOwnChild } from './own-children.ts';

/**
 * Reaps what libuv does not. The manager is a child subreaper, so what a daemon leaves
 * behind (a double-forked helper, a worker whose parent died) is reparented to it rather
 * than to init; and after an upgrade the daemons started by the previous instance are
 * its children too. libuv only waits for the pids it spawned, so on each SIGCHLD this
 * looks at the manager's children, reports adopted ones that ended, and reaps zombies
 * nobody else will. The children Node spawned itself are libuv's (own-children.ts): it
 * reaps them in its own SIGCHLD handler, which may run after this one.
 */
export class Reaper {
  private readonly adopted = new Map<number, (status: WaitStatus) => void>();
  private readonly native: Native;
  private readonly isSpawnedByNode: (pid: number) => boolean;

  constructor(native: Native, isSpawnedByNode: (pid: number) => boolean = isOwnChild) {
    this.native = native;
    this.isSpawnedByNode = isSpawnedByNode;
  }

  /** Starts listening for SIGCHLD (libuv keeps its own handler for the children it knows). */
  install(): void {
    process.on('SIGCHLD', () => this.reap());
  }

  /** Watches a child this Node instance did not spawn; `onExit` is called once when it ends. */
  adopt(pid: number, onExit: (status: WaitStatus) => void): void {
    this.adopted.set(pid, onExit);
    this.reap();
  }

  /** Reaps ended adopted children and orphans; leaves Node's own children to libuv. */
  reap(): void {
    for (const [pid, onExit] of this.adopted) {
      const status = this.native.waitpid(pid);
      if (status === undefined) continue;
      this.adopted.delete(pid);
      onExit(status);
    }
    for (const pid of childrenOfThisProcess()) {
      if (this.adopted.has(pid) || this.isSpawnedByNode(pid)) continue;
      if (stateOf(pid) === 'Z') this.native.waitpid(pid);
    }
  }
}

/** The pids of this process's children, from /proc/self/task/TID/children. */
function childrenOfThisProcess(): number[] {
  const pids: number[] = [];
  for (const task of readdirSync('/proc/self/task')) {
    try {
      for (const pid of readFileSync(`/proc/self/task/${task}/children`, 'latin1').split(' '))
        if (pid.trim() !== '') pids.push(Number(pid));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return pids;
}

function stateOf(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return text.slice(text.lastIndexOf(')') + 2)[0];
  } catch {
    return undefined;
  }
}
