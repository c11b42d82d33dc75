import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

const START_TIMEOUT_MS = 60_000;

/**
 * Starts the manager again in the background (its own session, `--foreground`, output
 * to `logFile`) and returns once it says, in that log, that it runs (it holds the lock,
 * its pidfile is written, its daemons are loaded), or reports why it died. A socket that
 * answers is no proof: a keeper left by a crashed manager holds it.
 */
export async function daemonize(logFile: string): Promise<number> {
  const log = openSync(logFile, 'a', 0o600);
  const from = fstatSync(log).size;
  const child = spawn(
    process.execPath,
    [...process.execArgv, ...process.argv.slice(1), '--foreground'],
    { detached: true, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const running = ` running, pid ${child.pid}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!exited && Date.now() < deadline) {
    if (readFileSync(logFile).subarray(from).toString('utf8').includes(running)) {
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
