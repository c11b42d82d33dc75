import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type AskLoop, type Call, repeatAsking } from './latency-loop.ts';

/**
 * One request on a control socket from a client already running (this process): the
 * manager's own answer time, without the seconds a new Node client (dmctl) spends
 * starting on a machine whose cores are busy forking.
 */
export function askSocket(path: string, request: string, timeoutMs: number): Promise<Call> {
  return new Promise((resolve) => {
    const at = performance.now();
    const socket = connect(path);
    let reply = '';
    const finish = (error: string): void => {
      socket.destroy();
      resolve({
        at,
        ms: performance.now() - at,
        ok: error === '',
        error,
        output: reply.slice(0, 200),
      });
    };
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => finish(`no answer within ${timeoutMs} ms`));
    socket.once('connect', () => socket.write(`${request}\n`));
    socket.on('data', (chunk: string) => {
      reply += chunk;
    });
    socket.once('error', (error) => finish(error.message));
    socket.once('end', () => finish(answeredOk(reply) ? '' : `answered ${reply.slice(0, 100)}`));
  });
}

function answeredOk(reply: string): boolean {
  try {
    return (JSON.parse(reply) as { ok?: unknown }).ok === true;
  } catch {
    return false;
  }
}

/** The same request asked again and again, one at a time (see askInLoop). */
export function askSocketInLoop(path: string, request: string, timeoutMs: number): AskLoop {
  return repeatAsking(() => askSocket(path, request, timeoutMs));
}
