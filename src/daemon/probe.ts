import { connect } from 'node:net';
import type { HealthCheck } from '../config/ready.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import type { KeeperProcesses } from './processes.ts';

/** Connects to a unix socket and exits 0 if it answers: run as the daemon's user. */
const UNIX_PROBE =
  "require('node:net').connect(process.argv[1]).on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))";

/**
 * Makes one check of `ready=` or `health=` for a run of a daemon: true if it passed
 * within `timeoutMs`. A TCP port and a loopback URL are tried by the manager (any local
 * user may connect to them); a unix socket and a command are tried by a run of the
 * daemon itself, as its user, so the manager never connects where that user could not.
 */
export async function probe(
  processes: KeeperProcesses,
  record: DaemonRecord,
  run: number,
  check: HealthCheck,
  timeoutMs: number,
): Promise<boolean> {
  switch (check.kind) {
    case 'tcp':
      return acceptsTcp(check.host, check.port, timeoutMs);
    case 'http':
      return answers2xx(check.url, timeoutMs);
    case 'unix': {
      const command = `exec ${quote(process.execPath)} -e ${quote(UNIX_PROBE)} ${quote(check.path)}`;
      return exitedZero(await processes.probe(record, run, command, timeoutMs));
    }
    case 'exec':
      return exitedZero(await processes.probe(record, run, check.command, timeoutMs));
  }
}

function exitedZero(result: { code?: number | null; error?: string }): boolean {
  return result.error === undefined && result.code === 0;
}

/** A word for /bin/sh, quoted whatever it holds. */
function quote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}

/** Does something accept a TCP connection there within `timeoutMs`? */
function acceptsTcp(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ready: boolean): void => {
      socket.destroy();
      resolve(ready);
    };
    socket.setTimeout(Math.max(1, timeoutMs), () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Does a GET of the URL answer 2xx within `timeoutMs`? Redirects are not followed (a
 * 3xx is not ready), the body is never read, and no connection is kept for the next
 * check: a new one each time, closed once the status line is in. node:http is loaded
 * on the first such check, as for metrics: a manager without one never loads it.
 */
async function answers2xx(url: string, timeoutMs: number): Promise<boolean> {
  const { request } = await import('node:http');
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      call.destroy();
      resolve(ok);
    };
    const call = request(url, {
      method: 'GET',
      agent: false,
      headers: { 'user-agent': 'daemon-manager health check', connection: 'close' },
    });
    const timer = setTimeout(() => done(false), Math.max(1, timeoutMs));
    call.once('response', (response) => {
      const status = response.statusCode ?? 0;
      response.destroy();
      done(status >= 200 && status < 300);
    });
    call.once('error', () => done(false));
    call.end();
  });
}
