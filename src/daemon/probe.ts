import { connect } from 'node:net';
import type { HealthCheck } from '../config/ready.ts';
import { failOnSilence } from '../protocol/silence.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import type { KeeperProcesses } from './processes.ts';

/** Connects to a unix socket and exits 0 if it answers: run as the daemon's user. */
const UNIX_PROBE =
  "require('node:net').connect(process.argv[1]).on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))";

/** How a check went: passed within its time, and how long it waited its turn first. */
export interface ProbeResult {
  readonly passed: boolean;
  readonly waitedMs: number;
}

/**
 * Makes one check of `ready=` or `health=` for a run of a daemon: passed if it did within
 * `timeoutMs`. A TCP port and a loopback URL are tried by the manager (any local user may
 * connect to them); a unix socket and a command are tried by a run of the daemon itself,
 * as its user, so the manager never connects where that user could not. Such a run
 * waits for its user's turn first (see probe-gate.ts).
 */
export async function probe(
  processes: KeeperProcesses,
  record: DaemonRecord,
  run: number,
  check: HealthCheck,
  timeoutMs: number,
): Promise<ProbeResult> {
  switch (check.kind) {
    case 'tcp':
      return { passed: await acceptsTcp(check.host, check.port, timeoutMs), waitedMs: 0 };
    case 'http':
      return { passed: await answers2xx(check.url, timeoutMs), waitedMs: 0 };
    case 'unix':
    case 'exec': {
      const command =
        check.kind === 'exec'
          ? check.command
          : `exec ${quote(process.execPath)} -e ${quote(UNIX_PROBE)} ${quote(check.path)}`;
      const waitedMs = await processes.probeTurn(record.owner);
      const result = await processes.probe(record, run, command, timeoutMs);
      return { passed: exitedZero(result), waitedMs };
    }
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
    failOnSilence(socket, timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The status line is all a check reads of an answer; a server saying more is cut off. */
const MAX_HEAD_BYTES = 4096;

/**
 * Does a GET of the URL answer 2xx within `timeoutMs`? One HTTP/1.1 request with
 * `Connection: close` on a new TCP connection, written by hand: only the status line is
 * read, then the connection is closed. Redirects are not followed (a 3xx is not ready).
 * node:http's client would do the same at several times the CPU per check, which adds
 * up over 1,000 daemons (bench/RESULTS.md).
 */
function answers2xx(url: string, timeoutMs: number): Promise<boolean> {
  const { hostname, port, pathname, search } = new URL(url);
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  const request = `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}${port === '' ? '' : `:${port}`}\r\nUser-Agent: daemon-manager health check\r\nConnection: close\r\n\r\n`;
  return new Promise((resolve) => {
    const socket = connect({ host, port: port === '' ? 80 : Number(port) });
    let head = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    failOnSilence(socket, timeoutMs, () => done(false));
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n');
      if (end === -1 && head.length < MAX_HEAD_BYTES) return;
      const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(end === -1 ? head : head.slice(0, end));
      const code = Number(status?.[1] ?? 0);
      done(code >= 200 && code < 300);
    });
    socket.once('end', () => done(false));
    socket.once('error', () => done(false));
  });
}
