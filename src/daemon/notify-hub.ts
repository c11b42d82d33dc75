import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { KeeperLink } from '../keeper/link.ts';
import type { Logger } from '../logging/logger.ts';
import { type NotifyMessage, parseNotify } from '../notify/message.ts';
import { RateLimit } from '../notify/rate.ts';
import { isOwnProcess, type RunPlace } from '../notify/sender.ts';
import type { NotifyWatch } from '../process/native.ts';
import { sha256 } from '../process/sha256.ts';
import type { DaemonRecord } from '../supervisor/state.ts';

/** Datagrams a daemon may send at once, and per second after that. */
const BURST = 100;
const PER_SECOND = 50;
/**
 * The same for all of one user's daemons together: per daemon alone, 200 daemons read
 * 10,000 a second, and an outside review's flood of them made another user's status
 * take 5-6 s and their respawns 2-3 s. Room enough for 1,000 daemons' READY=1 at once,
 * and for their watchdogs pinged every few seconds.
 */
const USER_BURST = 2_000;
const USER_PER_SECOND = 1_000;
/**
 * And in bytes: 1,000 messages of 4 KB a second are 4 MB, and a review's 120 daemons
 * sending 4000-byte `STATUS=` kept the manager busy at that rate, so that it got only its
 * share of 2 cores among 120 busy senders and another user's status took 20-30 s. The
 * burst holds 1,000 daemons' READY=1 with a 200-character status each.
 */
const USER_BURST_BYTES = 256 * 1024;
const USER_BYTES_PER_SECOND = 64 * 1024;
/** What a datagram cut by the kernel (too long, read as null) counts for. */
const MAX_MESSAGE_BYTES = 4096;
/** A daemon over its rate is not read for this long: its datagrams wait in the kernel. */
const PAUSE_MS = 1_000;
/**
 * A daemon over its rate again soon after a pause is not read for twice as long, up to
 * this: each pause's end let a flood of 200 daemons in again, and the machine's time
 * went to it (another user's status took 9-10 s with 1 s pauses, under 1 ms at the
 * median with 10 s ones, measured on 2 cores).
 */
const MAX_PAUSE_MS = 30_000;
/** What sun_path holds, its final NUL aside. */
const MAX_PATH_BYTES = 107;
/** Messages kept while a run's main pid is not known yet (its first moments). */
const MAX_EARLY = 16;
/** Senders remembered per run: a daemon's own processes that send are few. */
const MAX_MEMBERS = 64;
/** The keeper's name for a daemon's notify socket (kept across upgrades and crashes). */
const PREFIX = 'ntf:';

/** What the hub needs of the manager and the addon. */
export interface NotifyHost {
  readonly log: Logger;
  readonly link: () => KeeperLink;
  readonly bindNotify: (path: string, uid: number, gid: number) => number;
  readonly watchNotify: (
    fd: number,
    onMessage: (pid: number, uid: number, gid: number, data: Buffer | null) => void,
  ) => NotifyWatch;
  readonly closeFd: (fd: number) => void;
  /** The daemon now, by id (undefined once forgotten). */
  readonly daemon: (id: string) => DaemonRecord | undefined;
  /** Where the daemon's current run is: its cgroup, its main pid; undefined if none runs. */
  readonly placeOf: (record: DaemonRecord) => (RunPlace & { readonly run: number }) | undefined;
  /** A message from one of the run's own processes. */
  readonly deliver: (record: DaemonRecord, run: number, message: NotifyMessage) => void;
}

interface Entry {
  readonly fd: number;
  readonly path: string;
  readonly uid: number;
  readonly gid: number;
  readonly watch: NotifyWatch;
  readonly rate: RateLimit;
  paused: NodeJS.Timeout | undefined;
  /** When a pause under way ends. */
  pausedUntil: number;
  /** Refused senders since the last warning about them, and when that was. */
  refused: number;
  warnedAt: number;
  /** When a flood was last said in the log. */
  floodWarnedAt: number;
  /** How long its last pause was, and when it ended (see MAX_PAUSE_MS). */
  pauseMs: number;
  pauseEnded: number;
  /** Senders found to be the run's own processes, so that a flood costs no /proc read each. */
  members: { run: number; readonly pids: Set<number> };
  /** Messages that came before the keeper reported the run's main pid (no cgroup). */
  readonly early: { pid: number; uid: number; data: Buffer | null }[];
}

