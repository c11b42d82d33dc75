import { type ChildProcess, spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { ownChild } from '../process/own-children.ts';
import { deadline } from '../protocol/silence.ts';

/**
 * The upgrade (SIGUSR2) as a handover between two processes: the running manager starts
 * the new code as a process of its own, which loads, parses its config and installs its
 * signal handlers, then says `ready`. Only then does the old one let go (stops answering
 * dmctl, saves the state, detaches from the keeper, which holds the daemons, their pipes
 * and the control sockets meanwhile) and says `go`; the new one attaches to the keeper,
 * takes every daemon over and says `done`; the old one exits.
 *
 * So an upgrade whose new code does not start (a syntax error, a missing file, a config
 * that no longer parses, an exception at start-up) is refused with the reason, and the
 * old code goes on; and at every moment some process handles the manager's signals: the
 * old one until `go`, then forwarding them to the new one until `done`. (Re-executing in
 * place would leave Node's start-up, where a SIGTERM kills a process before any code of
 * ours runs, between the two.)
 *
 * The new process gets the handshake channel as descriptor 3 and the instance lock as
 * descriptor 4, so the lock is held throughout.
 */

export const HANDSHAKE_FD = 3;
export const LOCK_FD = 4;

/** The old manager's view of the new one. */
export interface Successor {
  readonly pid: number;
  /**
   * Lets go: the new process takes over. Resolves `done`; `died` if it ended while taking
   * over; `gone`, at once, if it had ended before being let go.
   */
  go(): Promise<'done' | 'died' | 'gone'>;
  /**
   * Passes one of the manager's signals on; false if the new process has ended (its pid,
   * reaped, may be another process's by now: it is never signalled).
   */
  signal(signal: NodeJS.Signals): boolean;
  /** The upgrade is off: the new process exits. */
  abort(): void;
}

function lines(socket: Socket, onLine: (line: string) => void, onEnd: () => void): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (let newline = buffered.indexOf('\n'); newline !== -1; newline = buffered.indexOf('\n')) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', onEnd);
}

/**
 * Starts the new code with these arguments; resolves once it is ready to take over, or
 * with why it is not (its exit status and what it said on stderr is in the shared log).
 */
/** How a child ended, once reaped: `exit 1`, or `killed by SIGKILL`. */
function exitOf(child: ChildProcess): string {
  return child.signalCode !== null ? `killed by ${child.signalCode}` : `exit ${child.exitCode}`;
}

export function startSuccessor(
  argv: readonly string[],
  lockFd: number,
  timeoutMs: number,
  stop?: AbortSignal,
): Promise<Successor | { error: string }> {
  let child: ChildProcess;
  try {
    // The manager's own arguments, less the `--takeover` of the upgrade that started it.
    const args = [...argv.filter((arg) => arg !== '--takeover'), '--takeover'];
    child = ownChild(
      spawn(process.execPath, [...process.execArgv, ...args], {
        stdio: ['ignore', 'inherit', 'inherit', 'pipe', lockFd],
      }),
    );
  } catch (error) {
    return Promise.resolve({ error: `cannot start the new code: ${(error as Error).message}` });
  }
  const channel = child.stdio[HANDSHAKE_FD] as Socket | null;
  if (channel === null) return Promise.resolve({ error: 'no channel to the new code' });
  return new Promise((resolve) => {
    let state: 'starting' | 'ready' | 'going' | 'over' = 'starting';
    let settleGo: ((outcome: 'done' | 'died' | 'gone') => void) | undefined;
    // Judged after the loop's next poll (see failOnSilence): libuv runs expired timers
    // before it polls, so after a stall of the old manager the new one's `ready`, said in
    // time, waited unread while the upgrade was refused and the new code killed.
    const timer = deadline(timeoutMs, () => {
      if (state !== 'starting') return;
      state = 'over';
      child.kill('SIGKILL');
      resolve({ error: `the new code was not ready within ${timeoutMs / 1000} s` });
    });
    // A stop that comes while the new code gets ready (it may wait on a name service up to
    // getent's deadline) calls the upgrade off at once: the old manager is still the one.
    stop?.addEventListener(
      'abort',
      () => {
        if (state !== 'starting') return;
        state = 'over';
        timer.cancel();
        child.kill('SIGKILL');
        resolve({ error: `called off: ${stop.reason} came while the new code got ready` });
      },
      { once: true },
    );
    // Once the child is reaped (or its channel closed), it is never signalled nor waited for.
    let gone = false;
    const ended = (): void => {
      gone = true;
      timer.cancel();
      if (state === 'starting') {
        state = 'over';
        // Its channel may close before it is reaped: its status is awaited, not guessed.
        const say = (): void =>
          resolve({
            error: `the new code ended before it was ready (${exitOf(child)}; its reason is in the log above)`,
          });
        if (child.exitCode !== null || child.signalCode !== null) say();
        else child.once('exit', say);
        return;
      }
      if (state === 'going') settleGo?.('died');
      state = 'over';
    };
    lines(
      channel,
      (line) => {
        if (line === 'ready' && state === 'starting') {
          timer.cancel();
          state = 'ready';
          resolve({
            pid: child.pid ?? 0,
            go: () =>
              new Promise((settle) => {
                if (gone) return settle('gone');
                state = 'going';
                settleGo = settle;
                channel.write('go\n');
              }),
            // Until it is reaped, however it ended the handshake (a `done` closes it).
            signal: (signal) =>
              child.exitCode === null && child.signalCode === null && child.kill(signal),
            abort: () => {
              state = 'over';
              channel.end('abort\n');
            },
          });
        } else if (line === 'done' && state === 'going') {
          state = 'over';
          settleGo?.('done');
        }
      },
      ended,
    );
    child.once('exit', () => {
      gone = true;
      if (channel.destroyed) ended();
    });
  });
}

/** The new manager's side: says ready, then waits to be let go. */
export interface Predecessor {
  /**
   * Resolves `go`; `abort` when the old manager called the upgrade off; `gone` if it died.
   * `said` runs once `ready` is on its way to the old manager.
   */
  ready(said: () => void): Promise<'go' | 'abort' | 'gone'>;
  /** Every daemon is taken over: the old manager may exit. */
  done(): void;
}

export function joinPredecessor(): Predecessor {
  const channel = new Socket({ fd: HANDSHAKE_FD, readable: true, writable: true });
  let answer: ((word: 'go' | 'abort' | 'gone') => void) | undefined;
  lines(
    channel,
    (line) => {
      if (line === 'go' || line === 'abort') answer?.(line);
    },
    () => answer?.('gone'),
  );
  return {
    ready: (said) =>
      new Promise((resolve) => {
        answer = resolve;
        channel.write('ready\n', said);
      }),
    done: () => {
      channel.end('done\n');
    },
  };
}
