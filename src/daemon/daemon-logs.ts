import { closeSync, constants, fstatSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DaemonSpec } from '../config/daemon.ts';
import type { Settings } from '../config/settings.ts';
import { namingMounter } from '../files/file-error.ts';
import { closeFd } from '../files/user-files.ts';
import type { Logger } from '../logging/logger.ts';
import { refusalOf } from '../logs/log-file.ts';
import { gapOf, type LogOptions, LogPump, type OutputGap, type PumpEvent } from '../logs/pump.ts';
import { fileIdOf, type LogSource } from './log-reading.ts';
import type { Owner } from './owner.ts';

/** The directory of the daemons' log journals, in the state directory. */
const JOURNALS = 'log-journals';
/** A daemon's two files there: its journal (log_journal.c) and its file's record (log_place.c). */
const JOURNAL_FILES = ['journal', 'file'] as const;
type JournalFile = (typeof JOURNAL_FILES)[number];

/** Where a daemon's log stands: ready to be written, or why not. */
export type LogReadiness =
  | { readonly ok: true }
  /** `refused`: the file is not the daemon's own (a link planted, someone else's): no start. */
  | { readonly ok: false; readonly error: string; readonly refused: boolean };

interface LogEntry {
  readonly owner: Owner;
  readonly path: string;
  readonly options: LogOptions;
  readiness: LogReadiness;
  attached: boolean;
  /** When `reopenBeforeStart` last reopened it (performance.now()). */
  reopenedAt: number;
  /** The last look at the file by its path, for a start (see `readinessToStart`). */
  checked: { readonly at: number; readonly readiness: LogReadiness };
  /** Such a look under way. */
  checking?: Promise<LogReadiness> | undefined;
}

/**
 * Why output is held (see DaemonLogs `held`): written into the log of the account of the
 * owner's name and uid, it went to a new account made with them while no manager ran (an
 * outside review, 56a, F3: 2-95 lines of the deleted account's run, 14 of 17).
 */
const HELD =
  'its owner is not known yet to be the account whose run wrote it (its daemon directory cannot be read): its log is opened once it is';

/** The readiness of a log not opened yet. */
export const NOT_OPEN: LogReadiness = {
  ok: false,
  error: 'its log is not open yet',
  refused: false,
};

/**
 * Write errors of a file whose file system is gone for good (a FUSE server ended, its
 * mount lazily unmounted; a dead NFS handle): writing it again can never work.
 */
const GONE_FILE = /\b(ENOTCONN|EIO|ESTALE|ENODEV|ENXIO)\b/;
/** How often such a log is opened again by its path. */
const GONE_REOPEN_MS = 1000;

/** How long a look at a log's file by its path stands for a start (a crash loop looks once a second). */
const CHECK_STANDS_MS = 1000;

/** When a log a pipe waits for is looked at again: after each, the next; then the last. */
const RETRY_WAITING_MS = [1_000, 3_000, 10_000];

/**
 * How long the pipe of a run before the daemon's run now (see DaemonLogs `earlier`) is
 * read for its end at a time: with nothing waiting in it then, it is let go of without
 * its end, which a child of that run left holding it (no cgroup) would keep from coming,
 * the run now's output waiting behind it.
 */
const EARLIER_PIPE_MS = 2_000;

/** The prefix of the name a pipe of a run before the run now is kept by at the keeper. */
const EARLIER_PIPE = 'out-before:';

/**
 * The daemon and order of a pipe of a run before its run now, by its name at the keeper
 * (`out-before:ORDER:ID`, see DaemonLogs `earlier`); undefined for another name.
 */
export function earlierPipeOf(name: string): { id: string; order: number } | undefined {
  const match = /^out-before:(\d+):(.+)$/s.exec(name);
  return match === null ? undefined : { order: Number(match[1]), id: match[2] as string };
}

/** Keeps a descriptor at the keeper by name (an upgrade finds it there), or lets go of it. */
export interface PipeKeeper {
  store(name: string, fd: number): void;
  drop(name: string): void;
}

/** The pipe of a run before the daemon's run now, with its name at the keeper. */
interface EarlierPipe {
  readonly fd: number;
  readonly name: string;
  readonly order: number;
}

/**
 * The logs of the daemons with `output=log`. Each daemon has one output pipe for its
 * whole life, held by the keeper; the native log pump (src/logs/pump.ts, its own thread)
 * moves it into the daemon's log, which is opened, rotated and reopened as its owner.
 * Pipes of daemons whose output is not logged (any more) are emptied into /dev/null, so
 * that nothing ever blocks on them.
 */
