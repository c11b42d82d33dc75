import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { makeDirs } from '../files/make-dirs.ts';

/**
 * The limits a manager wrote into its cgroups, by file: a start writes only what differs.
 * Every start wrote them all (three files of the user's `cpu` cgroup with the fair share
 * on, two of `pids` with a process limit) and made every directory again: in a crash
 * storm, a tenth of the manager's time. A directory found missing and made anew has the
 * kernel's defaults, so what was written below it is forgotten and written again; the
 * manager forgets everything at a reload (SIGHUP), so that root's own edits of these
 * files are undone then (the quotas of running users' at once, see Manager.reload).
 */
export class CgroupWrites {
  private readonly written = new Map<string, string>();

  /**
   * Makes a directory (and its parents) if missing; what was written below the highest one
   * made is forgotten: a user's `pids` cgroup removed with their last daemon and made again
   * as the parent of a daemon's had `pids.max` at the kernel's `max`, and their `tasks=`
   * quota was never written there again (an outside review: a user lifted their own quota by
   * taking their daemon away and back). Whether it made one.
   */
  makeDirs(path: string): boolean {
    try {
      mkdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      let highest = path;
      while (dirname(highest) !== highest && !existsSync(dirname(highest)))
        highest = dirname(highest);
      makeDirs(path);
      this.forgetBelow(highest);
      return true;
    }
    this.forgetBelow(path);
    return true;
  }

  /** Writes `value` unless this manager wrote it there last. */
  write(file: string, value: string): void {
    if (this.written.get(file) === value) return;
    this.written.delete(file);
    writeFileSync(file, value);
    this.written.set(file, value);
  }

  forgetAll(): void {
    this.written.clear();
  }

  private forgetBelow(dir: string): void {
    for (const file of this.written.keys())
      if (file.startsWith(`${dir}/`)) this.written.delete(file);
  }
}
