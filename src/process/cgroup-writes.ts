import { mkdirSync, writeFileSync } from 'node:fs';
import { makeDirs } from '../files/make-dirs.ts';

/**
 * The limits a manager wrote into its cgroups, by file: a start writes only what differs.
 * Every start wrote them all (three files of the user's `cpu` cgroup with the fair share
 * on, two of `pids` with a process limit) and made every directory again: in a crash
 * storm, a tenth of the manager's time. A directory found missing and made anew has the
 * kernel's defaults, so what was written below it is forgotten and written again; the
 * manager forgets everything at a reload (SIGHUP), so that root's own edits of these
 * files are undone then, as they were at the next start before.
 */
export class CgroupWrites {
  private readonly written = new Map<string, string>();

  /** Makes a directory (and its parents) if missing; what was written below one made is forgotten. */
  makeDirs(path: string): void {
    try {
      mkdirSync(path);
      this.forgetBelow(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
      makeDirs(path);
      this.forgetBelow(path);
    }
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