export class DaemonLogs {
  /** The admin's settings; replaced on reload, applied at each daemon's next open. */
  settings: Settings;
  private readonly entries = new Map<string, LogEntry>();
  /** Each daemon's `open` under way, the next one waiting for it. */
  private readonly opening = new Map<string, Promise<LogReadiness>>();
  /** Pipes by daemon id, waiting for their log, or attached. */
  private readonly pipes = new Map<string, number>();
  /**
   * The pipes of a daemon's runs before its run now, still unread when the run now's pipe
   * came (its log waiting, or its owner not known yet, when the keeper died: the next
   * keeper gave the next run a pipe of its own), oldest first: each is written into the
   * log, to its end, before the pipe now. Let go of, what waited in it was lost unsaid (an
   * outside review, 65a, F2: 2.5-7 s of a run's output, 3 of 3).
   */
  private readonly earlier = new Map<string, EarlierPipe[]>();
  /** The order of the last pipe added there (see `keepsEarlier`): it only grows. */
  private earlierOrder = 0;
  /** Daemons whose pipe the pump empties into /dev/null now, or is taking from there. */
  private readonly nulls = new Set<string>();
  /**
   * Daemons whose pipe the pump is letting go of (ended, replaced, or moved from /dev/null
   * to the log): their pipe now is attached once it has (see `letGo`), as `logged` says.
   */
  private readonly moving = new Set<string>();
  /** The pump's letting go of each daemon under way (see `letGo`), until it is done. */
  private readonly lettingGo = new Map<string, Promise<void>>();
  /** Whether each daemon's pipe now goes into its log (else into /dev/null). */
  private readonly logged = new Map<string, boolean>();
  /** Daemons whose pipe now goes into /dev/null whatever log is opened (see `discard`). */
  private readonly discarded = new Set<string>();
  private readonly pump: LogPump;
  private readonly log: Logger;
  private readonly ended: (id: string, inode: number) => void;
  private readonly gapChanged: () => void;
  /**
   * Output dropped and not said yet, for a pipe's next attach: from the manager before
   * this one, or from before the pipe was detached (its log's options changed, or it
   * ended).
   */
  private readonly carried = new Map<string, OutputGap>();
  /** Daemons whose output is being dropped; while any is, the state is saved each second. */
  private readonly dropping = new Set<string>();
  private dropTimer: NodeJS.Timeout | undefined;
  /** Logs whose file system is gone, opened again by their path each second until one works. */
  private readonly reopening = new Map<string, NodeJS.Timeout>();
  /** Daemons whose pump may hold a gap: dropping now, or given one carried over. */
  private readonly mayGap = new Set<string>();
  /** The next look at logs pipes wait for (see `retryWaiting`), and how many came before. */
  private retryTimer: NodeJS.Timeout | undefined;
  private retries = 0;
  /** Daemons told (in their history) that their output waits for their log. */
  private readonly toldWaiting = new Set<string>();
  private readonly note: (id: string, text: string) => void;
  private readonly held: (id: string) => boolean;
  private readonly keeper: PipeKeeper;
  /** The daemons told their output waits for their account to be known (see `held`). */
  private readonly toldHeld = new Set<string>();

  /**
   * `ended` is told of a pipe read to its end (every writer gone, the keeper's too), with
   * its inode (which names it to the keeper); `gapChanged` when output begins to be
   * dropped, or writing resumes; `held` says of a daemon whose output waits in its pipe,
   * its log not opened, until its owner is known to be the account whose run wrote it
   * (see `release`).
   */
  constructor(
    settings: Settings,
    log: Logger,
    ended: (id: string, inode: number) => void,
    gapChanged: () => void = () => {},
    /** Puts what happens to a daemon's output in its history (`dmctl why`). */
    note: (id: string, text: string) => void = () => {},
    held: (id: string) => boolean = () => false,
    /** Where the pipes of runs before the run now are kept across an upgrade (see `earlier`). */
    keeper: PipeKeeper = { store: () => {}, drop: () => {} },
  ) {
    this.settings = settings;
    this.keeper = keeper;
    this.log = log;
    this.ended = ended;
    this.gapChanged = gapChanged;
    this.note = note;
    this.held = held;
    this.pump = new LogPump((event) => this.onEvent(event));
    this.trimJournals();
  }

  /**
   * Empties the journals a manager before this one left with every chunk done, at once:
   * emptied only once their pipe was attached again, those of daemons whose log could
   * not be opened then stayed, outside their owner's bound; an outside review (58a) made
   * its logs unopenable after each kill -9 of the manager, and each new generation of its
   * daemons added a MiB. The chunk a killed pump was writing is kept for its replay.
   */
  private trimJournals(): void {
    const dir = join(this.settings.stateDir, JOURNALS);
    let names: string[];
    try {
      names = readdirSync(dir).filter((name) => name.endsWith('.journal'));
    } catch {
      return; // None yet.
    }
    for (const name of names)
      try {
        this.pump.trimJournal(dir, name);
      } catch (error) {
        this.log.warn(`cannot empty the log journal ${name}: ${(error as Error).message}`);
      }
  }

  /** A gap the manager before this one left in a daemon's output (see OutputGap). */
  carry(id: string, gap: OutputGap): void {
    this.carried.set(id, gap);
  }

  /** What was dropped of a daemon's output and not said in its log yet, to be saved. */
  gapOf(id: string): OutputGap | undefined {
    const carried = this.carried.get(id);
    // Asked of every daemon at every save: the pump is asked only where a gap may be.
    if (!this.mayGap.has(id) || this.nulls.has(id)) return carried;
    const gap = gapOf(this.pump.stats(id));
    if (gap === undefined && !this.dropping.has(id)) this.mayGap.delete(id);
    return gap ?? carried;
  }

  /** Where a daemon's log is. */
  static pathOf(owner: Owner, spec: DaemonSpec): string {
    return join(owner.logDir, `${spec.name}.log`);
  }

