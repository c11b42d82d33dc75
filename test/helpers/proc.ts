import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The state letter of a process (R, S, Z...), or undefined once it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/**
 * Alive means present and not a zombie (this machine's init does not reap orphans). A
 * process whose first thread has ended shows Z while its other threads still run, and
 * hold its descriptors: a manager killed -9 was taken for dead while Node's threads still
 * held its state directory's lock, and the next manager was refused (a full run).
 */
export function isAlive(pid: number): boolean {
  const state = processState(pid);
  if (state === undefined) return false;
  if (state !== 'Z') return true;
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return tasks.some((task) => {
    try {
      const text = readFileSync(`/proc/${pid}/task/${task}/stat`, 'latin1');
      return text.slice(text.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
    } catch {
      return false;
    }
  });
}

/** Living processes whose real uid is `uid`. */
export function livePidsOfUid(uid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'latin1');
      const line = /^Uid:\s+(\d+)/m.exec(status);
      if (line && Number(line[1]) === uid && isAlive(Number(entry))) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** Living members of a process group. */
export function liveGroupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** The cgroup path of a process in the v1 hierarchy of `controller` (`/` when none of ours; '' when none). */
export function v1CgroupOf(pid: number, controller: string): string {
  const text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  for (const line of text.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (controllers?.split(',').includes(controller)) return path ?? '';
  }
  return '';
}

/** Where the cgroup2 hierarchy is mounted (the `unified` one of a hybrid host), if anywhere. */
export function cgroup2Mount(): string | undefined {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, where, type] = line.split(' ');
    if (type === 'cgroup2') return where;
  }
  return undefined;
}

/** The cgroup2 directory of a process under the hierarchy mounted at `mount`. */
export function cgroup2Of(pid: number, mount: string): string | undefined {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('0::'));
  return line === undefined ? undefined : join(mount, line.slice(3));
}

/** The children of a process (every thread's). */
export function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
        .trim()
        .split(' ')
        .filter((one) => one !== '')
        .map(Number),
    );
  } catch {
    return [];
  }
}
