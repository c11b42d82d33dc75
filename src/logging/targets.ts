import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  type Stats,
  statSync,
  writeSync,
} from 'node:fs';
import { Socket } from 'node:net';
import { rotateLogFiles } from '../logs/log-file.ts';
import type { Level } from './logger.ts';
import { journalRecord, syslogRecord, textLine } from './records.ts';

/** What became of one record: written, not now (try again later), or never. */
export type SendResult = 'ok' | 'busy' | { readonly failed: string };

/** One line of the log, as the sink keeps it until a target takes it. */
export interface LogEntry {
  readonly level: Level;
  readonly message: string;
  readonly time: Date;
}

/** One place a log can go. `send` never blocks and never throws. */
export interface Target {
  /** Says where, in a notice: `stderr`, `/var/lib/daemon-manager/daemon-manager.log`. */
  readonly name: string;
  send(level: Level, message: string, time: Date): SendResult;
  reopen(): void;
  close(): void;
  /**
   * Set by the sink, for a target that learns of a failure later than `send` (an
   * asynchronous write): the reason, and the lines that did not get through.
   */
  onFailure?: ((reason: string, unsent: readonly LogEntry[]) => void) | undefined;
}

/** Sends one datagram (the addon's sendDatagram). */
export type SendDatagram = (path: string, data: Buffer) => void;

// A full receiver, or a disk without room: worth trying again later.
const PASSING = new Set(['EAGAIN', 'EWOULDBLOCK', 'ENOBUFS', 'ENOSPC', 'EDQUOT', 'EINTR']);

function outcome(error: unknown): SendResult {
  const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
  return PASSING.has(code) ? 'busy' : { failed: code };
}

/**
 * Text lines on a descriptor opened non-blocking: a pipe whose reader stopped reading
 * gives EAGAIN (try later) instead of blocking the manager, and one whose reader is gone
 * gives EPIPE (Node ignores SIGPIPE), so the sink moves on instead of writing errors
 * about errors. A partial write keeps the rest for the next try.
 */
class DescriptorTarget implements Target {
  readonly name: string;
  private fd: number | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private readonly open: () => number;

  constructor(name: string, open: () => number) {
    this.name = name;
    this.open = open;
    this.fd = open();
  }

  send(level: Level, message: string, time: Date): SendResult {
    if (this.fd === undefined) return { failed: 'closed' };
    if (this.pending.length === 0) this.pending = Buffer.from(textLine(level, message, time));
    try {
      while (this.pending.length > 0) {
        const written = writeSync(this.fd, this.pending);
        this.pending = this.pending.subarray(written);
      }
      return 'ok';
    } catch (error) {
      return outcome(error);
    }
  }

