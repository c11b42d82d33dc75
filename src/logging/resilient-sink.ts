import type { Level, Sink } from './logger.ts';
import type { LogEntry, Target } from './targets.ts';

/** Lines kept while the destination is busy; older ones are dropped and counted. */
const MAX_QUEUED = 1000;
/** A destination that takes nothing for this long is given up for the fallback. */
const STUCK_MS = 10_000;
/** How often a busy destination is tried again. */
const RETRY_MS = 250;
/** How often a busy destination is tried again while the manager waits to exit. */
const DRAIN_RETRY_MS = 10;

type Queued = LogEntry;

/**
 * A log that never costs the manager its CPU or its signal handling. Lines go to the
 * target; while it is busy (a full pipe, a full journal, a full disk) they wait in a
 * bounded queue and are tried again a few times a second; when it fails for good (the
 * reader of the pipe is gone) or stays busy too long, the sink switches to the fallback
 * (the manager's own file) and says so there, once. Nothing here throws or loops on an
 * error: a log about failing to log would be the spin this exists to prevent.
 */
export class ResilientSink implements Sink {
  private target: Target | undefined;
  private readonly fallbacks: (() => Target)[];
  private readonly queue: Queued[] = [];
  /** Lines dropped and not yet said so in the log. */
  private dropped = 0;
  /**
   * The note of dropped lines being written: kept out of the queue (where a full queue
   * dropped it in turn, and its count with it) until the target took it whole.
   */
  private note: { entry: Queued; count: number } | undefined;
  /**
   * The head of the queue was sent and found the target busy: part of it may be written,
   * and the target takes the rest first. It is neither dropped nor preceded by a note.
   */
  private headBegun = false;
  private busySince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(open: () => Target, fallbacks: readonly (() => Target)[], now = Date.now) {
    this.fallbacks = [...fallbacks];
    this.now = now;
    this.target = this.first(open, undefined);
  }

  /** Where lines go now; undefined once every destination failed. */
  get destination(): string | undefined {
    return this.target?.name;
  }

  write(level: Level, message: string): void {
    if (this.queue.length >= MAX_QUEUED) {
      this.queue.splice(this.headBegun ? 1 : 0, 1);
      this.dropped++;
    }
    this.queue.push({ level, message, time: new Date(this.now()) });
    if (this.timer === undefined) this.flush();
  }

  reopen(): void {
    this.target?.reopen();
    this.flush();
  }

  /**
   * Writes what is queued, trying a busy destination again every few milliseconds until
   * it took everything or `ms` passed: the last words of a manager that exits (a syslog
   * still busy with a burst of warnings) are worth a short wait, not a hang.
   */
  async drain(ms: number): Promise<void> {
    const until = this.now() + ms;
    for (;;) {
      this.flush();
      if (this.queue.length === 0 || this.target === undefined || this.now() >= until) return;
      await new Promise((resolve) => setTimeout(resolve, DRAIN_RETRY_MS));
    }
  }

  /** Writes what is queued, as far as the destination takes it. */
  private flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (let next = this.next(); this.target !== undefined && next !== undefined; ) {
      const result = this.target.send(next.level, next.message, next.time);
      if (result === 'ok') {
        this.taken();
        next = this.next();
        continue;
      }
      if (result === 'busy') {
        if (this.note === undefined) this.headBegun = true;
        this.busySince ??= this.now();
        if (this.now() - this.busySince < STUCK_MS || this.fallbacks.length === 0) {
          this.timer = setTimeout(() => this.flush(), RETRY_MS);
          this.timer.unref();
          return;
        }
        this.switchTarget(`${this.target.name} took no line for ${STUCK_MS / 1000} s`);
      } else this.switchTarget(`cannot write to ${this.target.name} (${result.failed})`);
      next = this.next();
    }
    if (this.target === undefined) {
      this.dropped += this.queue.length;
      this.queue.length = 0;
      this.note = undefined;
    }
  }

  /** What goes next: the note of lines dropped, once none is half written, or the oldest line. */
  private next(): Queued | undefined {
    if (this.note === undefined && this.dropped > 0 && !this.headBegun)
      this.note = {
        count: this.dropped,
        entry: {
          level: 'warn',
          message: `log: ${this.dropped} line(s) dropped while the log could not be written`,
          time: new Date(this.now()),
        },
      };
    return this.note?.entry ?? this.queue[0];
  }

  /** The target took what `next` gave. */
  private taken(): void {
    if (this.note !== undefined) {
      this.dropped -= this.note.count;
      this.note = undefined;
    } else {
      this.queue.shift();
      this.headBegun = false;
    }
    this.busySince = undefined;
  }

  private switchTarget(reason: string): void {
    const previous = this.target;
    if (previous !== undefined) previous.onFailure = undefined;
    previous?.close();
    // Whatever the old target half wrote is its own: the new one is given lines whole.
    this.headBegun = false;
    this.busySince = undefined;
    this.target = this.first(() => this.nextFallback(), reason);
  }

  /** A target that found out it failed after taking lines: they go to the next one. */
  private failedLater(target: Target, reason: string, unsent: readonly LogEntry[]): void {
    if (target !== this.target) return;
    this.queue.unshift(...unsent);
    this.switchTarget(reason);
    this.flush();
  }

  /** Opens the first destination that opens, announcing the switch in it. */
  private first(open: () => Target, reason: string | undefined): Target | undefined {
    let why = reason;
    for (let attempt: (() => Target) | undefined = open; attempt; ) {
      try {
        const target = attempt();
        target.onFailure = (reason, unsent) => this.failedLater(target, reason, unsent);
        if (why !== undefined)
          this.queue.unshift({
            level: 'warn',
            message: `log: ${why}; logging to ${target.name} from now on`,
            time: new Date(this.now()),
          });
        return target;
      } catch (error) {
        const { code, path } = error as NodeJS.ErrnoException;
        const what = `cannot open ${path ?? 'a log'} (${code ?? (error as Error).message})`;
        why = why === undefined ? what : `${why}; ${what}`;
        attempt = this.fallbacks.shift();
      }
    }
    return undefined;
  }

  private nextFallback(): Target {
    const open = this.fallbacks.shift();
    if (open === undefined) throw new Error('no log left');
    return open();
  }
}