  /**
   * Checks (or keeps, if nothing changed and it is being written) a daemon's log, as its
   * owner: opened (made if missing) and refused when what is there is not the owner's own
   * regular file with one link. The pump opens it again by its path when it attaches the
   * daemon's pipe: a file held from a rescan until a start, maybe days later, would be
   * one a logrotate moved away or its owner deleted (an outside review: the output went
   * into `w.log.rot`, or into a deleted file that kept its space).
   */
  open(owner: Owner, id: string, spec: DaemonSpec, fresh = false): Promise<LogReadiness> {
    // One daemon's opens one after the other: a rescan's and a start's at once both
    // attached its pipe, and the second threw (the rescan or the start failed).
    const previous = this.opening.get(id) ?? Promise.resolve();
    const next = previous.then(
      () => this.openNow(owner, id, spec, fresh),
      () => this.openNow(owner, id, spec, fresh),
    );
    this.opening.set(id, next);
    const forget = (): void => {
      if (this.opening.get(id) === next) this.opening.delete(id);
    };
    next.then(forget, forget);
    return next;
  }

  /**
   * `fresh` (a start someone asked for): a log being written is looked at again by its
   * path, what is found standing for the start; the pump goes on writing the file it has
   * open (a mount moves no open file). Kept as it was, the start was not refused when a
   * FUSE file system its owner mounted had come over the log dir since: the run started,
   * and its output was dropped until the unmount (an outside review, 6 restarts of 7).
   */
  private async openNow(
    owner: Owner,
    id: string,
    spec: DaemonSpec,
    fresh: boolean,
  ): Promise<LogReadiness> {
    const path = DaemonLogs.pathOf(owner, spec);
    const options = this.optionsFor(spec);
    const existing = this.entries.get(id);
    if (existing?.attached && sameLog(existing, owner, path, options) && existing.readiness.ok)
      return fresh ? await this.check(id, existing) : existing.readiness;
    if (existing?.attached) await this.detachForReopen(id);
    const { readiness, fileFd } = await this.openFile(owner, path);
    if (fileFd !== undefined) closeFd(fileFd);
    if (!readiness.ok) this.log.warn(`${id}: log: ${readiness.error}`);
    // Its pipe may have come while the file was opened, and been attached to the log
    // known before: kept if it is this one, else moved.
    const current = this.entries.get(id);
    if (current?.attached && sameLog(current, owner, path, options)) {
      current.readiness = readiness;
      return readiness;
    }
    if (current?.attached) await this.detachForReopen(id);
    this.entries.set(id, {
      owner,
      path,
      options,
      readiness,
      attached: false,
      reopenedAt: 0,
      checked: { at: performance.now(), readiness },
    });
    this.attachIfReady(id);
    return readiness;
  }

  /**
   * Where a daemon's log stands for a start now: what a look at its file by its path
   * found within the last second, or `checking` while such a look, begun here, is under
   * way (the start waits for it: see Prepared `soon`; the look never fails). A start kept what was found when
   * the log was opened, maybe days before, and its run wrote nowhere.
   */
  readinessToStart(id: string): LogReadiness | { readonly checking: Promise<LogReadiness> } {
    const entry = this.entries.get(id);
    if (entry === undefined) return NOT_OPEN;
    if (!entry.readiness.ok) return entry.readiness;
    if (performance.now() - entry.checked.at < CHECK_STANDS_MS) return entry.checked.readiness;
    return { checking: this.check(id, entry) };
  }

  /** Looks at a log's file again by its path, as its owner (one look at a time). */
  private check(id: string, entry: LogEntry): Promise<LogReadiness> {
    entry.checking ??= this.openFile(entry.owner, entry.path)
      .then(
        ({ readiness, fileFd }) => {
          if (fileFd !== undefined) closeFd(fileFd);
          return readiness;
        },
        (error: unknown): LogReadiness => ({
          ok: false,
          error: `cannot open log file ${entry.path}: ${(error as Error).message}`,
          refused: false,
        }),
      )
      .then((readiness) => {
        if (!readiness.ok) this.log.warn(`${id}: log: ${readiness.error}`);
        entry.checked = { at: performance.now(), readiness };
        entry.checking = undefined;
        return readiness;
      });
    return entry.checking;
  }

  /**
   * A log still written, to be opened anew (a SIGHUP changed log-max-size): the pump lets
   * go of the pipe, whose bytes wait in it for the log opened anew. Emptied into /dev/null
   * meanwhile (as `close` does), they were lost (an outside review).
   */
  private async detachForReopen(id: string): Promise<void> {
    this.entries.delete(id);
    const gap = gapOf(this.pump.stats(id));
    await this.pump.detach(id);
    if (gap !== undefined) this.carried.set(id, gap);
  }

  /** Opens a log file as its owner, judged on the descriptor. */
  private async openFile(
    owner: Owner,
    path: string,
  ): Promise<{ readiness: LogReadiness; fileFd: number | undefined }> {
    const opened = await owner.files.openAppend(path, 0o640);
    let readiness: LogReadiness;
    let fileFd: number | undefined;
    if (!opened.ok) {
      // A symlink, or a FUSE file system a user mounted: refused until its owner changes it.
      const refused = opened.error.code === 'ELOOP' || opened.error.code === 'EREMOTE';
      readiness = {
        ok: false,
        error:
          opened.error.code === 'ELOOP'
            ? `log file ${path} is a symbolic link; refused`
            : refused
              ? `log file ${opened.error.message}`
              : opened.error.code === 'NOT_ANSWERING'
                ? // Its message names the call that does not answer, not this file (an
                  // outside review, 22a, F4: "cannot open log file .../daemons").
                  `cannot open log file ${path}: its owner's files do not answer (${opened.error.message})`
                : `cannot open log file ${opened.error.message}`,
        refused,
      };
    } else {
      const refusal = refusalOf(opened.value.stat, owner.account.uid);
      if (refusal !== undefined) {
        closeFd(opened.value.fd);
        readiness = { ok: false, error: `log file ${path} ${refusal}; refused`, refused: true };
      } else {
        fileFd = opened.value.fd;
        readiness = { ok: true };
      }
    }
    return { readiness, fileFd };
  }

