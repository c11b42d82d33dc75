import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from './host.ts';

/** A copy of the project's install whose files a test may change. */
export interface InstallCopy {
  readonly root: string;
  /** bin/daemon-manager of the copy: it runs the copy's dist/. */
  readonly daemonManager: string;
  /** The bundle the manager runs, and re-executes on SIGUSR2. */
  readonly bundle: string;
}

/**
 * Copies bin/ and dist/ into `dir` and links node_modules/ (Node itself) and build/ (the
 * native addon) to the project's: what an upgrade replaces is the bundle, so that is
 * what the copy owns.
 */
export function copyInstall(dir: string): InstallCopy {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const part of ['bin', 'dist'])
    cpSync(join(ROOT_DIR, part), join(dir, part), { recursive: true });
  for (const part of ['node_modules', 'build']) symlinkSync(join(ROOT_DIR, part), join(dir, part));
  return {
    root: dir,
    daemonManager: join(dir, 'bin/daemon-manager'),
    bundle: join(dir, 'dist/daemon-manager.mjs'),
  };
}
