import { existsSync, readFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';

/** Where a test connects: a unix socket's path, or a TCP port on 127.0.0.1 (or `host`). */
export type Target = { readonly path: string } | { readonly port: number; readonly host?: string };

/** Connects once and hangs up: `ok`, or the error's code (ECONNREFUSED, ENOENT ...). */
export function tryConnect(target: Target): Promise<string> {
  return new Promise((resolve) => {
    const socket =
      'path' in target
        ? netConnect(target.path)
        : netConnect(target.port, target.host ?? '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('ok');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** A TCP port free on 127.0.0.1 now (the kernel chose it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** What listen-report.sh said, run by run: pid, LISTEN_* and what fds 0 and 3 are. */
export interface ListenReport {
  readonly pid: number;
  readonly listenPid: string;
  readonly fds: string;
  readonly names: string;
  readonly fd0: string;
  readonly fd3: string;
}

/** Every report in a daemon's log, oldest first. */
export function listenReports(logFile: string): ListenReport[] {
  if (!existsSync(logFile)) return [];
  return [
    ...readFileSync(logFile, 'utf8').matchAll(
      /^listen-report pid=(\d+) LISTEN_PID=(\S*) LISTEN_FDS=(\S*) LISTEN_FDNAMES=(\S*) fd0=(\S+) fd3=(\S+)$/gm,
    ),
  ].map(([, pid, listenPid, fds, names, fd0, fd3]) => ({
    pid: Number(pid),
    listenPid: listenPid ?? '',
    fds: fds ?? '',
    names: names ?? '',
    fd0: fd0 ?? '',
    fd3: fd3 ?? '',
  }));
}
