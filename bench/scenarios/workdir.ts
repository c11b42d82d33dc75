import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readProc } from '../measures/proc.ts';
import { ReadyPipe } from '../measures/ready-pipe.ts';

/** A run's private directory with its readiness FIFO. */
export interface Workdir {
  readonly dir: string;
  readonly pipe: ReadyPipe;
  /** Writes an executable `#!/bin/sh` script into the directory; returns its path. */
  script(name: string, body: string): string;
  remove(): void;
}

export function makeWorkdir(root: string, label: string): Workdir {
  const dir = mkdtempSync(join(root, `${label.replace(/[^A-Za-z0-9]+/g, '-')}-`));
  const pipe = new ReadyPipe(join(dir, 'ready.fifo'));
  return {
    dir,
    pipe,
    script: (name, body) => {
      const path = join(dir, name);
      writeFileSync(path, `#!/bin/sh\n${body}`, { mode: 0o755 });
      return path;
    },
    remove: () => {
      pipe.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The trivial daemon: says it runs, then becomes `sleep`. `echo` is a shell built-in and
 * `exec` replaces the shell, so the daemon is one process whose pid the line names.
 */
export function fleetScript(pipePath: string): string {
  return `echo "ready $1 $$" > ${pipePath}\nexec sleep 100000\n`;
}

/** The last `count` lines of a file (a manager's own log), each cut to 300 characters. */
export function tailOf(file: string, count: number): string[] {
  return readProc(file)
    .split('\n')
    .filter(Boolean)
    .slice(-count)
    .map((line) => line.slice(0, 300));
}
