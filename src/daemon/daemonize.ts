import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { deadline } from '../protocol/silence.ts';

const START_TIMEOUT_MS = 60_000;

/** The variable that tells the manager in the background which descriptor to answer on. */
export const READY_FD_VARIABLE = 'DAEMON_MANAGER_READY_FD';

/**
 * Starts the manager again in the background (its own session, `--foreground`, output
 * to `logFile`) and returns once it says, on a pipe of its own, that it runs (it holds
 * the lock, its pidfile is written, its daemons are loaded), or reports why it died. A
 * socket that answers is no proof: a keeper left by a crashed manager holds it; nor is
 * its log, which may go to syslog.
 */
export async function daemonize(logFile: string): Promise<number> {
  const log = openSync(logFile, 'a', 0o600);
  const child = spawn(
    process.execPath,
    [...process.execArgv, ...process.argv.slice(1), '--foreground'],
    {
      detached: true,
      stdio: ['ignore', log, log, 'pipe'],
      env: { ...process.env, [READY_FD_VARIABLE]: '3' },
    },
  );
  closeSync(log);
  let text = '';
  const said = await new Promise<boolean>((resolve) => {
    // After the next poll: a launcher held up past it still reads a `running` said in time.
    const timer = deadline(START_TIMEOUT_MS, () => resolve(false));
    const ready = child.stdio[3] as Readable | null;
    // `running` on a line of its own: a failure's words (`failed: ...`) may say it too.
    const runs = (): boolean => /^running$/m.test(text);
    ready?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (runs()) {
        timer.cancel();
        resolve(true);
      }
    });
    ready?.on('error', () => {});
    child.once('exit', () => {
      timer.cancel();
      resolve(runs());
    });
  });
  (child.stdio[3] as Readable | null)?.destroy();
  if (said) {
    process.stdout.write(
      `daemon-manager running in the background, pid ${child.pid}; log: ${logFile}\n`,
    );
    child.unref();
    return 0;
  }
  // Its own words, when it said why (see tellLauncherFailed); else what its log ends with.
  const at = text.search(/(^|\n)failed: /);
  const failed =
    at === -1 ? undefined : text.slice(text.indexOf('failed: ', at) + 'failed: '.length);
  if (failed !== undefined) {
    process.stderr.write(`${failed.trimEnd()}\n`);
    return 1;
  }
  const tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
  process.stderr.write(`daemon-manager failed to start; the end of ${logFile}:\n${tail}\n`);
  return 1;
}

/** Tells the launcher why the manager does not start (the rest of the pipe's text). */
export function tellLauncherFailed(fd: number | undefined, message: string): void {
  if (fd === undefined) return;
  try {
    writeSync(fd, `failed: ${message.trimEnd()}\n`);
  } catch {
    // The launcher is gone: nobody to tell.
  }
}

/**
 * The launcher's pipe, when this manager was started in the background by daemonize: the
 * descriptor, taken out of the environment so that nothing started later inherits it.
 */
export function launcherPipe(): number | undefined {
  const fd = Number(process.env[READY_FD_VARIABLE]);
  delete process.env[READY_FD_VARIABLE];
  return Number.isInteger(fd) && fd > 2 ? fd : undefined;
}

/** Tells the launcher the manager runs, and lets go of its pipe. */
export function tellLauncher(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    writeSync(fd, 'running\n');
  } catch {
    // The launcher is gone (killed): nobody to tell.
  }
  closeSync(fd);
}
