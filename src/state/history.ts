/**
 * Each daemon's recent history, for `dmctl why`: starts, exits, cooldowns, refusals and
 * who ran which dmctl command on it. Bounded whatever happens (a crash loop, a user
 * stopping and starting in a loop): the last HISTORY_LIMITS.perDaemon events of each
 * daemon, each text cut, and the whole under HISTORY_LIMITS.bytes once saved.
 */

/** What an event is about; `--json` carries it for scripts. */
export type EventKind =
  | 'start'
  | 'exit'
  | 'cooldown'
  | 'stop'
  | 'down'
  | 'refused'
  | 'config'
  | 'command'
  /** A health check or the watchdog failed, or passed again. */
  | 'health'
  /** What the daemon said of itself (sd_notify): reloading, stopping. */
  | 'notify';

const KINDS: ReadonlySet<string> = new Set<EventKind>([
  'start',
  'exit',
  'cooldown',
  'stop',
  'down',
  'refused',
  'config',
  'command',
  'health',
  'notify',
]);

/** One event of a daemon's history. */
export interface HistoryEvent {
  /** When, in ms since the epoch. */
  readonly at: number;
  readonly kind: EventKind;
  readonly text: string;
}

/** The saved form: `history.json` in the state directory. */
export interface SavedHistory {
  readonly version: 1;
  readonly daemons: Readonly<Record<string, readonly HistoryEvent[]>>;
  /** The uid of the account each history is of (absent in files of earlier versions). */
  readonly uids?: Readonly<Record<string, number>>;
}

/**
 * The id a daemon's history is kept under while it is not its account's to read under its
 * id (its account is under another name, or the name another account's): no account's
 * name (`#` is never one), so no `why` reads it. Found again by its account (see settle).
 */
export function historyKeptByUid(uid: number, daemon: string): string {
  return `#${uid}/${daemon}`;
}

export const HISTORY_LIMITS = { perDaemon: 50, textChars: 300, bytes: 1024 * 1024 } as const;
/** The saved file's own bytes around the histories (`{"version":1,"daemons":{...}}`). */
const WRAPPER_BYTES = 64;

/** The text of a command run on a daemon, for its history (`alice ran dmctl stop`). */
export function commandText(caller: string, command: string, detail = ''): string {
  return `${caller} ran dmctl ${command}${detail}`;
}

/** Is the event a command that changed whether the daemon is wanted up (start, stop, restart)? */
export function isWantedChange(event: Pick<HistoryEvent, 'kind' | 'text'>): boolean {
  return event.kind === 'command' && /ran dmctl (start|stop|restart)$/.test(event.text);
}

/**
 * A text as an event keeps it (cut past HISTORY_LIMITS.textChars): what to compare an
 * event's text with. Compared whole, a long refusal was never the same as the one noted,
 * and was noted again at every rescan.
 */
export function asNoted(text: string): string {
  return text.length > HISTORY_LIMITS.textChars
    ? `${text.slice(0, HISTORY_LIMITS.textChars - 1)}…`
    : text;
}

/**
 * The histories of every daemon, kept in memory and saved with the state. Each is of one
 * account, by uid (`uidOf`: the account a daemon id is of now): a history is read, and
 * noted to, only under an id of its own account. Renames, deleted and re-made accounts,
 * and takeovers between them moved histories by name, and one account's `why` showed
 * another's pids and who stopped its daemon (an outside review, 49a, F1, with a `kill -9`
 * between each step). A history found under an id of another account now is kept aside
 * by uid (historyKeptByUid), and comes back to its account's daemon of that name.
 */
