import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isAlive, killSurvivors, waitUntilDead } from '../measures/proc.ts';

/**
 * Starts a supervisor with its own output going to a file (never to a pipe of the bench,
 * which would tie its speed to the bench's event loop).
 */
export function spawnLogged(
  argv: readonly string[],
  logPath: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd?: string,
): ChildProcess {
  const [file = 'false', ...args] = argv;
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(file, args, { stdio: ['ignore', fd, fd], env, cwd: cwd ?? '/' });
    child.on('error', () => {});
    return child;
  } finally {
    closeSync(fd);
  }
}

/** Resolves with the exit status once the child has ended (at once if it already has). */
export function exited(child: ChildProcess): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
}

/**
 * Signals a supervisor that is the bench's child and waits for it to exit; SIGKILLs it
 * and `others` after `timeoutMs`. Returns the pids that had to be killed.
 */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals,
  timeoutMs: number,
  others: () => number[] = () => [],
): Promise<number[]> {
  const pid = child.pid ?? 0;
  if (pid !== 0 && isAlive(pid)) child.kill(signal);
  const killed: number[] = [];
  const done = await Promise.race([
    exited(child).then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs)),
  ]);
  if (!done) {
    killed.push(...killSurvivors([pid, ...others()]));
    await exited(child);
  }
  const rest = await waitUntilDead(others(), timeoutMs);
  killed.push(...killSurvivors(rest));
  return killed;
}

/**
 * Sends SIGTERM and times until the child exits. A child still running after `limitMs`
 * gets SIGKILL, and the result is null: it did not act on SIGTERM in time.
 */
export async function terminate(child: ChildProcess, limitMs: number): Promise<number | null> {
  const at = performance.now();
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([
    exited(child).then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), limitMs);
    }),
  ]);
  clearTimeout(timer);
  if (done) return performance.now() - at;
  child.kill('SIGKILL');
  await exited(child);
  return null;
}
