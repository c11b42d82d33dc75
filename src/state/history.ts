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
  | 'command';

const KINDS: ReadonlySet<string> = new Set<EventKind>([
  'start',
  'exit',
  'cooldown',
  'stop',
  'down',
  'refused',
  'config',
  'command',
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
}

export const HISTORY_LIMITS = { perDaemon: 50, textChars: 300, bytes: 1024 * 1024 } as const;

/** The histories of every daemon, kept in memory and saved with the state. */
export class History {
  private readonly events = new Map<string, HistoryEvent[]>();
  /** Changed since it was last taken for saving. */
  private changed = false;

  /** Adds an event to a daemon's history, the oldest going past the bound. */
  note(id: string, kind: EventKind, text: string, at = Date.now()): void {
    const list = this.events.get(id) ?? [];
    const cut =
      text.length > HISTORY_LIMITS.textChars
        ? `${text.slice(0, HISTORY_LIMITS.textChars - 1)}…`
        : text;
    list.push({ at, kind, text: cut });
    if (list.length > HISTORY_LIMITS.perDaemon)
      list.splice(0, list.length - HISTORY_LIMITS.perDaemon);
    this.events.set(id, list);
    this.changed = true;
  }

  /** A daemon's events, oldest first. */
  of(id: string): readonly HistoryEvent[] {
    return this.events.get(id) ?? [];
  }

  /** Forgets a daemon's history (the daemon is forgotten). */
  forget(id: string): void {
    if (this.events.delete(id)) this.changed = true;
  }

  /** Forgets the histories of daemons not in `ids` (forgotten, their user gone). */
  keepOnly(ids: ReadonlySet<string>): void {
    for (const id of this.events.keys())
      if (!ids.has(id)) {
        this.events.delete(id);
        this.changed = true;
      }
  }

  /**
   * The text to save, or undefined when nothing changed since the last call. Past the
   * size bound, every daemon keeps fewer of its latest events until the whole fits.
   */
  take(): string | undefined {
    if (!this.changed) return undefined;
    this.changed = false;
    for (let keep: number = HISTORY_LIMITS.perDaemon; ; keep = Math.floor(keep / 2)) {
      const text = JSON.stringify(this.saved());
      if (text.length <= HISTORY_LIMITS.bytes || keep <= 1) return text;
      for (const list of this.events.values())
        if (list.length > keep) list.splice(0, list.length - keep);
    }
  }

  /** The text last taken could not be saved: it is taken again next time. */
  unsaved(): void {
    this.changed = true;
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
    }
  }

  private saved(): SavedHistory {
    return { version: 1, daemons: Object.fromEntries(this.events) };
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
