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
  private notRestartedWhy: string | undefined;
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

  /** Changed and running, not restarted: whoever asked may not restart more now (`why`). */
  holdBack(id: string, why: string): void {
    this.changed.push(id);
    this.notRestarted.push(id);
    this.notRestartedWhy = why;
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
      ...(this.notRestartedWhy === undefined
        ? {}
        : { notRestarted: this.notRestarted, notRestartedWhy: this.notRestartedWhy }),
      removed: this.removed,
      refused: this.refused,
      refusedMore: this.refusedMore,
    };
  }
}