export class History {
  private readonly events = new Map<string, HistoryEvent[]>();
  /** By id: the uid of the account whose history it is. */
  private readonly uids = new Map<string, number>();
  private readonly uidOf: (id: string) => number | undefined;
  /**
   * What each daemon's history takes in the saved file, as bytesOf last measured it;
   * dropped when the history changes. Measured anew for every daemon at every save, the
   * histories of 10,000 daemons cost the manager 60-170 ms a save (one a second while
   * daemons respawn), in which it answered nothing and respawned nothing.
   */
  private readonly sizes = new Map<string, number>();
  /** Changed since it was last taken for saving. */
  private changed = false;
  /**
   * A history moved to another id, or forgotten, since it was last taken (see
   * movedSinceTaken): the state already names the daemon by its new id, or no longer as
   * that account's.
   */
  private moved = false;

  constructor(uidOf: (id: string) => number | undefined = () => undefined) {
    this.uidOf = uidOf;
  }

  /**
   * Makes the history under `id` its account's: one of another account is kept aside by
   * its uid, and one kept aside for this account comes back, its events first.
   */
  private settle(id: string): void {
    if (id.startsWith('#')) return;
    const uid = this.uidOf(id);
    if (uid === undefined) return;
    const daemon = id.slice(id.indexOf('/') + 1);
    const owner = this.uids.get(id);
    if (owner !== undefined && owner !== uid && this.events.has(id)) {
      this.merge(id, historyKeptByUid(owner, daemon));
    }
    const kept = historyKeptByUid(uid, daemon);
    if (this.events.has(kept)) this.merge(kept, id);
    if (this.events.has(id) && this.uids.get(id) !== uid) {
      this.uids.set(id, uid);
      this.changed = true;
    }
  }

  /** Adds an event to a daemon's history, the oldest going past the bound. */
  note(id: string, kind: EventKind, text: string, at = Date.now()): void {
    this.settle(id);
    const list = this.events.get(id) ?? [];
    // Oldest first, as `why` says: an end the keeper stamped when it reaped the process,
    // told after other events (a takeover's), went after them (an outside review, 31a).
    let index = list.length;
    while (index > 0 && (list[index - 1] as HistoryEvent).at > at) index--;
    list.splice(index, 0, { at, kind, text: asNoted(text) });
    if (list.length > HISTORY_LIMITS.perDaemon) {
      // Who last started or stopped it stays: a user who manages another's daemons pushed
      // their stop out with 50 harmless `kill -CONT`, and the owner could no longer see
      // who stopped it (an outside review, 26c, F1).
      const pinned = list.findLastIndex(isWantedChange);
      const over = list.length - HISTORY_LIMITS.perDaemon;
      if (pinned === -1 || pinned >= over) list.splice(0, over);
      else {
        list.splice(pinned + 1, over - pinned);
        list.splice(0, pinned);
      }
    }
    this.events.set(id, list);
    const uid = id.startsWith('#') ? undefined : this.uidOf(id);
    if (uid !== undefined) this.uids.set(id, uid);
    this.sizes.delete(id);
    this.changed = true;
  }

  /** The uid of the account whose history is under `id`, if known. */
  accountOf(id: string): number | undefined {
    return this.uids.get(id);
  }

  /** Whether it changed since it was last taken for saving. */
  get unsavedChanges(): boolean {
    return this.changed;
  }

  /**
   * Whether a history moved to another id (its owner renamed, kept by uid, back) since it
   * was last taken: saved behind a state that names the daemon by its new id, a kill -9
   * had the next manager find it under an id no daemon has, and drop it (a CI run: the
   * owner's `why` lost who stopped its daemon). Or forgotten: saved behind the state that
   * says an account was made again, a kill -9 had the next manager show the new account
   * the deleted one's events (a full test run: its run's pid in their `why`).
   */
  get movedSinceTaken(): boolean {
    return this.moved;
  }

  /** A daemon's events, oldest first: its account's only. */
  of(id: string): readonly HistoryEvent[] {
    this.settle(id);
    const uid = this.uidOf(id);
    const owner = this.uids.get(id);
    if (uid !== undefined && owner !== undefined && owner !== uid) return [];
    return this.events.get(id) ?? [];
  }

