import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

/** Mounts a 256 KiB tmpfs at `dir` (made, mode 0700), to be filled; false where it cannot be. */
export function mountSmallFs(dir: string): boolean {
  try {
    mkdirSync(dir, { mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', dir]);
    return true;
  } catch {
    return false;
  }
}

/** Fills the file system `file` is on: what is written there next fails (ENOSPC). */
export function fillWith(file: string): void {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=4k', 'count=1000'], { stdio: 'ignore' });
  } catch {
    // Full: as wanted.
  }
}
