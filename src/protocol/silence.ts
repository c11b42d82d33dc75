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

/** A deadline that can be called off (see `deadline`). */
export interface Deadline {
  cancel(): void;
}

/**
 * Calls `expire` once `ms` have passed, judged after the event loop's next poll (see
 * failOnSilence): what came in time and waits unread is read first, and may cancel it.
 */
export function deadline(ms: number, expire: () => void): Deadline {
  let cancelled = false;
  const timer = setTimeout(() => {
    setImmediate(() => {
      if (!cancelled) expire();
    });
  }, ms);
  return {
    cancel: () => {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}
