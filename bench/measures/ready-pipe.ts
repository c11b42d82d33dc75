import { execFileSync } from 'node:child_process';
import { constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** One line a daemon wrote to the pipe: `ready NAME PID` or `done NAME PID`. */
export interface ReadyLine {
  readonly word: string;
  readonly name: string;
  readonly pid: number;
  /** A fourth word, if the daemon wrote one (the crash storm's run start time); else ''. */
  readonly start: string;
  /** A fifth word, if the daemon wrote one (the crash storm's /proc/uptime); else ''. */
  readonly clock: string;
  /** performance.now() when the bench read it. */
  readonly at: number;
}

/**
 * The readiness handshake: every daemon of the workload writes `ready NAME $$` to one
 * FIFO, then execs `sleep`. A line under PIPE_BUF (4096) bytes is written atomically, so
 * a thousand daemons starting at once never interleave. The bench opens the FIFO O_RDWR:
 * Linux allows it, it never blocks, and with a writer of its own the reader never sees
 * EOF when the daemons close their end. Node reads a FIFO through net.Socket (a libuv
 * pipe on the event loop), which wakes the bench the moment a line arrives.
 */
export class ReadyPipe {
  readonly path: string;
  private readonly socket: Socket;
  private carry = '';
  private readonly latest = new Map<string, ReadyLine>();
  private readonly waiters: { test: (line: ReadyLine) => boolean; done: () => void }[] = [];
  private readonly listeners: ((line: ReadyLine) => void)[] = [];
  /** How many `ready` lines arrived, over the pipe's whole life. */
  readyCount = 0;

  constructor(path: string) {
    this.path = path;
    execFileSync('mkfifo', ['-m', '0600', path]);
    const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    this.socket = new Socket({ fd, readable: true, writable: false });
    this.socket.setEncoding('latin1');
    this.socket.on('data', (text: string) => this.take(text));
  }

  /** Calls `listener` with every line from now on. */
  onLine(listener: (line: ReadyLine) => void): void {
    this.listeners.push(listener);
  }

  /** The last line a daemon wrote, with the pid it had then. */
  last(name: string): ReadyLine | undefined {
    return this.latest.get(name);
  }

  /** Resolves at the first line (from now on) that passes `test`. */
  next(test: (line: ReadyLine) => boolean, what: string, timeoutMs: number): Promise<ReadyLine> {
    return new Promise((resolve, reject) => {
      let found: ReadyLine | undefined;
      const timer = setTimeout(() => {
        this.drop(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = {
        test: (line: ReadyLine): boolean => {
          if (!test(line)) return false;
          found = line;
          return true;
        },
        done: (): void => {
          clearTimeout(timer);
          if (found) resolve(found);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Resolves once `count` ready lines in all have arrived; returns when the last did. */
  async readyTotal(count: number, what: string, timeoutMs: number): Promise<number> {
    if (this.readyCount >= count) return performance.now();
    const line = await this.next(() => this.readyCount >= count, what, timeoutMs).catch(
      (error: unknown) => {
        throw new Error(`${(error as Error).message} (${this.readyCount} of ${count} so far)`);
      },
    );
    return line.at;
  }

  close(): void {
    this.socket.destroy();
  }

  private take(text: string): void {
    const at = performance.now();
    const lines = (this.carry + text).split('\n');
    this.carry = lines.pop() ?? '';
    for (const raw of lines) {
      const [word = '', name = '', pid = '0', start = '', clock = ''] = raw.trim().split(' ');
      const line = { word, name, pid: Number(pid), start, clock, at };
      this.latest.set(name, line);
      if (word === 'ready') this.readyCount++;
      for (const listener of this.listeners) listener(line);
      for (const waiter of [...this.waiters])
        if (waiter.test(line)) {
          this.drop(waiter);
          waiter.done();
        }
    }
  }

  private drop(waiter: (typeof this.waiters)[number]): void {
    const index = this.waiters.indexOf(waiter);
    if (index >= 0) this.waiters.splice(index, 1);
  }
}