  /**
   * The files of a daemon's log for a reader through the manager: how many rotated ones
   * are kept, the one the pump writes now, and the last few it wrote before with where
   * each was when it stopped (see readLogPiece).
   */
  filesOf(
    id: string,
    spec: DaemonSpec,
  ): Pick<LogSource, 'keep' | 'current' | 'currentBeginsMidLine' | 'retired' | 'writing'> {
    const keep = this.entries.get(id)?.options.keep ?? this.optionsFor(spec).keep;
    const stats = this.nulls.has(id) ? undefined : this.pump.stats(id);
    if (stats === undefined) return { keep, current: undefined, retired: [] };
    return {
      keep,
      // Between a rotation's rename and its next open, it has no file (an outside review,
      // 64b, F3: a tail ended `does not exist` then, 5 of 67 with built-in rotation).
      writing: true,
      current: stats.ino === 0 ? undefined : fileIdOf(stats),
      ...(stats.ino === 0 || stats.beginsMidLine === undefined
        ? {}
        : { currentBeginsMidLine: stats.beginsMidLine }),
      retired: stats.retired.map((each) => ({ file: fileIdOf(each), path: each.path })),
    };
  }

  /** What `open` found last; `undefined` if the log was never opened. */
  readiness(id: string): LogReadiness | undefined {
    return this.entries.get(id)?.readiness;
  }

  /** A daemon's output pipe, from the keeper: pumped into its log, or into /dev/null. */
  pipe(id: string, pipeFd: number, logged: boolean): void {
    const previous = this.pipes.get(id);
    const keptEarlier =
      previous !== undefined && previous !== pipeFd && logged && this.keepsEarlier(id, previous);
    this.pipes.set(id, pipeFd);
    this.logged.set(id, logged);
    if (previous !== pipeFd) this.discarded.delete(id);
    // The pump still holds the id (a pipe that ended, or one replaced): attached after.
    if (this.moving.has(id)) return;
    if (keptEarlier) {
      this.attachIfReady(id);
      return;
    }
    if (previous !== undefined && previous !== pipeFd) {
      // Another pipe for the same daemon (the old keeper died, or the daemon's run after
      // one whose pipe was let go): the old one is let go first, then the new one
      // attached, once the pump has let go of the id.
      this.letGo(id);
      return;
    }
    if (!logged) {
      this.attachToNull(id, pipeFd);
      return;
    }
    this.attachIfReady(id);
  }

  /**
   * A daemon's pipe replaced by another (the keeper died, the next run has a pipe of its
   * own) before it was read to its end (see `earlier`): kept, at the keeper too, to be
   * written before the new one. The pump may be reading it still: let go of at once, the
   * last lines of the run replaced, not read yet, were lost.
   */
  private keepsEarlier(id: string, previous: number): boolean {
    const entry = this.entries.get(id);
    if (entry === undefined || this.nulls.has(id)) return false;
    // The pump lets go of it (else of one before it): what is left in it is not read.
    if (this.moving.has(id) && !this.earlier.has(id)) return false;
    const reading = entry.attached && !this.earlier.has(id);
    if (!reading && this.pump.waitingIn(previous) === 0) {
      closeFd(previous);
      return true;
    }
    // Ordered across managers: by the time (in ms, times 1,000), and within this one.
    this.earlierOrder = Math.max(this.earlierOrder + 1, Date.now() * 1000);
    const name = `${EARLIER_PIPE}${this.earlierOrder}:${id}`;
    this.keeper.store(name, previous);
    this.addEarlier(id, previous, name);
    if (reading) void this.readEarlier(id, previous);
    return true;
  }

  /**
   * The pipe of a run before the daemon's run now (kept at the keeper by `name`, see
   * `earlierPipeOf`): its output is written before the pipe now's, oldest first.
   */
  addEarlier(id: string, fd: number, name: string): void {
    const order = earlierPipeOf(name)?.order ?? 0;
    const list = [...(this.earlier.get(id) ?? []), { fd, name, order }];
    this.earlier.set(
      id,
      list.sort((a, b) => a.order - b.order),
    );
  }

  /** How many bytes wait in a daemon's pipe now (`pipeFd`) and in those before it. */
  private waitingFor(id: string, pipeFd: number): number {
    const fds = [pipeFd, ...(this.earlier.get(id) ?? []).map((pipe) => pipe.fd)];
    return fds.reduce((sum, fd) => sum + this.pump.waitingIn(fd), 0);
  }

  /** How many bytes wait in a pipe nothing reads (0 when it cannot be told). */
  waitingIn(pipeFd: number): number {
    return this.pump.waitingIn(pipeFd);
  }

  /** Hands the pipes of runs before the runs now to a new keeper (the one before died). */
  storeEarlier(): void {
    for (const list of this.earlier.values())
      for (const pipe of list) this.keeper.store(pipe.name, pipe.fd);
  }