/**
 * The sd_notify sockets of daemons with `ready=notify` or `watchdog=`: one per daemon,
 * `DIR/HASH.sock`, owned by the daemon's run-as user with mode 0700, so the kernel
 * refuses every other user's datagram before the manager sees it (a shared socket would
 * let any user fill one queue that every daemon's READY=1 must pass through). Within the
 * user, a datagram counts only if the kernel's credentials (SCM_CREDENTIALS, never the
 * text) name the run-as uid and a process of the daemon's current run (notify/sender.ts).
 * A daemon over its rate, or whose user's daemons together are over theirs, is not read
 * for a second (its sends block or fail with EAGAIN: it pays for its flood, not the
 * manager). The keeper keeps a copy of each socket, so
 * messages sent during an upgrade wait for the next manager instead of being lost.
 */
export class NotifyHub {
  private readonly host: NotifyHost;
  private readonly dir: string;
  private readonly dirMode: number;
  private readonly entries = new Map<string, Entry>();
  /** Sockets the keeper kept, by daemon id, until their daemons are loaded again. */
  private readonly kept = new Map<string, number>();
  /** Each user's rates, all their daemons together (see USER_PER_SECOND, USER_BYTES_PER_SECOND). */
  private readonly userRates = new Map<string, { messages: RateLimit; bytes: RateLimit }>();
  /** When a user's flood was last said in the log. */
  private readonly userWarnedAt = new Map<string, number>();

  constructor(host: NotifyHost, dir: string, dirMode: number) {
    this.host = host;
    this.dir = dir;
    this.dirMode = dirMode;
  }

  /** Takes a socket the keeper kept (`ntf:ID`), for when its daemon is loaded. */
  adopt(name: string, fd: number): boolean {
    if (!name.startsWith(PREFIX)) return false;
    const id = name.slice(PREFIX.length);
    // This manager has its own (a re-attach): the keeper's copy is the same socket.
    if (this.entries.has(id) || this.kept.has(id)) this.host.closeFd(fd);
    else this.kept.set(id, fd);
    return true;
  }

  /** Gives every socket to a new keeper (the last one died). */
  storeAll(link: KeeperLink): void {
    for (const [id, entry] of this.entries) link.store(PREFIX + id, entry.fd);
  }

  /** Stops reading every socket (an upgrade: the next manager reads them). */
  pauseAll(): void {
    for (const entry of this.entries.values()) {
      clearTimeout(entry.paused);
      entry.paused = undefined;
      entry.watch.pause();
    }
  }

  /** Reads them again (the upgrade was called off). */
  resumeAll(): void {
    for (const entry of this.entries.values()) entry.watch.resume();
  }

  /** Closes every socket and removes its file (the manager stops for good). */
  releaseAll(): void {
    for (const id of [...this.entries.keys()]) this.release(id);
    this.releaseUnclaimed();
  }

  /** Closes the socket the keeper kept for a daemon, if any: it was made for another account. */
  dropKept(id: string): void {
    const fd = this.kept.get(id);
    if (fd === undefined) return;
    this.kept.delete(id);
    this.host.link().drop(PREFIX + id);
    this.host.closeFd(fd);
    this.removeFile(this.pathOf(id));
  }

  /** Closes the kept sockets no daemon took back (its file was deleted meanwhile). */
  releaseUnclaimed(): void {
    for (const [id, fd] of this.kept) {
      this.host.link().drop(PREFIX + id);
      this.host.closeFd(fd);
      this.removeFile(this.pathOf(id));
    }
    this.kept.clear();
  }