  reopen(): void {
    this.close();
    try {
      this.fd = this.open();
    } catch {
      this.fd = undefined; // The next send says so, and the sink falls back.
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * The manager's stderr. A pipe or a terminal is reopened as a new open file description
 * (through /proc/self/fd/2), so that O_NONBLOCK there does not change the descriptor
 * others share (a shell's pipeline). A socket (what Node's spawn and systemd give)
 * cannot be reopened: it is written through libuv, asynchronously. Throws when stderr is
 * closed.
 */
export function stderrTarget(): Target {
  const { O_WRONLY, O_APPEND, O_NONBLOCK } = constants;
  if (fstatSync(2).isSocket()) return new SocketTarget(2);
  return new DescriptorTarget('stderr', () =>
    openSync('/proc/self/fd/2', O_WRONLY | O_APPEND | O_NONBLOCK),
  );
}

/** Bytes a socket may hold unsent before it counts as busy. */
const SOCKET_BACKLOG = 64 * 1024;

/**
 * Text lines on a stream socket, written asynchronously: a reader that stops reading
 * makes the backlog grow (busy), one that is gone makes an error, after which every
 * send fails and the sink moves on.
 */
class SocketTarget implements Target {
  readonly name = 'stderr';
  onFailure?: ((reason: string, unsent: readonly LogEntry[]) => void) | undefined;
  private readonly socket: Socket;
  private failure: string | undefined;
  /** Lines handed to the socket and not yet written, in order. */
  private readonly inFlight: LogEntry[] = [];

  constructor(fd: number) {
    this.socket = new Socket({ fd, readable: false, writable: true });
    this.socket.unref();
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      this.failure = error.code ?? 'EIO';
      this.socket.destroy();
      const unsent = this.inFlight.splice(0);
      this.onFailure?.(`cannot write to ${this.name} (${this.failure})`, unsent);
    });
  }

  send(level: Level, message: string, time: Date): SendResult {
    if (this.failure !== undefined || this.socket.destroyed)
      return { failed: this.failure ?? 'closed' };
    if (this.socket.writableLength > SOCKET_BACKLOG) return 'busy';
    this.inFlight.push({ level, message, time });
    this.socket.write(textLine(level, message, time), (error) => {
      if (!error) this.inFlight.shift();
    });
    return 'ok';
  }

  reopen(): void {}

  close(): void {
    this.socket.destroy();
  }
}

/** When the manager's own log file rotates, and how many old ones it keeps. */
export interface RotationPolicy {
  readonly maxBytes: number;
  readonly keep: number;
}

/**
 * A log file of the manager's own, created private; reopened by path after a logrotate.
 * With a rotation policy it rotates itself, between lines, as the daemons' logs do: what
 * users make the manager say (refusals, audit lines) can never fill the disk.
 */
export function fileTarget(path: string, rotation?: RotationPolicy): Target {
  const { O_RDWR, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = constants;
  let first = true;
  const open = (): number => {
    const fd = openSync(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
    // At the first open only: later, this manager may itself be half-way through a line.
    if (first) endTornLine(fd);
    first = false;
    return fd;
  };
  return rotation === undefined
    ? new DescriptorTarget(path, open)
    : new RotatingFileTarget(path, open, rotation);
}

/**
 * A previous manager whose disk was full at its exit may have left half a line: the next
 * line would be glued to it (an outside review). Where writing fails, it still is.
 */
function endTornLine(fd: number): void {
  try {
    const { size } = fstatSync(fd);
    if (size === 0) return;
    const last = Buffer.alloc(1);
    if (readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a) writeSync(fd, '\n');
  } catch {
    // The disk is still full: the next line that gets written is glued to it.
  }
}

class RotatingFileTarget extends DescriptorTarget {
  private size: number;
  private readonly path: string;
  private readonly policy: RotationPolicy;

  constructor(path: string, open: () => number, policy: RotationPolicy) {
    super(path, open);
    this.path = path;
    this.policy = policy;
    this.size = this.currentSize();
  }

  override send(level: Level, message: string, time: Date): SendResult {
    const length = Buffer.byteLength(textLine(level, message, time));
    if (this.size > 0 && this.size + length > this.policy.maxBytes) {
      this.close();
      rotateLogFiles(this.path, this.policy.keep);
      this.reopen();
      this.size = 0;
    }
    const result = super.send(level, message, time);
    if (result === 'ok') this.size += length;
    return result;
  }

  override reopen(): void {
    super.reopen();
    this.size = this.currentSize();
  }

  private currentSize(): number {
    try {
      return statSync(this.path).size;
    } catch {
      return 0;
    }
  }
}

/** The journal's native socket: each record with its priority. */
export function journalTarget(send: SendDatagram, path: string): Target {
  return datagramTarget('the journal', path, send, (level, message) =>
    journalRecord(level, message),
  );
}

/** Syslog, at /dev/log or the socket given. */
export function syslogTarget(send: SendDatagram, path: string): Target {
  return datagramTarget(`syslog (${path})`, path, send, (level, message) =>
    syslogRecord(level, message, process.pid),
  );
}

/**
 * Why the socket at `path` is not one to send the manager's lines to: not a socket, or
 * one bound by another user than root or `owner` (the manager's own user). A name
 * in a directory everyone may create names in (/tmp) was bound by a user before the
 * manager started, and that user read every line of root's manager, other users' audit
 * lines included (an outside review, 42b, F4). Undefined if it is fit, or not there.
 */
export function foreignSocket(path: string, owner: number): string | undefined {
  let found: Stats;
  try {
    found = statSync(path);
  } catch {
    return undefined;
  }
  if (!found.isSocket()) return `${path} is not a socket`;
  return found.uid === 0 || found.uid === owner
    ? undefined
    : `${path} is a socket of uid ${found.uid}'s`;
}

function datagramTarget(
  name: string,
  path: string,
  send: SendDatagram,
  record: (level: Level, message: string) => Buffer,
): Target {
  const owner = process.geteuid?.() ?? 0;
  return {
    name,
    send: (level, message) => {
      // Looked at before each line: the name may be bound again (its server restarted),
      // by whoever finds it free.
      const foreign = foreignSocket(path, owner);
      if (foreign !== undefined) return { failed: foreign };
      try {
        send(path, record(level, message));
        return 'ok';
      } catch (error) {
        return outcome(error);
      }
    },
    reopen: () => {},
    close: () => {},
  };
}