  /**
   * Gives a daemon's history to the daemon it is now under another id (its owner
   * renamed), unless that one has a history of its own already.
   */
  carry(from: string, to: string): void {
    const events = this.events.get(from);
    if (events === undefined) return;
    // Another account's there (its account away under a name not allowed, the saved
    // history read back at a takeover): kept aside for it. Left in the way, the owner's
    // was dropped as it got its old name back (an outside review, 50a, F2: the keeper
    // killed after each step).
    const theirs = this.uids.get(to);
    const ours = this.uids.get(from);
    if (theirs !== undefined && ours !== undefined && theirs !== ours && !to.startsWith('#'))
      this.merge(to, historyKeptByUid(theirs, to.slice(to.indexOf('/') + 1)));
    if (this.events.has(to)) return;
    this.events.set(to, [...events]);
    const uid = this.uids.get(from);
    if (uid !== undefined) this.uids.set(to, uid);
    this.sizes.delete(to);
    this.changed = true;
    this.moved = true;
  }

  /**
   * Puts a daemon's history kept elsewhere before what the daemon noted since (its account
   * back under an allowed name: the daemon was loaded, and said so, first), and forgets it
   * there. The latest events are kept past the bound.
   */
  merge(from: string, to: string): void {
    const events = this.events.get(from);
    if (events === undefined) return;
    const merged = [...events, ...(this.events.get(to) ?? [])].sort((a, b) => a.at - b.at);
    this.events.set(to, merged.slice(-HISTORY_LIMITS.perDaemon));
    const uid = this.uids.get(from);
    if (uid !== undefined && !this.uids.has(to)) this.uids.set(to, uid);
    this.sizes.delete(to);
    this.forget(from);
    this.changed = true;
    this.moved = true;
  }

  /**
   * Adds to `to` the events of `from` it does not have (those carried there before count
   * once), in order of time; `from` stays as it is. The latest events are kept past the
   * bound.
   */
  addMissing(from: string, to: string): void {
    const events = this.events.get(from);
    if (events === undefined) return;
    const there = this.events.get(to) ?? [];
    const key = (event: HistoryEvent): string => `${event.at} ${event.kind} ${event.text}`;
    const had = new Set(there.map(key));
    const missing = events.filter((event) => !had.has(key(event)));
    if (missing.length === 0) return;
    const merged = [...there, ...missing].sort((a, b) => a.at - b.at);
    this.events.set(to, merged.slice(-HISTORY_LIMITS.perDaemon));
    this.sizes.delete(to);
    this.changed = true;
  }

  /** The ids of the histories kept under ids that begin with `prefix`. */
  idsStartingWith(prefix: string): string[] {
    return [...this.events.keys()].filter((id) => id.startsWith(prefix));
  }

  /** Forgets a daemon's history (the daemon is forgotten). */
  forget(id: string): void {
    this.sizes.delete(id);
    this.uids.delete(id);
    if (this.events.delete(id)) {
      this.changed = true;
      this.moved = true;
    }
  }

  /**
   * Forgets the histories of daemons not in `ids` (forgotten, their user gone), and those
   * kept aside by uid (historyKeptByUid) for a uid not `kept`.
   */
  keepOnly(ids: ReadonlySet<string>, kept: (uid: number) => boolean = () => false): void {
    for (const id of this.events.keys()) {
      if (ids.has(id)) continue;
      if (id.startsWith('#') && kept(Number(id.slice(1, id.indexOf('/'))))) continue;
      this.events.delete(id);
      this.uids.delete(id);
      this.sizes.delete(id);
      this.changed = true;
    }
  }

