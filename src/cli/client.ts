import { connect } from 'node:net';
import type { Request, Response } from '../protocol/messages.ts';
import { failOnSilence } from '../protocol/silence.ts';

/** Why a request got no answer: no manager there, or not allowed to connect. */
export class ConnectError extends Error {
  readonly code: string;
  constructor(path: string, code: string) {
    super(`cannot connect to ${path} (${code})`);
    this.code = code;
  }
}

/** How long a request waits for its answer, unless its caller says otherwise (`--wait`). */
export const REPLY_TIMEOUT_MS = 30_000;

/** Whether a request's error says the manager did not answer it in time. */
export function isNoAnswer(error: string): boolean {
  return error.startsWith('no answer within ');
}

/** Why a request got no answer: the manager closed its connection first. */
const CUT_OFF = 'the manager closed the connection before it answered';

/**
 * Whether a request's error says its connection was closed before the answer: an upgrade
 * (SIGUSR2) hands over, or the manager was killed; what it did with the request is unknown.
 */
export function isCutOff(error: string): boolean {
  return error.startsWith(CUT_OFF);
}

/** Sends one request on a control socket and reads the one-line answer. */
export function send(
  path: string,
  request: Request,
  timeoutMs = REPLY_TIMEOUT_MS,
  signal?: AbortSignal,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    // Given up (`--wait` at its deadline): an open socket would keep dmctl alive until
    // the manager answered.
    signal?.addEventListener('abort', () => socket.destroy(new Error('given up')), { once: true });
    let reply = '';
    let connected = false;
    socket.setEncoding('utf8');
    // Judged after the next poll: a dmctl stopped (Ctrl-Z) or starved past the timeout
    // reads an answer that came in time instead of saying there was none.
    failOnSilence(socket, timeoutMs, () =>
      socket.destroy(
        new Error(
          connected
            ? `no answer within ${Math.round(timeoutMs / 1000)} s on ${path}: the manager is down while its keeper holds its socket (see its log, or systemctl status daemon-manager), or it is overloaded; the request is not carried out unless the manager had begun it`
            : `no connection within ${Math.round(timeoutMs / 1000)} s to ${path}`,
        ),
      ),
    );
    socket.once('connect', () => {
      connected = true;
      socket.write(`${JSON.stringify(request)}\n`);
    });
    socket.on('data', (chunk: string) => {
      reply += chunk;
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (!connected) reject(new ConnectError(path, error.code ?? error.message));
      else if (error.code === 'ECONNRESET' || error.code === 'EPIPE')
        reject(new Error(`${CUT_OFF} (${error.code}) on ${path}`));
      else reject(error);
    });
    socket.once('end', () => {
      // Taken for an answer, an upgrade's hand-over ended `start --wait` at once, "unreadable
      // answer", while the run went on in the new manager (outside review 18c, 1).
      if (reply === '') return reject(new Error(`${CUT_OFF} on ${path}`));
      try {
        resolve(JSON.parse(reply) as Response);
      } catch {
        reject(new Error('the manager sent an unreadable answer'));
      }
    });
  });
}
