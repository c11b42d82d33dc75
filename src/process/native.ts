import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** How a child ended, as waitpid(2) reports it. */
export type WaitStatus = { readonly code?: number; readonly signal?: number; readonly gone?: true };

/** The system calls of native/dm_native.c (see there for why each is needed). */
export interface Native {
  /** waitpid(pid, WNOHANG): undefined while the child runs. */
  waitpid(pid: number): WaitStatus | undefined;
  setSubreaper(): void;
  setCloexec(fd: number, on: boolean): void;
}

const ADDON = join('build', 'Release', 'dm_native.node');

/**
 * Loads the addon built by `npm ci` (node-gyp). It is found by walking up from this
 * file, which works both from src/ (tests) and from the bundle in dist/.
 */
export function loadNative(): Native {
  let dir = import.meta.dirname;
  for (;;) {
    const candidate = join(dir, ADDON);
    if (existsSync(candidate)) return createRequire(import.meta.url)(candidate) as Native;
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`${ADDON} not found: run npm ci (it builds the addon with node-gyp)`);
    dir = parent;
  }
}