  /**
   * The pipe of a run before the run now, attached: once read to its end, or once nothing
   * waits in it after EARLIER_PIPE_MS, closed, and the next one (or the pipe now) attached.
   */
  private async readEarlier(id: string, fd: number): Promise<void> {
    const current = (): boolean => this.earlier.get(id)?.[0]?.fd === fd;
    while (current()) {
      if (await this.pump.drainUntilEof(id, EARLIER_PIPE_MS)) break;
      if (this.pump.waitingIn(fd) === 0) break;
    }
    if (!current()) return;
    const list = this.earlier.get(id) as EarlierPipe[];
    // Closed by `letGo`: the pump gives it back, and it is not the daemon's pipe now.
    this.keeper.drop((list.shift() as EarlierPipe).name);
    if (list.length === 0) this.earlier.delete(id);
    this.letGo(id);
  }

  /**
   * A log whose file system is gone (a home on a FUSE mount that was lazily unmounted,
   * its server ended): the file it has open can never be written again, and what the
   * daemon wrote was dropped for good while its path answered (an outside review, 23a, F4:
   * 478 lines of each daemon, nothing said). Opened again by its path each second; the
   * gap is said where writing resumes.
   */
  private reopenWhileGone(id: string): void {
    if (this.reopening.has(id)) return;
    const timer = setInterval(() => {
      if (!this.entries.get(id)?.attached) this.stopReopening(id);
      else void this.pump.reopen(id);
    }, GONE_REOPEN_MS);
    timer.unref();
    this.reopening.set(id, timer);
  }

  private stopReopening(id: string): void {
    clearInterval(this.reopening.get(id));
    this.reopening.delete(id);
  }

  /**
   * Says that what waits in a daemon's pipe, and what comes after, is dropped, and why:
   * a survivor no config claims whose log cannot be opened (an outside review, 22c, 7:
   * only the failed open was said).
   */
  sayDropped(id: string, why: string): void {
    const pipe = this.pipes.get(id);
    if (pipe === undefined) return;
    this.log.warn(
      `${id}: its output is dropped (${this.waitingFor(id, pipe)} bytes waiting in its pipe, and what it writes as it stops): ${why}`,
    );
  }

  /** Stops logging a daemon (forgotten, or its output is discarded now); its pipe goes on into /dev/null. */
  async close(id: string): Promise<void> {
    this.logged.set(id, false);
    const entry = this.entries.get(id);
    this.entries.delete(id);
    // Not logged any more: what was dropped of it will never be said.
    this.carried.delete(id);
    this.noteDropping(id, false);
    // The pipes of runs before the run now: let go of; one the pump reads is closed once
    // it gives it back (see `letGo`), the others now, what waited in them said below.
    const earlier = this.earlier.get(id) ?? [];
    this.earlier.delete(id);
    for (const pipe of earlier) this.keeper.drop(pipe.name);
    const unread = entry?.attached ? earlier.slice(1) : earlier;
    const earlierBytes = unread.reduce((sum, pipe) => sum + this.pump.waitingIn(pipe.fd), 0);
    for (const pipe of unread) closeFd(pipe.fd);
    if (entry === undefined || !entry.attached) {
      // One that waited for its log goes on into /dev/null too: what waited is said (an
      // outside review, 22c, 7: a survivor's output dropped, only the failed open said).
      const waiting = this.pipes.get(id);
      if (waiting === undefined || this.moving.has(id)) return;
      const bytes = this.pump.waitingIn(waiting) + earlierBytes;
      if (bytes > 0 && entry !== undefined && !entry.readiness.ok && !this.discarded.has(id))
        this.log.warn(`${id}: ${bytes} bytes of its output are dropped: ${entry.readiness.error}`);
      this.attachToNull(id, waiting);
      return;
    }
    // Marked as moving until the pump has let go: a log of the id opened meanwhile (the
    // daemon of that name loaded again) was refused by the pump ("attached already").
    this.letGo(id);
  }

  /**
   * Stops logging a daemon gone for good (its config deleted, its user no longer allowed)
   * and removes its journal (and the record of its file) once the pump has let go of it: nothing of a daemon that will
   * not be logged again waits there, and the journals of daemons that came and went piled
   * up in the state directory. Kept if a daemon of that id is loaded again meanwhile.
   */
  async forget(id: string): Promise<void> {
    this.toldWaiting.delete(id);
    this.toldHeld.delete(id);
    await this.close(id);
    await this.lettingGo.get(id);
    if (this.entries.has(id) || this.opening.has(id) || this.moving.has(id)) return;
    try {
      for (const file of JOURNAL_FILES) rmSync(this.journalPath(id, file), { force: true });
    } catch (error) {
      this.log.warn(`${id}: cannot remove its log journal: ${(error as Error).message}`);
    }
  }

  /**
   * Removes the journals of daemons gone while no manager ran (`gone` says which: their
   * config deleted, their user no longer allowed), which no `forget` reaches: they piled
   * up in the state directory. How many went is said.
   */
  sweep(gone: (id: string) => boolean): void {
    let names: string[];
    try {
      names = readdirSync(join(this.settings.stateDir, JOURNALS));
    } catch {
      return; // None yet.
    }
    const ids = new Set<string>();
    for (const name of names) {
      const dot = name.lastIndexOf('.');
      try {
        ids.add(decodeURIComponent(name.slice(0, dot)));
      } catch {
        // Not a name this manager made: left alone.
      }
    }
    let removed = 0;
    for (const id of ids) {
      if (!gone(id) || this.entries.has(id) || this.opening.has(id) || this.moving.has(id))
        continue;
      try {
        for (const file of JOURNAL_FILES) rmSync(this.journalPath(id, file), { force: true });
        removed++;
      } catch (error) {
        this.log.warn(`${id}: cannot remove its log journal: ${(error as Error).message}`);
      }
    }
    if (removed > 0)
      this.log.info(`removed the log journals of ${removed} daemons gone while no manager ran`);
  }

