import { createRequire } from 'node:module';
import { findBuilt } from '../process/native.ts';
import { deadline } from '../protocol/silence.ts';

/** Rotation and formatting of one daemon's log. */
export interface LogOptions {
  /** Rotate when the file would grow past this many bytes; 0 never rotates. */
  readonly maxBytes: number;
  /** How many rotated files (`NAME.log.1` ...) are kept. */
  readonly keep: number;
  /** Prefix each line with the time it was read. */
  readonly timestamps: boolean;
}

/** What the pump says about one daemon's log (through the event loop, never blocking it). */
export type PumpEvent =
  | { readonly type: 'error'; readonly id: string; readonly message: string }
  | { readonly type: 'recovered'; readonly id: string }
  | { readonly type: 'rotated'; readonly id: string; readonly path: string }
  /** `pipeFd`: the pipe that ended (a daemon's pipe may have been replaced by another since). */
  | { readonly type: 'eof'; readonly id: string; readonly pipeFd: number }
  /** The owner's files stopped answering: their pipes are out of the pump until they do. */
  | { readonly type: 'stuck'; readonly id: string; readonly message: string };

/** Counters of one attached pipe. */
export interface PumpStats {
  readonly bytes: number;
  readonly dropped: number;
  /** The log file's size, as far as the pump wrote it. */
  readonly size: number;
  readonly failing: boolean;
  readonly stuck: boolean;
  readonly eof: boolean;
  /**
   * A call on its log has run for more than 100 ms and still does, on a thread the pump
   * moved on from (a slow or hung file system): the manager's process cannot end before
   * it returns.
   */
  readonly away: boolean;
  /** Why it is failing ('' when it is not). */
  readonly reason: string;
  /** Dropped and not said in the log yet (see OutputGap), as the native side has it. */
  readonly gapBytes: number;
  readonly gapError: number;
  readonly skipRest: boolean;
  /** The file written now (0, 0: none open); its birth time in ns since the epoch, if known. */
  readonly dev: number;
  readonly ino: number;
  readonly btime?: string;
  /**
   * Whether that file begins with the rest of a line the rotation that made it cut; absent
   * where not known (a file this pump did not make by a rotation).
   */
  readonly beginsMidLine?: boolean;
  /**
   * The last few files written before a reopen (an external logrotate), oldest first,
   * each with where it was at the reopen.
   */
  readonly retired: readonly {
    readonly dev: number;
    readonly ino: number;
    readonly btime?: string;
    readonly path: string;
  }[];
}

/**
 * Output dropped (a full disk) and not yet said in the log: bytes, the errno of the
 * failed write (0: the log could not be opened), and whether the pipe's next bytes are
 * the rest of a dropped line. Handed to the next manager, so that the line that says so
 * counts what both dropped.
 */
export interface OutputGap {
  readonly bytes: number;
  readonly error: number;
  readonly skipRest: boolean;
}

/** What the pump's stats say of a gap: undefined when nothing waits to be said. */
export function gapOf(stats: PumpStats | undefined): OutputGap | undefined {
  if (stats === undefined || (stats.gapBytes === 0 && !stats.skipRest)) return undefined;
  return { bytes: stats.gapBytes, error: stats.gapError, skipRest: stats.skipRest };
}

/** Whose log it is: the pump renames and reopens it as this user. */
export interface LogOwner {
  readonly uid: number;
  readonly gid: number;
  readonly groupIds: readonly number[];
}

interface NativePump {
  pumpStart(onEvent: (type: number, id: number, message: string) => void, deadlineMs: number): void;
  pumpAttach(
    id: number,
    pipeFd: number,
    fileFd: number,
    maxBytes: number,
    keep: number,
    timestamps: boolean,
    uid: number,
    gid: number,
    groups: readonly number[],
    path: string,
    gapBytes: number,
    gapError: number,
    skipRest: boolean,
    journalFd: number,
    placeFd: number,
  ): void;
  pumpExpectBanner(id: number, banner: string): boolean;
  pumpCommand(kind: number, id: number): Promise<number>;
  pumpStats(id: number): PumpStats | undefined;
  pipeBytes(fd: number): number;
  journalTrim(dir: string, name: string): boolean;
}

/** native/log_pump.h's enum dm_pump_command. */
const COMMAND = { detach: 0, reopen: 1, reopenAll: 2, pause: 3, resume: 4 } as const;
/** native/log_pump.h's enum dm_pump_event_type. */
const EVENT = ['', 'error', 'recovered', 'rotated', 'eof', 'stuck'] as const;

/**
 * The native log pump (native/log_pump.c): a thread of its own (another takes over from
 * it when a user's file system is slow) moves every daemon's output from its pipe into
 * its log with splice(2), or with a tee-write-consume copy for timestamps and rotation,
 * so nothing read is held in the manager's memory and a SIGKILL loses no line. One per process. Replaces LogWriter once the keeper holds each
 * daemon's one output pipe for its whole life.
 */
export class LogPump {
  private readonly native: NativePump;
  private readonly ids = new Map<string, number>();
  private readonly names = new Map<number, string>();
  /** The pipe each attachment moves. */
  private readonly pipes = new Map<number, number>();
  private readonly eofWaiters = new Map<number, (() => void)[]>();
  private nextId = 1;