  /** The daemon's $NOTIFY_SOCKET, made (or kept) for its run-as user; or why it cannot be. */
  socketFor(record: DaemonRecord, uid: number, gid: number): string | { readonly error: string } {
    const existing = this.entries.get(record.id);
    if (existing !== undefined && existing.uid === uid && existing.gid === gid)
      return existing.path;
    if (existing !== undefined) this.release(record.id);
    const path = this.pathOf(record.id);
    if (Buffer.byteLength(path) > MAX_PATH_BYTES)
      return {
        error: `its notify socket ${path} would be ${Buffer.byteLength(path)} bytes long, more than the ${MAX_PATH_BYTES} a unix socket address holds: choose a shorter socket-dir`,
      };
    let fd = this.kept.get(record.id);
    this.kept.delete(record.id);
    try {
      if (fd === undefined) {
        this.makeDir();
        fd = this.host.bindNotify(path, uid, gid);
        this.host.link().store(PREFIX + record.id, fd);
      }
    } catch (error) {
      return { error: `cannot make its notify socket ${path}: ${(error as Error).message}` };
    }
    const id = record.id;
    const watch = this.host.watchNotify(fd, (pid, senderUid, _gid, data) =>
      this.receive(id, pid, senderUid, data),
    );
    this.entries.set(id, {
      fd,
      path,
      uid,
      gid,
      watch,
      rate: new RateLimit(BURST, PER_SECOND, Date.now()),
      paused: undefined,
      pausedUntil: 0,
      refused: 0,
      warnedAt: 0,
      floodWarnedAt: 0,
      pauseMs: 0,
      pauseEnded: 0,
      members: { run: 0, pids: new Set() },
      early: [],
    });
    return path;
  }

  /** The daemon needs no socket any more (forgotten, or its file no longer asks for one). */
  release(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    clearTimeout(entry.paused);
    entry.watch.close();
    this.host.link().drop(PREFIX + id);
    this.removeFile(entry.path);
  }