  /**
   * Empties the daemon's pipe now into /dev/null for good: what it holds is nobody's to
   * log, not even in a log of that id opened later (the left-over run of an account whose
   * log could not be opened: an outside review found what it wrote in the log of the
   * daemon of that name of the account made again under the name). A pipe that comes
   * after it is the daemon's again.
   */
  async discard(id: string): Promise<void> {
    this.discarded.add(id);
    // What waited is dropped: the next pipe's log, once open, does not say it was written
    // (an outside review, 61a, F8).
    this.toldWaiting.delete(id);
    this.toldHeld.delete(id);
    await this.close(id);
  }

  /** Stops moving bytes (an upgrade): what is not moved yet stays in the pipes, for the next manager. */
  async pause(): Promise<void> {
    await this.pump.pause();
  }

  async resume(): Promise<void> {
    await this.pump.resume();
  }

  /**
   * Before a daemon starts: its log is opened again by its path, so that the run writes
   * the file there now, not one its owner deleted (keeping its space) or a logrotate moved
   * away since the last run. A respawn does so at most once a second per daemon (a crash
   * loop costs nothing); a start someone asked for (`respawn` false) always: a log
   * deleted between a stop and a start within the second was written on, unseen.
   */
  reopenBeforeStart(id: string, respawn: boolean): void {
    const entry = this.entries.get(id);
    const now = performance.now();
    if (entry === undefined || !entry.attached) return;
    if (respawn && now - entry.reopenedAt < 1000) return;
    entry.reopenedAt = now;
    void this.pump.reopen(id);
  }

  /** The start banner of a daemon's next run, as the keeper will write it (see LogPump.expectBanner). */
  expectBanner(id: string, banner: string): void {
    if (this.entries.get(id)?.attached) this.pump.expectBanner(id, banner);
  }

  /**
   * Reopens every log (after an external logrotate moved them); one whose line under way
   * is not finished yet is reopened once it is, and the pump keeps that (see
   * native/log_place.c) from now on, for a manager after this one.
   */
  reopenAll(): void {
    void this.pump
      .reopenAll()
      .then(() => this.log.debug('logs reopened, or waiting for a line to end'));
    // Those that could not be opened too: "reopen every log file" opened none of them
    // (an outside review, 32b, F3).
    void this.openWaitingNow();
  }

