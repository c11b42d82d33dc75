import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** One timed run of a command. */
export interface Timed {
  readonly ms: number;
  readonly stdout: string;
  readonly status: number | null;
}

/**
 * Runs a command to its end and times it, from before the fork to the reaping of the
 * process with all of its output read. spawnSync blocks the bench's event loop, which is
 * what we want here: nothing of the bench runs in between.
 */
export function timeCommand(argv: readonly string[], env?: NodeJS.ProcessEnv): Timed {
  const [file = 'false', ...args] = argv;
  const start = performance.now();
  const result = spawnSync(file, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'latin1',
    maxBuffer: 64 * 1024 * 1024,
    env: env ?? process.env,
  });
  const ms = performance.now() - start;
  if (result.error) throw new Error(`cannot run ${argv.join(' ')}: ${result.error.message}`);
  return { ms, stdout: result.stdout, status: result.status };
}