  /**
   * Reads what the daemon's socket holds now, before a silence of its is judged (see
   * Watchdogs, Readiness). A socket paused for a rate (before, or by what this read) is
   * not read past it: the milliseconds until it is read again are returned, so that the
   * verdict can wait for that once. A backlog queued during a stall of the manager, read
   * at once, can pass the user's rate without any flood (a review's concern).
   */
  readQueued(id: string): number | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    // A pause whose time is over, its timer not run yet (timers run late after a stall).
    if (entry.paused !== undefined && Date.now() >= entry.pausedUntil) this.endPause(id, entry);
    if (entry.paused === undefined) entry.watch.drain();
    if (entry.paused === undefined) return undefined;
    return Math.max(0, entry.pausedUntil - Date.now());
  }

  /** Does the daemon have a socket now? */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  private receive(id: string, pid: number, uid: number, data: Buffer | null): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    const now = Date.now();
    // The message read is judged even past a rate, then the socket is paused: dropped, a
    // daemon's READY=1 was lost when its user's other daemons had used the user's rate,
    // and it never became ready.
    if (!entry.rate.take(now)) {
      this.judge(id, entry, pid, uid, data, now);
      this.pause(id, entry, `more than ${PER_SECOND} sd_notify messages a second`);
      return;
    }
    const user = id.slice(0, id.indexOf('/'));
    let userRate = this.userRates.get(user);
    if (userRate === undefined) {
      userRate = {
        messages: new RateLimit(USER_BURST, USER_PER_SECOND, now),
        bytes: new RateLimit(USER_BURST_BYTES, USER_BYTES_PER_SECOND, now),
      };
      this.userRates.set(user, userRate);
    }
    const bytes = data === null ? MAX_MESSAGE_BYTES : data.length;
    if (!userRate.messages.take(now) || !userRate.bytes.take(now, bytes)) {
      // Said once a minute for the user, not for each of their daemons paused.
      const warned = now - (this.userWarnedAt.get(user) ?? 0) < 60_000;
      if (!warned) this.userWarnedAt.set(user, now);
      this.judge(id, entry, pid, uid, data, now);
      this.pause(
        id,
        entry,
        warned
          ? undefined
          : `its user's daemons sent more than ${USER_PER_SECOND} sd_notify messages or ${USER_BYTES_PER_SECOND / 1024} KiB a second together`,
      );
      return;
    }
    this.judge(id, entry, pid, uid, data, now);
  }

  /**
   * The keeper has reported the run's main pid since: the messages that came before it
   * (a fast daemon's READY=1 at once) are judged now.
   */
  replay(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.early.length === 0) return;
    const early = entry.early.splice(0);
    for (const { pid, uid, data } of early) this.judge(id, entry, pid, uid, data, Date.now());
  }

  private judge(
    id: string,
    entry: Entry,
    pid: number,
    uid: number,
    data: Buffer | null,
    now: number,
  ): void {
    const record = this.host.daemon(id);
    const place = record === undefined ? undefined : this.host.placeOf(record);
    if (record === undefined || place === undefined) return;
    // Without a cgroup the main pid is the test: until the keeper says it, the message waits.
    if (place.leaf === undefined && place.mainPid === 0) {
      if (entry.early.length < MAX_EARLY) entry.early.push({ pid, uid, data });
      return;
    }
    if (uid !== entry.uid || !this.isMember(entry, pid, place)) {
      this.refuse(id, entry, `pid ${pid} (uid ${uid}) is not a process of its run`, now);
      return;
    }
    const message = data === null ? undefined : parseNotify(data);
    if (message === undefined) {
      this.refuse(id, entry, `pid ${pid} sent a message too long or holding a NUL`, now);
      return;
    }
    this.host.deliver(record, place.run, message);
  }

  /**
   * Is `pid` one of the run's own processes (notify/sender.ts)? A pid found in the run's
   * cgroup is remembered for the run (a process cannot leave it): reading the cgroup's
   * list for every message of a flood cost more than the message. A pid reused meanwhile
   * could be only the same user's process, as with the check itself (the socket is
   * theirs, mode 0700). Without a cgroup a descendant may leave the tree: asked each time.
   */
  private isMember(entry: Entry, pid: number, place: RunPlace & { readonly run: number }): boolean {
    if (place.leaf === undefined) return isOwnProcess(pid, place);
    const { members } = entry;
    if (members.run !== place.run) {
      members.run = place.run;
      members.pids.clear();
    }
    if (members.pids.has(pid)) return true;
    if (!isOwnProcess(pid, place)) return false;
    if (members.pids.size >= MAX_MEMBERS) members.pids.clear();
    members.pids.add(pid);
    return true;
  }

  /**
   * Stops reading a daemon's socket for PAUSE_MS, or twice its last pause if that ended
   * less than a pause ago (up to MAX_PAUSE_MS); `why` (if any) is logged, once a minute.
   */
  private pause(id: string, entry: Entry, why: string | undefined): void {
    if (entry.paused !== undefined) return;
    entry.watch.pause();
    const now = Date.now();
    const again = entry.pauseMs > 0 && now - entry.pauseEnded < entry.pauseMs;
    entry.pauseMs = again ? Math.min(MAX_PAUSE_MS, entry.pauseMs * 2) : PAUSE_MS;
    // A flood that goes on is said once a minute, not at every pause.
    if (why !== undefined && now - entry.floodWarnedAt >= 60_000) {
      entry.floodWarnedAt = now;
      this.host.log.warn(
        `${id}: ${why}; not read for ${entry.pauseMs / 1000}s, longer while it goes on (said at most once a minute)`,
      );
    }
    entry.pausedUntil = now + entry.pauseMs;
    entry.paused = setTimeout(() => this.endPause(id, entry), entry.pauseMs);
  }

  private endPause(id: string, entry: Entry): void {
    clearTimeout(entry.paused);
    entry.paused = undefined;
    entry.pauseEnded = Date.now();
    if (this.entries.get(id) === entry) entry.watch.resume();
  }

  /** Counts a refused datagram; says so in the log at most once a minute per daemon. */
  private refuse(id: string, entry: Entry, why: string, now: number): void {
    entry.refused++;
    if (now - entry.warnedAt < 60_000) return;
    this.host.log.warn(
      `${id}: sd_notify: ignored ${entry.refused} message${entry.refused === 1 ? '' : 's'}, the last because ${why}`,
    );
    entry.refused = 0;
    entry.warnedAt = now;
  }

  /**
   * The directory of the sockets, root's (or the personal user's): searchable by all in
   * system mode, so each run-as user reaches their own socket by its name, but not
   * listable. The mode is set again whatever the umask (the manager's own is 077).
   */
  private makeDir(): void {
    mkdirSync(this.dir, { mode: this.dirMode, recursive: true });
    chmodSync(this.dir, this.dirMode);
  }

  /** A short path: sun_path holds 107 bytes, and ids may be long. */
  private pathOf(id: string): string {
    return join(this.dir, `${sha256(id).toString('hex').slice(0, 20)}.sock`);
  }

  private removeFile(path: string): void {
    try {
      unlinkSync(path);
    } catch {
      // Already gone.
    }
  }
}
