import { readdirSync, readFileSync } from 'node:fs';
import { processState } from './proc.ts';

/** A living process as /proc shows it. */
export interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly state: string;
  /** The arguments, joined by spaces. */
  readonly command: string;
}

/** Every process, living or zombie, with its group and command line. */
export function processTable(): ProcessEntry[] {
  const table: ProcessEntry[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const command = readFileSync(`/proc/${entry}/cmdline`, 'latin1')
        .split('\0')
        .filter(Boolean)
        .join(' ');
      table.push({
        pid: Number(entry),
        ppid: Number(fields[1]),
        pgid: Number(fields[2]),
        state: fields[0] ?? '?',
        command,
      });
    } catch {
      // Gone meanwhile.
    }
  }
  return table;
}

/** Living (not zombie) processes whose command line is exactly `command`. */
export function living(command: string): ProcessEntry[] {
  return processTable().filter((entry) => entry.command === command && entry.state !== 'Z');
}

/** The children of a process, from /proc/PID/task/TID/children (every thread's). */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  for (const task of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'latin1');
      for (const child of text.split(' ')) if (child.trim() !== '') children.push(Number(child));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return children;
}

/** Children of a process that are zombies (ended, not yet waited for). */
export function zombieChildrenOf(pid: number): number[] {
  return childrenOf(pid).filter((child) => processState(child) === 'Z');
}

/** How many descriptors a process has open. */
export function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A process's resident memory in KiB (VmRSS). */
export function residentKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
}
