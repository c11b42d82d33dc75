import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

const START_TIMEOUT_MS = 60_000;

/**
 * Starts the manager again in the background (its own session, `--foreground`, its log
 * to `logFile`, which it rotates) and returns once its control socket answers, or
 * reports why it died. Its stdout and stderr go to that file too, for what is said
 * before the log is open (and a fatal error of Node itself).
 * Readiness is judged from outside, by connecting, so the background manager holds no
 * extra descriptor that its daemons could inherit.
 */
export async function daemonize(logFile: string, socket: string): Promise<number> {
  const log = openSync(logFile, 'a', 0o600);
  const child = spawn(
    process.execPath,
    [...process.execArgv, ...process.argv.slice(1), '--foreground', '--log-file', logFile],
    {
      detached: true,
      stdio: ['ignore', log, log],
    },
  );
  closeSync(log);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!exited && Date.now() < deadline) {
    if (await answers(socket)) {
      process.stdout.write(
        `daemon-manager running in the background, pid ${child.pid}; log: ${logFile}\n`,
      );
      child.unref();
      return 0;
    }
    await delay(50);
  }
  const tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
  process.stderr.write(`daemon-manager failed to start; the end of ${logFile}:\n${tail}\n`);
  return 1;
}

/** Is a manager answering on this socket? */
export function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