  constructor(onEvent: (event: PumpEvent) => void, options: { deadlineMs?: number } = {}) {
    this.native = createRequire(import.meta.url)(findBuilt('dm_native.node')) as NativePump;
    this.native.pumpStart((type, number, message) => {
      const id = this.names.get(number);
      if (id === undefined) return;
      const event = this.toEvent(EVENT[type] ?? '', id, message, this.pipes.get(number) ?? -1);
      if (event?.type === 'eof') for (const wake of this.eofWaiters.get(number) ?? []) wake();
      if (event) onEvent(event);
    }, options.deadlineMs ?? 10_000);
  }

  /**
   * Starts moving `pipeFd` into `fileFd` (opened by UserFiles.openAppend and judged by
   * the caller). The pump owns `fileFd`, `journalFd` and `placeFd` from now on; `pipeFd`
   * comes back with detach. `journalFd`: the daemon's journal in the state directory,
   * where each chunk waits until it is wholly in the log (native/log_journal.c); a chunk a
   * killed manager left there is written again first. Without one, a SIGKILL may write a
   * chunk twice. `placeFd`: beside it, which file the pump writes (native/log_place.c); a
   * line a killed manager left under way in a file a logrotate moved is finished there.
   */
  attach(
    id: string,
    pipeFd: number,
    fileFd: number,
    options: LogOptions,
    owner: LogOwner,
    path: string,
    gap?: OutputGap,
    journalFd = -1,
    placeFd = -1,
  ): void {
    if (this.ids.has(id)) throw new Error(`log pump: ${id} is attached already`);
    const number = this.nextId++;
    this.native.pumpAttach(
      number,
      pipeFd,
      fileFd,
      options.maxBytes,
      options.keep,
      options.timestamps,
      owner.uid,
      owner.gid,
      owner.groupIds,
      path,
      gap?.bytes ?? 0,
      gap?.error ?? 0,
      gap?.skipRest ?? false,
      journalFd,
      placeFd,
    );
    this.ids.set(id, number);
    this.names.set(number, id);
    this.pipes.set(number, pipeFd);
  }

  /** Stops moving a pipe; resolves to its descriptor (not closed), or undefined if unknown. */
  async detach(id: string): Promise<number | undefined> {
    const number = this.ids.get(id);
    if (number === undefined) return undefined;
    const fd = await this.native.pumpCommand(COMMAND.detach, number);
    this.ids.delete(id);
    this.names.delete(number);
    this.pipes.delete(number);
    return fd < 0 ? undefined : fd;
  }

  /** The ids whose log a call of the pump is still inside, past 100 ms (see PumpStats.away). */
  away(): string[] {
    return [...this.ids]
      .filter(([, number]) => this.native.pumpStats(number)?.away)
      .map(([id]) => id);
  }

  /**
   * The start banner of the daemon's next run, as the keeper writes it into the pipe
   * (newline included), so that it begins a line of its own in the log. Said before the
   * keeper is asked to start it. False if the daemon's pipe is not attached.
   */
  expectBanner(id: string, banner: string): boolean {
    const number = this.ids.get(id);
    return number !== undefined && this.native.pumpExpectBanner(number, banner);
  }

  /**
   * Reopens a log by its path, as its owner (after an external logrotate); a line under
   * way is finished in the old file first (at most 4 KiB more), as at a rotation.
   */
  async reopen(id: string): Promise<void> {
    const number = this.ids.get(id);
    if (number !== undefined) await this.native.pumpCommand(COMMAND.reopen, number);
  }

  async reopenAll(): Promise<void> {
    await this.native.pumpCommand(COMMAND.reopenAll, 0);
  }

  /** Resolves once the pipe's writers are gone and it is read to its end (true), or after `ms` (false). */
  drainUntilEof(id: string, ms: number): Promise<boolean> {
    const number = this.ids.get(id);
    if (number === undefined || this.native.pumpStats(number)?.eof) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiters = this.eofWaiters.get(number) ?? [];
      this.eofWaiters.set(number, waiters);
      const done = (value: boolean): void => {
        timer.cancel();
        waiters.splice(waiters.indexOf(wake), 1);
        resolve(value);
      };
      const wake = (): void => done(true);
      // After the next poll: the end of the pipe, come in time, is read first.
      const timer = deadline(ms, () => done(false));
      waiters.push(wake);
    });
  }

  /** Stops moving bytes (an upgrade): what is not moved yet stays in the pipes. */
  async pause(): Promise<void> {
    await this.native.pumpCommand(COMMAND.pause, 0);
  }

  async resume(): Promise<void> {
    await this.native.pumpCommand(COMMAND.resume, 0);
  }

  /**
   * Empties a daemon's journal `name` in `dir` of its chunks done, the one a killed pump was
   * writing kept for its replay (native/log_journal.c), before any pump of this manager uses
   * it; whether it was trimmed.
   */
  trimJournal(dir: string, name: string): boolean {
    return this.native.journalTrim(dir, name);
  }

  /** How many bytes wait in a pipe not attached (FIONREAD); 0 when it cannot be told. */
  waitingIn(pipeFd: number): number {
    try {
      return this.native.pipeBytes(pipeFd);
    } catch {
      return 0;
    }
  }

  stats(id: string): PumpStats | undefined {
    const number = this.ids.get(id);
    return number === undefined ? undefined : this.native.pumpStats(number);
  }

  private toEvent(
    type: string,
    id: string,
    message: string,
    pipeFd: number,
  ): PumpEvent | undefined {
    switch (type) {
      case 'error':
      case 'stuck':
        return { type, id, message };
      case 'recovered':
        return { type, id };
      case 'eof':
        return { type, id, pipeFd };
      case 'rotated':
        return { type, id, path: message };
      default:
        return undefined;
    }
  }
}
