import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** One call of a command: when it began, how long it took, and whether it answered right. */
export interface Call {
  /** performance.now() at the fork. */
  readonly at: number;
  readonly ms: number;
  readonly ok: boolean;
  /** Why it failed ('' when it did not). */
  readonly error: string;
  /** The start of what it printed (stdout, then stderr), to tell what it said. */
  readonly output: string;
}

export interface AskOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Run as this user (Node drops the supplementary groups: fine for a client). */
  readonly uid?: number;
  readonly gid?: number;
  /** A call still running after this is killed and counts as failed. */
  readonly timeoutMs: number;
  /** Why a call that exited 0 answered wrong, or undefined when its output is right. */
  readonly check?: (stdout: string) => string | undefined;
}

const MAX_OUTPUT = 64 * 1024 * 1024;

/**
 * Runs a command once without blocking the bench's event loop (which must keep reading
 * its FIFO and sampling meanwhile), from the fork to the end of its output.
 */
export function timeAsync(argv: readonly string[], options: AskOptions): Promise<Call> {
  const [file = 'false', ...args] = argv;
  return new Promise((resolve) => {
    const at = performance.now();
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('latin1').on('data', (chunk: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += chunk;
    });
    child.stderr.setEncoding('latin1').on('data', (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    const finish = (error: string): void => {
      clearTimeout(timer);
      const output = `${stdout.slice(0, 2000)}${stderr.slice(0, 1000)}`;
      resolve({ at, ms: performance.now() - at, ok: error === '', error, output });
    };
    child.on('error', (error) => finish(`cannot run ${file}: ${error.message}`));
    child.on('close', (code) => {
      if (timedOut) return finish(`no answer within ${options.timeoutMs} ms`);
      if (code !== 0) return finish(`exit ${code}: ${stderr.trim().slice(0, 200)}`);
      finish(options.check?.(stdout) ?? '');
    });
  });
}

/** A command asked again and again, one call at a time. */
export interface AskLoop {
  /** Every call finished so far, in order. */
  readonly calls: Call[];
  /** Stops asking; resolves once the call in flight has finished. */
  stop(): Promise<Call[]>;
}

export function askInLoop(argv: readonly string[], options: AskOptions): AskLoop {
  return repeatAsking(() => timeAsync(argv, options));
}

/** Asks again and again, one call at a time, until stopped: every call kept. */
export function repeatAsking(ask: () => Promise<Call>): AskLoop {
  const calls: Call[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) calls.push(await ask());
  })();
  return {
    calls,
    stop: async () => {
      stopped = true;
      await loop;
      return calls;
    },
  };
}
