import type { Socket } from 'node:net';

/**
 * Calls `fail` once the socket has been idle for `timeoutMs`, judged after the event
 * loop's next poll: libuv runs expired timers before it polls sockets, so after a stall
 * of the manager (a starved CPU, another user's load, a SIGSTOP) the timeout came first
 * while what had come in time waited unread: a healthy daemon's check failed, a client's
 * request was cut off unanswered. Anything read or written since puts the timeout off
 * (net refreshes it then). `setTimeout(0)` on the socket ends the watch.
 */
export function failOnSilence(socket: Socket, timeoutMs: number, fail: () => void): void {
  const progress = (): string =>
    `${socket.connecting} ${socket.bytesRead} ${socket.bytesWritten} ${socket.writableLength}`;
  socket.setTimeout(Math.max(1, timeoutMs), () => {
    const seen = progress();
    setImmediate(() => {
      if (progress() === seen) fail();
    });
  });
}
