import type { RescanReport } from '../protocol/messages.ts';

/** Refusals named in one report; more are only counted (a directory may hold 50,000). */
export const REFUSALS_NAMED = 20;

/** Collects what one rescan did, across users, for the reply to `dmctl rescan`. */
export class RescanTally {
  /** Who asked for the rescan (a user pays for what it costs); none: root, a reload. */
  readonly askedBy: string | undefined;
  private readonly added: string[] = [];
  private readonly changed: string[] = [];
  private readonly restarted: string[] = [];
  private readonly notRestarted: string[] = [];
  private readonly notLoaded: string[] = [];
  private readonly notStarted: string[] = [];
  private heldBackWhy: string | undefined;
  private readonly removed: string[] = [];
  private readonly refused: string[] = [];
  private refusedMore = 0;
  /** What reading the files cost, in the rescan budget's bytes (see rescan-budget.ts). */
  cost = 0;

  constructor(askedBy?: string) {
    this.askedBy = askedBy;
  }

  add(id: string): void {
    this.added.push(id);
  }

  change(id: string, restarted: boolean): void {
    this.changed.push(id);
    if (restarted) this.restarted.push(id);
  }

  /**
   * Held back: whoever asked may not ask for more starts now (see explain). A changed
   * daemon not restarted, a new one not loaded, one whose file is accepted now not started.
   */
  holdBack(id: string, what: 'changed' | 'new' | 'accepted'): void {
    if (what === 'changed') {
      this.changed.push(id);
      this.notRestarted.push(id);
    } else if (what === 'new') this.notLoaded.push(id);
    else this.notStarted.push(id);
  }

  /** How many were held back (see holdBack). */
  heldBack(): number {
    return this.notRestarted.length + this.notLoaded.length + this.notStarted.length;
  }

  /** Why those held back were (for whoever asked: with when to try again). */
  explain(why: string): void {
    this.heldBackWhy = why;
  }

  remove(id: string): void {
    this.removed.push(id);
  }

  /** A daemon (or files) not loaded, or not allowed to run. */
  refuse(what: string): void {
    if (this.refused.length < REFUSALS_NAMED) this.refused.push(what);
    else this.refusedMore++;
  }

  report(): RescanReport {
    return {
      added: this.added,
      changed: this.changed,
      restarted: this.restarted,
      ...(this.heldBack() === 0
        ? {}
        : {
            notRestarted: this.notRestarted,
            notLoaded: this.notLoaded,
            notStarted: this.notStarted,
            heldBackWhy: this.heldBackWhy ?? 'refused',
          }),
      removed: this.removed,
      refused: this.refused,
      refusedMore: this.refusedMore,
    };
  }
}
