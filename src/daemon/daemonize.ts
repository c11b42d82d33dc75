import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';

/** Names the descriptor on which a background manager says it is ready (or why not). */
export const READY_FD_VARIABLE = 'DAEMON_MANAGER_READY_FD';

/**
 * Starts the manager again in the background, in its own session, logging to `logFile`,
 * and waits until it says "ready" on a pipe: so `daemon-manager` returns only once the
 * sockets answer, and a failed start is reported here rather than lost in a log.
 */
export function daemonize(logFile: string): Promise<number> {
  const log = openSync(logFile, 'a', 0o600);
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', log, log, 'pipe'],
    env: { ...process.env, [READY_FD_VARIABLE]: '3' },
  });
  const pipe = child.stdio[3];
  return new Promise((resolve) => {
    let said = '';
    pipe?.on('data', (chunk: Buffer) => {
      said += chunk.toString();
    });
    pipe?.on('close', () => {
      if (said.startsWith('ready')) {
        process.stdout.write(
          `daemon-manager running in the background, pid ${child.pid}; log: ${logFile}\n`,
        );
        child.unref();
        resolve(0);
      } else {
        process.stderr.write(said || `daemon-manager failed to start; see ${logFile}\n`);
        resolve(1);
      }
    });
  });
}
