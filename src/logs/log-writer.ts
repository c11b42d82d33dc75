import { closeSync, write, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';

/** Rotation and formatting of one daemon's log. */
export interface LogOptions {
  /** Rotate when the file would grow past this many bytes; 0 never rotates. */
  readonly maxBytes: number;
  /** How many rotated files (`NAME.log.1` ...) are kept. */
  readonly keep: number;
  /** Prefix each line with the time it was read. */
  readonly timestamps: boolean;
}

/** The file operations, done by the manager as the log's owner. */
export interface LogFileOps {
  open(): { fd: number; size: number } | { error: string };
  /** Renames NAME.log to NAME.log.1, .1 to .2 ... dropping the oldest. */
  rotate(keep: number): string | undefined;
  /** Reports a problem (once per episode, not per write). */
  warn(message: string): void;
}

/**
 * Copies a daemon's output (stdout and stderr share one pipe, one for the daemon's whole
 * life, kept by dm-keeper, which also writes each run's start banner into it) into its
 * log, one chunk at a time: reading pauses until the chunk is on disk, so a daemon that
 * writes faster than the disk takes is slowed down by its full pipe and the manager never
 * buffers more than a chunk. Because the manager owns the file, it can rotate by size
 * (between lines) and reopen for an external logrotate without the daemon noticing.
 */
export class LogWriter {
  private fd: number | undefined;
  private size = 0;
  private atLineStart = true;
  /** What was last written to the file ends a line (a rotation may come now). */
  private fileEndsLine = true;
  private failing = false;
  private quiescing = false;
  private draining = false;
  private pending = 0;
  /** Writes in flight by descriptor, and descriptors to close once theirs are done. */
  private readonly inFlight = new Map<number, number>();
  private readonly retired = new Set<number>();
  private idleWaiters: (() => void)[] = [];
  private readonly streams = new Set<Readable>();
  private readonly options: LogOptions;
  private readonly ops: LogFileOps;
  /** Bytes that could not be written (disk full, file unwritable), since the start. */
  dropped = 0;

  constructor(options: LogOptions, ops: LogFileOps) {
    this.options = options;
    this.ops = ops;
    this.reopen();
  }

  /** Reads a daemon's output pipe until its end; `ended` is called then. */
  attach(stream: Readable, ended: () => void = () => {}): void {
    this.streams.add(stream);
    stream.on('error', () => stream.destroy());
    stream.on('close', () => {
      this.streams.delete(stream);
      ended();
    });
    stream.on('data', (chunk: Buffer) => {
      // read() in drain() emits 'data' too: that chunk is drain's to write, not ours.
      if (this.draining) return;
      stream.pause();
      this.append(chunk, () => {
        if (!this.quiescing) stream.resume();
      });
    });
    if (this.quiescing) stream.pause();
  }

  /** Stops reading (first step of an upgrade's handover). */
  pause(): void {
    this.quiescing = true;
    for (const stream of this.streams) stream.pause();
  }

  /** Resolves once every pipe has reached its end and everything read is on disk. */
  async finished(): Promise<void> {
    while (this.streams.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await this.idle();
  }

  /** Resolves once every chunk read so far is on disk. */
  async idle(): Promise<void> {
    while (this.pending > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Writes what the paused streams still buffer and returns the descriptors of the open
   * pipes. Synchronous: called right before execve, with no turn of the event loop in
   * between, so what is still in the pipes stays in the kernel for the next instance.
   */
  drain(): number[] {
    const fds: number[] = [];
    this.draining = true;
    try {
      for (const stream of this.streams) {
        for (
          let chunk = stream.read() as Buffer | null;
          chunk !== null;
          chunk = stream.read() as Buffer | null
        )
          this.appendNow(chunk);
        const fd = (stream as unknown as { _handle?: { fd?: number } })._handle?.fd;
        if (fd !== undefined && fd >= 0) fds.push(fd);
      }
    } finally {
      this.draining = false;
    }
    return fds;
  }

  /** Undoes `pause` (the upgrade failed): reading goes on. */
  resume(): void {
    this.quiescing = false;
    for (const stream of this.streams) stream.resume();
  }

  /** Closes and opens the file again: after an external logrotate moved it away. */
  reopen(): void {
    this.closeFile();
    const opened = this.ops.open();
    if ('error' in opened) {
      this.report(opened.error);
      return;
    }
    this.fd = opened.fd;
    this.size = opened.size;
    this.failing = false;
  }

  close(): void {
    this.closeFile();
  }

  private append(chunk: Buffer, done: () => void): void {
    this.writeRaw(this.format(chunk), done);
  }

  /** Writes a chunk before returning (the handover's last chunks, right before execve). */
  private appendNow(chunk: Buffer): void {
    const data = this.format(chunk);
    try {
      if (this.fd === undefined) throw new Error('no log file');
      writeSync(this.fd, data);
      this.size += data.length;
    } catch {
      this.dropped += data.length;
    }
  }

  private format(chunk: Buffer): Buffer {
    const data = this.options.timestamps ? this.stamp(chunk) : chunk;
    this.atLineStart = chunk[chunk.length - 1] === 10;
    return data;
  }

  /**
   * Writes a chunk, rotating first when it would grow the file past the limit. The old
   * file ends at a line's end: a line under way is finished there, and the rest of the
   * chunk begins the new file (only a line longer than the limit itself is cut).
   */
  private writeRaw(data: Buffer, done: () => void): void {
    const { maxBytes } = this.options;
    if (maxBytes > 0 && this.size > 0 && this.size + data.length > maxBytes) {
      const lineEnd = this.fileEndsLine ? 0 : data.indexOf(10) + 1;
      if (this.fileEndsLine || this.size > 2 * maxBytes) this.rotate();
      else if (lineEnd > 0) {
        this.writeAll(data.subarray(0, lineEnd), () => {
          this.rotate();
          this.writeAll(data.subarray(lineEnd), done);
        });
        return;
      }
    }
    this.writeAll(data, done);
  }

  private writeAll(data: Buffer, done: () => void): void {
    if (data.length > 0) this.fileEndsLine = data[data.length - 1] === 10;
    if (this.fd === undefined) this.reopen();
    const fd = this.fd;
    if (fd === undefined) {
      this.dropped += data.length;
      done();
      return;
    }
    this.pending++;
    this.inFlight.set(fd, (this.inFlight.get(fd) ?? 0) + 1);
    write(fd, data, 0, data.length, null, (error, written) => {
      this.pending--;
      this.settle(fd);
      if (this.pending === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      if (error) {
        this.dropped += data.length;
        this.report(`cannot write (${error.code}); output is being dropped`);
      } else {
        if (fd === this.fd) this.size += written;
        this.failing = false;
        if (written < data.length) return this.writeAll(data.subarray(written), done);
      }
      done();
    });
  }

  private rotate(): void {
    this.closeFile();
    const problem = this.ops.rotate(this.options.keep);
    if (problem !== undefined) this.report(problem);
    this.reopen();
  }

  private stamp(chunk: Buffer): Buffer {
    const time = Buffer.from(`${new Date().toISOString()} `);
    const parts: Buffer[] = [];
    let start = 0;
    while (start < chunk.length) {
      if (this.atLineStart) parts.push(time);
      const newline = chunk.indexOf(10, start);
      const end = newline === -1 ? chunk.length : newline + 1;
      parts.push(chunk.subarray(start, end));
      this.atLineStart = newline !== -1;
      start = end;
    }
    return Buffer.concat(parts);
  }

  private report(message: string): void {
    if (this.failing) return;
    this.failing = true;
    this.ops.warn(message);
  }

  /**
   * Closing a descriptor while a write on it waits in libuv's thread pool would fail that
   * write (EBADF: a chunk lost at each SIGUSR1 or rotation) or, were the number reused
   * meanwhile, send the chunk to another file. Such a descriptor is closed by `settle`.
   */
  private closeFile(): void {
    if (this.fd === undefined) return;
    if (this.inFlight.has(this.fd)) this.retired.add(this.fd);
    else closeQuietly(this.fd);
    this.fd = undefined;
  }

  /** Counts a write on `fd` done; closes `fd` if it was retired and this was its last. */
  private settle(fd: number): void {
    const left = (this.inFlight.get(fd) ?? 1) - 1;
    if (left > 0) {
      this.inFlight.set(fd, left);
      return;
    }
    this.inFlight.delete(fd);
    if (this.retired.delete(fd)) closeQuietly(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}