  /**
   * The text to save, or undefined when nothing changed since the last call. Past the
   * size bound, each user has an equal share of it: a user over theirs keeps fewer of
   * their daemons' latest events, so one user flooding their own histories never shortens
   * another's (who stopped whose daemon stays on record).
   */
  take(): string | undefined {
    if (!this.changed) return undefined;
    this.changed = false;
    this.moved = false;
    const byUser = new Map<string, string[]>();
    for (const id of this.events.keys()) {
      const user = id.slice(0, Math.max(0, id.indexOf('/')));
      // Not a new array per id: 1,000 daemons of one user made 500,000 copies a save.
      const ids = byUser.get(user);
      if (ids) ids.push(id);
      else byUser.set(user, [id]);
    }
    const share = Math.floor((HISTORY_LIMITS.bytes - WRAPPER_BYTES) / Math.max(1, byUser.size));
    for (const ids of byUser.values()) this.trim(ids, share);
    // Past that (thousands of users), everyone keeps fewer, alike.
    this.trim([...this.events.keys()], HISTORY_LIMITS.bytes - WRAPPER_BYTES);
    return JSON.stringify(this.saved());
  }

  /** Keeps fewer of the latest events of these daemons until they fit in `bytes`. */
  private trim(ids: readonly string[], bytes: number): void {
    for (let keep: number = HISTORY_LIMITS.perDaemon; keep >= 1; keep = Math.floor(keep / 2)) {
      if (this.bytesOf(ids) <= bytes) return;
      for (const id of ids) {
        const list = this.events.get(id) ?? [];
        if (list.length <= keep) continue;
        list.splice(0, list.length - keep);
        this.sizes.delete(id);
      }
    }
  }

  /** What these daemons' histories take in the saved file, in bytes. */
  private bytesOf(ids: readonly string[]): number {
    let total = 0;
    for (const id of ids) {
      let size = this.sizes.get(id);
      if (size === undefined) {
        // With its uid's entry in `uids` (`"ID":UID,`).
        size =
          Buffer.byteLength(JSON.stringify({ [id]: this.events.get(id) ?? [] })) -
          1 +
          (this.uids.has(id) ? Buffer.byteLength(JSON.stringify(id)) + 12 : 0);
        this.sizes.set(id, size);
      }
      total += size;
    }
    return total;
  }

  /** The text last taken (`moved`: see movedSinceTaken) could not be saved: it is taken again next time. */
  unsaved(moved: boolean): void {
    this.changed = true;
    if (moved) this.moved = true;
  }

  /** Puts back saved histories, keeping what is valid and within bounds. */
  restore(value: unknown): void {
    if (typeof value !== 'object' || value === null) return;
    const { version, daemons } = value as Record<string, unknown>;
    if (version !== 1 || typeof daemons !== 'object' || daemons === null) return;
    for (const [id, list] of Object.entries(daemons)) {
      if (!Array.isArray(list)) continue;
      const events = list.filter(isEvent).slice(-HISTORY_LIMITS.perDaemon);
      if (events.length > 0) this.events.set(id, events);
      this.sizes.delete(id);
    }
    const { uids } = value as { uids?: unknown };
    if (typeof uids === 'object' && uids !== null)
      for (const [id, uid] of Object.entries(uids))
        if (this.events.has(id) && Number.isSafeInteger(uid) && (uid as number) >= 0)
          this.uids.set(id, uid as number);
  }

  private saved(): SavedHistory {
    const uids = Object.fromEntries([...this.uids].filter(([id]) => this.events.has(id)));
    return {
      version: 1,
      daemons: Object.fromEntries(this.events),
      ...(Object.keys(uids).length === 0 ? {} : { uids }),
    };
  }
}

function isEvent(value: unknown): value is HistoryEvent {
  if (typeof value !== 'object' || value === null) return false;
  const { at, kind, text } = value as Record<string, unknown>;
  return (
    Number.isSafeInteger(at) &&
    typeof kind === 'string' &&
    KINDS.has(kind) &&
    typeof text === 'string' &&
    text.length <= HISTORY_LIMITS.textChars
  );
}