  /**
   * Pipes waiting for a log that could not be opened (at a takeover: its owner's files out
   * of reach, a mode) have it tried again 1 s later, then 3 and 10 s after that, then every
   * 10 s, as a directory that cannot be read is. Tried only at a stop, or a rescan, the
   * output piled up in the pipe until the daemon blocked on it (an outside review, 32b, F3).
   */
  private retryWaiting(): void {
    if (this.retryTimer !== undefined) return;
    const delay = RETRY_WAITING_MS[Math.min(this.retries, RETRY_WAITING_MS.length - 1)] as number;
    this.retries++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.openWaitingNow();
    }, delay);
    this.retryTimer.unref();
  }

  /** One look at the logs pipes wait for; looked at again later while any still waits. */
  private async openWaitingNow(): Promise<void> {
    const tries = [...this.pipes.keys()].map(async (id) => {
      const entry = this.entries.get(id);
      if (entry === undefined || entry.attached || entry.readiness.ok) return;
      if (this.nulls.has(id) || this.discarded.has(id) || this.moving.has(id)) return;
      if (this.held(id)) return;
      const { readiness, fileFd } = await this.openFile(entry.owner, entry.path);
      if (fileFd !== undefined) closeFd(fileFd);
      if (!readiness.ok || this.entries.get(id) !== entry || entry.attached) return;
      entry.readiness = readiness;
      entry.checked = { at: performance.now(), readiness };
      this.log.info(`${id}: its log can be opened now: what waited in its pipe is written`);
      this.attachIfReady(id);
    });
    await Promise.all(tries);
    const waiting = [...this.pipes.keys()].some((id) => {
      const entry = this.entries.get(id);
      return entry !== undefined && !entry.attached && !entry.readiness.ok && !this.held(id);
    });
    if (!waiting) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.retries = 0;
    } else this.retryWaiting();
  }

  /** The logs a call of the pump is still inside, past 100 ms (a hung file system). */
  unanswered(): string[] {
    return this.pump.away().map((id) => this.entries.get(id)?.path ?? id);
  }

  /** Waits (at most `timeoutMs` in all) until these pipes are read to their end. */
  async drain(ids: readonly string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await Promise.all(
      ids.map((id) => this.pump.drainUntilEof(id, Math.max(0, deadline - Date.now()))),
    );
  }

  /**
   * At a stop: the pipes still waiting for their log (it could not be opened: the owner's
   * files out of reach) have it tried once more, within `timeoutMs`, so that what waits in
   * them is written; those still waiting, with what waits in them and why. A stop closed
   * them unread and said nothing (an outside review, 21a).
   */
  async openWaiting(timeoutMs: number): Promise<{ id: string; bytes: number; error: string }[]> {
    const waiting = (): [string, LogEntry, number][] =>
      [...this.pipes]
        .filter(([id]) => !this.nulls.has(id) && !this.discarded.has(id) && !this.moving.has(id))
        .flatMap(([id, pipeFd]) => {
          const entry = this.entries.get(id);
          return entry === undefined || entry.attached || (entry.readiness.ok && !this.held(id))
            ? []
            : [[id, entry, pipeFd] as [string, LogEntry, number]];
        });
    const tries = waiting()
      .filter(([id, entry]) => !(entry.readiness.ok || entry.readiness.refused || this.held(id)))
      .map(async ([id, entry]) => {
        const { readiness, fileFd } = await this.openFile(entry.owner, entry.path);
        if (fileFd !== undefined) closeFd(fileFd);
        if (!readiness.ok || this.entries.get(id) !== entry || entry.attached) return;
        entry.readiness = readiness;
        this.attachIfReady(id);
      });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(tries),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return waiting().map(([id, entry, pipeFd]) => ({
      id,
      bytes: this.waitingFor(id, pipeFd),
      error: this.held(id)
        ? HELD
        : entry.readiness.ok
          ? 'its log is not open'
          : entry.readiness.error,
    }));
  }

  private attachIfReady(id: string): void {
    const entry = this.entries.get(id);
    // The pipe of a run before the run now first (see `earlier`).
    const earlier = this.earlier.get(id)?.[0];
    const pipeFd = earlier?.fd ?? this.pipes.get(id);
    if (entry === undefined || pipeFd === undefined || entry.attached) return;
    if (this.held(id) && !this.moving.has(id) && !this.discarded.has(id)) {
      if (!this.toldHeld.has(id)) {
        this.toldHeld.add(id);
        this.note(id, `its output waits in its pipe: ${HELD}`);
      }
      return;
    }
    if (!entry.readiness.ok && !this.moving.has(id) && !this.discarded.has(id)) {
      if (!this.toldWaiting.has(id)) {
        this.toldWaiting.add(id);
        this.note(
          id,
          `its output waits in its pipe: ${entry.readiness.error}; its log is tried again 1, 3 and 10 s later, then every 10 s`,
        );
      }
      this.retryWaiting();
    }
    if (!entry.readiness.ok || this.moving.has(id) || this.discarded.has(id)) return;
    this.logged.set(id, true);
    if (this.nulls.has(id)) {
      // The pipe goes into /dev/null (no log until now): moved over; what is still in
      // the pipe stays there for the log.
      this.letGo(id);
      return;
    }
    const { owner } = entry;
    const { journalFd, placeFd } = this.openJournal(id);
    try {
      // No file: the pump opens it by its path, as its owner, before it writes (see `open`).
      this.pump.attach(
        id,
        pipeFd,
        -1,
        entry.options,
        { uid: owner.account.uid, gid: owner.account.gid, groupIds: owner.groupIds },
        entry.path,
        this.carried.get(id),
        journalFd,
        placeFd,
      );
    } catch (error) {
      if (journalFd >= 0) closeSync(journalFd);
      if (placeFd >= 0) closeSync(placeFd);
      throw error;
    }
    if (this.carried.delete(id)) this.mayGap.add(id);
    entry.attached = true;
    if (earlier !== undefined) void this.readEarlier(id, earlier.fd);
    const told = [this.toldWaiting.delete(id), this.toldHeld.delete(id)];
    if (told.includes(true))
      this.note(id, 'its log is open now: what waited in its pipe is written');
  }

  /**
   * Its owner known now (see `held`): the output held back goes into the daemons' logs,
   * as a log that can be opened again does. Dropped instead (`discard`) where the account
   * was found another one.
   */
  release(): void {
    for (const id of this.pipes.keys()) if (!this.held(id)) this.attachIfReady(id);
    void this.openWaitingNow();
  }

  /**
   * The pump lets go of the daemon's id (its pipe ended, was replaced, or moves from
   * /dev/null to its log); then the daemon's pipe now, if any, is attached as it is to
   * be. A pipe that came meanwhile waits for it: attached before, the pump refused it
   * ("attached already") and nothing read it.
   */
  private letGo(id: string): void {
    const entry = this.entries.get(id);
    if (entry !== undefined) entry.attached = false;
    this.nulls.delete(id);
    this.moving.add(id);
    const done = this.pump.detach(id).then((fd) => {
      // A pipe that is not the daemon's now is closed (the keeper holds its own copy).
      if (fd !== undefined && fd !== this.pipes.get(id)) closeFd(fd);
      this.moving.delete(id);
      const pipeFd = this.pipes.get(id);
      if (pipeFd === undefined) return;
      if (this.logged.get(id) === false) this.attachToNull(id, pipeFd);
      else this.attachIfReady(id);
    });
    this.lettingGo.set(id, done);
    const forget = (): void => {
      if (this.lettingGo.get(id) === done) this.lettingGo.delete(id);
    };
    done.then(forget, forget);
  }

  /**
   * The daemon's log journal (native/log_journal.c) and the record of which file its pump
   * writes (native/log_place.c), kept by root in the state directory: a killed manager's
   * last chunk, and a line it left under way in a file a logrotate moved, wait there for
   * the next one. -1 for one that cannot be opened: its log is then written as before, a
   * kill possibly doubling a chunk, or splitting that line between two files.
   */
  private openJournal(id: string): { journalFd: number; placeFd: number } {
    const open = (suffix: JournalFile, risk: string): number => {
      try {
        mkdirSync(join(this.settings.stateDir, JOURNALS), { recursive: true, mode: 0o700 });
        return openSync(
          this.journalPath(id, suffix),
          constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW,
          0o600,
        );
      } catch (error) {
        this.log.warn(`${id}: log journal: ${(error as Error).message}; ${risk}`);
        return -1;
      }
    };
    return {
      journalFd: open('journal', 'a kill of the manager may write a piece of its log twice'),
      placeFd: open('file', 'a kill of the manager right after a SIGUSR1 may split a line'),
    };
  }

  private journalPath(id: string, file: JournalFile): string {
    return join(this.settings.stateDir, JOURNALS, `${encodeURIComponent(id)}.${file}`);
  }

  private attachToNull(id: string, pipeFd: number): void {
    if (this.nulls.has(id)) return;
    let devNull: number;
    try {
      devNull = openSync('/dev/null', constants.O_WRONLY);
    } catch {
      return;
    }
    try {
      this.pump.attach(
        id,
        pipeFd,
        devNull,
        { maxBytes: 0, keep: 0, timestamps: false },
        NOBODY,
        '/dev/null',
      );
      this.nulls.add(id);
    } catch (error) {
      closeSync(devNull);
      this.log.error(`${id}: cannot empty its output pipe: ${(error as Error).message}`);
    }
  }

  private onEvent(event: PumpEvent): void {
    switch (event.type) {
      case 'error':
        this.log.warn(`${event.id}: log: ${namingMounter(event.message)}`);
        // In `why` too, once until it is written again: a log made root's by a logrotate,
        // reopened at SIGUSR1, had its daemon's output dropped with nothing in `why` (an
        // outside review, 51b, F5).
        if (!this.dropping.has(event.id))
          this.note(
            event.id,
            `its log cannot be written (${namingMounter(event.message)}): its output is dropped, and counted, until it can (tried again at most once a second as output comes, and at each SIGUSR1)`,
          );
        this.noteDropping(event.id, true);
        if (GONE_FILE.test(event.message)) this.reopenWhileGone(event.id);
        return;
      case 'stuck':
        this.log.error(`${event.id}: log: ${event.message}; its output waits in its pipe`);
        return;
      case 'recovered':
        this.stopReopening(event.id);
        this.log.info(`${event.id}: log: writing again`);
        if (this.dropping.has(event.id))
          this.note(event.id, 'its log is written again (what was dropped is said there)');
        this.noteDropping(event.id, false);
        return;
      case 'rotated':
        this.log.debug(`${event.id}: log rotated`);
        return;
      case 'eof': {
        // A pipe replaced by another meanwhile (see `pipe`) is let go there: its end says
        // nothing of the daemon's pipe now, which this one's bookkeeping would have lost.
        if (this.pipes.get(event.id) !== event.pipeFd) return;
        const inode = inodeOf(event.pipeFd);
        this.pipes.delete(event.id);
        const gap = this.nulls.has(event.id) ? undefined : gapOf(this.pump.stats(event.id));
        // Said once the daemon's next pipe writes (the pipe that ended has no rest).
        if (gap !== undefined) this.carried.set(event.id, { ...gap, skipRest: false });
        this.noteDropping(event.id, false);
        this.letGo(event.id);
        this.ended(event.id, inode);
        return;
      }
    }
  }

  /**
   * The count of what is dropped is saved with the state: at once when a gap begins or
   * ends, and each second while one lasts, so that a manager killed meanwhile leaves the
   * next one at most a second's count short.
   */
  private noteDropping(id: string, dropping: boolean): void {
    if (dropping) {
      this.dropping.add(id);
      this.mayGap.add(id);
    } else if (!this.dropping.delete(id)) return;
    this.gapChanged();
    if (this.dropping.size > 0 && this.dropTimer === undefined) {
      this.dropTimer = setInterval(() => this.gapChanged(), 1_000);
      this.dropTimer.unref();
    } else if (this.dropping.size === 0 && this.dropTimer !== undefined) {
      clearInterval(this.dropTimer);
      this.dropTimer = undefined;
    }
  }

  /** The admin's settings bound what a daemon's config may ask for. */
  private optionsFor(spec: DaemonSpec): LogOptions {
    const adminMax = this.settings.logMaxBytes;
    const asked = spec.logMaxBytes;
    const maxBytes =
      asked === undefined || asked === 0
        ? adminMax
        : adminMax === 0
          ? asked
          : Math.min(asked, adminMax);
    return {
      maxBytes,
      keep: Math.min(spec.logKeep ?? this.settings.logKeep, this.settings.logKeep),
      timestamps: spec.logTimestamps,
    };
  }
}

/** /dev/null is opened by the manager itself: no owner's rights are needed for it. */
const NOBODY = { uid: 0, gid: 0, groupIds: [] };

/** A pipe's inode: both its ends have it, so it names the pipe to the keeper (-1 if unknown). */
function inodeOf(fd: number): number {
  try {
    return fstatSync(fd).ino;
  } catch {
    return -1;
  }
}

/**
 * Is an entry the log at `path`, written as `owner` with `options`? One written for an
 * account made again under the name since (another uid) is not, even at the same path.
 */
function sameLog(entry: LogEntry, owner: Owner, path: string, options: LogOptions): boolean {
  return (
    entry.owner.account.uid === owner.account.uid &&
    entry.path === path &&
    JSON.stringify(entry.options) === JSON.stringify(options)
  );
}
