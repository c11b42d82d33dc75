import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { type CommandResult, DAEMON_MANAGER, DMCTL, run, type TestHost } from './host.ts';
import { isAlive } from './proc.ts';
import { waitFor } from './wait.ts';

/** Runs the real dmctl as a sandbox user ('root' for root) with extra environment variables (EDITOR, ...). */
export function dmctlWithEnv(
  host: TestHost,
  short: string,
  env: Readonly<Record<string, string>>,
  ...args: string[]
): Promise<CommandResult> {
  const assignments = Object.entries(env).map(([name, value]) => `${name}=${value}`);
  const as = short === 'root' ? [] : ['runuser', '-u', host.user(short).name, '--'];
  return run([...as, 'env', ...assignments, DMCTL], ['--config', host.configFile, ...args]);
}

/** A long-running program started by a test, with its output so far. */
export interface Spawned {
  readonly child: ChildProcess;
  output(): string;
  /** Kills its whole process group and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts a command in its own process group (so that `stop` reaches whatever it started,
 * such as the `tail` under `dmctl tail`), collecting stdout and stderr together.
 */
export function spawnCollecting(command: readonly string[], env?: NodeJS.ProcessEnv): Spawned {
  const [file, ...args] = command;
  const child = spawn(file ?? 'false', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: env ?? process.env,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await exited;
    },
  };
}

/** `dmctl ID tail` as a sandbox user, running until stopped. */
export function spawnDmctl(host: TestHost, short: string, ...args: string[]): Spawned {
  return spawnCollecting([
    'runuser',
    '-u',
    host.user(short).name,
    '--',
    DMCTL,
    '--config',
    host.configFile,
    ...args,
  ]);
}

/**
 * Runs the manager (foreground) on the sandbox's master config, expecting it to refuse
 * to start. A manager that starts anyway is killed after `timeoutMs` and reported with
 * code -1, so the test fails instead of hanging.
 */
export async function runManagerExpectingExit(
  host: TestHost,
  timeoutMs = 15_000,
  extraArgs: readonly string[] = [],
): Promise<CommandResult> {
  const manager = spawnCollecting([
    DAEMON_MANAGER,
    '--config',
    host.configFile,
    '--foreground',
    ...extraArgs,
  ]);
  // 'close' comes once the output is complete, after 'exit'.
  const exit = new Promise<number>((resolve) =>
    manager.child.once('close', (code) => resolve(code ?? -1)),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<number>((resolve) => {
    timer = setTimeout(() => resolve(-1), timeoutMs);
  });
  const code = await Promise.race([exit, timeout]);
  clearTimeout(timer);
  await manager.stop();
  return { code, stdout: '', stderr: manager.output() };
}

/** Reads a file once it exists and `ready` accepts its text. */
export function readWhen(
  path: string,
  ready: (text: string) => boolean,
  what = `${path} to be written`,
): Promise<string> {
  let last = '';
  return waitFor(
    what,
    () => {
      if (!existsSync(path)) return undefined;
      last = readFileSync(path, 'utf8');
      return ready(last) ? last : undefined;
    },
    { describe: () => JSON.stringify(last) },
  );
}

/** Waits until a process is dead (gone or a zombie). */
export function waitForDeath(pid: number, what: string): Promise<true> {
  return waitFor(`${what} (pid ${pid}) to die`, () => (isAlive(pid) ? undefined : true));
}

/** The real uid of a living process. */
export function uidOfPid(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const line = /^Uid:\s+(\d+)/m.exec(status);
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A personal manager of the sandbox user `short`, in the foreground. */
export function spawnPersonal(host: TestHost, short: string): Spawned {
  return spawnCollecting([
    'runuser',
    '-u',
    host.user(short).name,
    '--',
    DAEMON_MANAGER,
    '--personal',
    '-f',
  ]);
}

/** The command name of a process (/proc/PID/comm), or undefined once it is gone. */
export function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'latin1').trim();
  } catch {
    return undefined;
  }
}

/**
 * For `afterEach`: when a test failed, prints the end of the manager's log, so that a
 * failure seen once (in CI, say) can be explained without running it again.
 */
export function showLogIfFailed(log: () => string): (t: { readonly name: string }) => void {
  return (t) => {
    // `passed` exists at run time (Node 21 and later); @types/node does not declare it yet.
    if ((t as { passed?: boolean }).passed !== false) return;
    process.stderr.write(`--- manager log after '${t.name}' failed:\n${log().slice(-6000)}\n---\n`);
  };
}

/**
 * `host.cleanup()`, but a manager that does not stop within `timeoutMs` of SIGTERM is
 * killed first and reported as a failure, instead of hanging the test run.
 */
export async function cleanUp(host: TestHost, timeoutMs = 30_000): Promise<void> {
  const pid = host.managerPid();
  let stuck: Error | undefined;
  if (pid !== 0 && isAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    try {
      await waitFor('the manager to exit after SIGTERM', () => (isAlive(pid) ? undefined : true), {
        timeoutMs,
        describe: () => host.managerLog.slice(-4000),
      });
    } catch (error) {
      stuck = error as Error;
      process.kill(pid, 'SIGKILL');
    }
  }
  await host.cleanup();
  if (stuck) throw stuck;
}
