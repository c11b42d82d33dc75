import { closeSync, readdirSync, readFileSync } from 'node:fs';

const O_CLOEXEC = 0o2000000;

/**
 * Closes descriptors the manager inherited from whoever started it (a shell's job pipes,
 * a test runner's channels). Node marks its own descriptors close-on-exec, but
 * inherited ones without that flag would be passed on to every daemon: a root process's
 * pipe in a user's daemon. /proc/self/fdinfo tells which is which.
 */
export function closeInheritedDescriptors(keep: ReadonlySet<number>): number[] {
  const closed: number[] = [];
  for (const entry of readdirSync('/proc/self/fdinfo')) {
    const fd = Number(entry);
    if (!Number.isInteger(fd) || fd < 3 || keep.has(fd)) continue;
    let flags: number;
    try {
      const match = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
      if (!match?.[1]) continue;
      flags = Number.parseInt(match[1], 8);
    } catch {
      continue; // The descriptor used to read the directory, closed since.
    }
    if (flags & O_CLOEXEC) continue;
    try {
      closeSync(fd);
      closed.push(fd);
    } catch {
      // Already closed.
    }
  }
  return closed;
}
