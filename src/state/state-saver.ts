import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../logging/logger.ts';
import type { SavedState } from './snapshot.ts';
import type { StateFile } from './state-file.ts';

/** A file saved in the same round as the state (the daemons' history), when it changed. */
export interface Companion {
  readonly path: string;
  /** Whether it changed since it was last saved. */
  pending(): boolean;
  /** Whether what changed must be saved with the state, however soon after its last save. */
  dueWithState(): boolean;
  save(): void;
  /**
   * Takes what is to be saved now (nothing if it did not change), to be written later
   * off the event loop: taken with the state it goes with, never ahead of it.
   */
  take(): (() => Promise<void>) | undefined;
}

/**
 * The least time between two saves that nobody waits for. Each save writes every daemon
 * (and the why history): in a crash storm the changes never stop, and saving again as soon
 * as the last save ended cost the manager most of its CPU, more the more daemons it had.
 * A change nobody waits for (a respawn) may be lost to a kill -9 of the manager within
 * this time; the keeper holds the runs themselves, and the next manager finds them there.
 */
const BACKGROUND_SAVE_MS = 1000;

/**
 * Saves the state file after changes, and tells when a change is on disk. A reply to
 * dmctl waits for `durable()`: an acknowledged start or stop survives a kill -9 of the
 * manager right after it, and is saved at once. Saves run one at a time off the event
 * loop; changes made during one are taken by the next, and other changes wait up to
 * BACKGROUND_SAVE_MS for it (a storm of 1,000 exits a second costs one save a second).
 * A save that fails (a full disk) is reported once and tried again each BACKGROUND_SAVE_MS
 * until one is made, changes or not: the daemons keep running either way. Tried again only
 * at the next change, what was done while the disk was full (a daemon stopped and waiting
 * for its file to be accepted) was lost to a kill -9 after room was made (an outside
 * review, 31a, F1).
 */
export class StateSaver {
  private saving: Promise<void> | undefined;
  private dirty = false;
  private failing = false;
  private held = false;
  /** Someone waits for the saves to end (`idle`): the one under way is the last for now. */
  private quiet = false;
  /** Resolved by the next save that starts (it takes every change made before it). */
  private nextWaiters: ((failure: string | undefined) => void)[] = [];
  /** The same, for those who do not hurry it (see `saved`). */
  private laterWaiters: ((failure: string | undefined) => void)[] = [];
  private readonly file: StateFile;
  private readonly take: () => SavedState;
  private readonly log: Logger;
  private readonly companion: Companion | undefined;
  private companionFailing = false;
  private copyFailing = false;
  private copySavedAt = Number.NEGATIVE_INFINITY;
  private lastSaveEnded = Number.NEGATIVE_INFINITY;
  private companionSavedAt = Number.NEGATIVE_INFINITY;
  /** Ends the wait before a background save (a waiter came, or the manager is leaving). */
  private hurry: (() => void) | undefined;

  /** The clock the saves are spaced by (a test's own, to step through a second). */
  private readonly now: () => number;

  constructor(
    file: StateFile,
    take: () => SavedState,
    log: Logger,
    companion?: Companion,
    now: () => number = () => performance.now(),
  ) {
    this.file = file;
    this.take = take;
    this.log = log;
    this.companion = companion;
    this.now = now;
  }

  /** Saves soon (a change happened). */
  schedule(): void {
    this.dirty = true;
    if (this.saving === undefined && !this.held) this.saving = this.run();
  }

  /**
   * Saves nothing more until `release`: before the manager has loaded every daemon, or
   * once the state file is the next manager's (an upgrade). Call once `idle`.
   */
  hold(): void {
    this.held = true;
  }

  /** Saves again, the changes made meanwhile first. */
  release(): void {
    this.held = false;
    if (this.dirty || this.nextWaiters.length + this.laterWaiters.length > 0) this.schedule();
  }

  /**
   * Saves at once, the companion file (the history) with the state, however soon after its
   * last save: what they drop must not come back after a crash (an account deleted, whose
   * uid a new account may be given). Resolves once both are on disk, tried again each
   * second until they are; `failed` is told the first failure. Told as failed for good, a
   * save made a moment later was never said (an outside review, 53a, F2, F3).
   */
  saveAllNow(failed?: (failure: string) => void): Promise<void> {
    this.companionSavedAt = Number.NEGATIVE_INFINITY;
    this.urgent = true;
    return new Promise((resolve) => {
      this.allWaiters.push({ resolve, failed, told: false });
      this.schedule();
      this.hurry?.();
    });
  }

  /** Those waiting for a save of the state and the companion file both (see saveAllNow). */
  private allWaiters: {
    resolve: () => void;
    failed: ((failure: string) => void) | undefined;
    told: boolean;
  }[] = [];

  /** A save asked for at once (see saveAllNow): the next turn does not wait. */
  private urgent = false;

  /** Resolves once every change so far is on disk; with why, if the save failed. */
  durable(): Promise<string | undefined> {
    return new Promise((resolve) => {
      this.nextWaiters.push(resolve);
      this.schedule();
      this.hurry?.();
    });
  }

  /**
   * Resolves once the next save (it takes every change so far) is done, with why if it
   * failed; unlike `durable`, it does not hurry that save.
   */
  saved(): Promise<string | undefined> {
    return new Promise((resolve) => {
      this.laterWaiters.push(resolve);
      this.schedule();
    });
  }

  /**
   * Resolves once no save is under way: one waiting for its turn is made now, and none
   * follows it until the caller's `saveNow`. Changes keep coming meanwhile (a readiness
   * check polled, a save that fails and is retried): waiting for them to stop waited for
   * good, and an upgrade or a SIGTERM with it.
   */
  async idle(): Promise<void> {
    this.quiet = true;
    try {
      while (this.saving !== undefined) {
        this.hurry?.();
        await this.saving;
      }
    } finally {
      this.quiet = false;
    }
  }

  /** Saves now, synchronously (before execve, at exit); false if it failed. */
  saveNow(state: SavedState): boolean {
    try {
      this.file.save(state);
      this.failing = false;
    } catch (error) {
      this.log.error(`cannot save the state in ${this.file.path}: ${(error as Error).message}`);
      this.failing = true;
      return false;
    }
    try {
      this.companion?.save();
    } catch (error) {
      // Only the history: the state itself is saved, the daemons are not at stake.
      this.log.error(`cannot save ${this.companion?.path}: ${(error as Error).message}`);
    }
    return true;
  }

  /** Writes the state's copy; a failure is said once, and never fails the state. */
  private async saveCopy(): Promise<void> {
    try {
      await this.file.copyAsync();
      this.copyFailing = false;
    } catch (error) {
      if (!this.copyFailing)
        this.log.error(`cannot save ${this.file.copyPath}: ${(error as Error).message}`);
      this.copyFailing = true;
    }
  }

  /** Writes what was taken of the companion file; a failure is said once, and never fails the state. */
  private async saveCompanion(write: (() => Promise<void>) | undefined): Promise<void> {
    if (write === undefined) return;
    try {
      await write();
      this.companionFailing = false;
    } catch (error) {
      if (!this.companionFailing)
        this.log.error(`cannot save ${this.companion?.path}: ${(error as Error).message}`);
      this.companionFailing = true;
    }
  }

  private async run(): Promise<void> {
    // Changes made in the same turn of the event loop go into one save.
    await new Promise((resolve) => setImmediate(resolve));
    // Held meanwhile (a save asked for between the caller's `idle` and its `hold`): the
    // state file may be the next manager's already.
    while (this.dirty && !this.quiet && !this.held) {
      await this.turn();
      if (this.held) break;
      this.dirty = false;
      const waiters = [...this.nextWaiters, ...this.laterWaiters];
      this.nextWaiters = [];
      this.laterWaiters = [];
      const allWaiters = this.allWaiters;
      this.allWaiters = [];
      let failure: string | undefined;
      const state = this.take();
      // The history as it is with this state: taken later (after the state's write), it
      // held what happened meanwhile, and a kill -9 before the next save left a history
      // ahead of the state (an outside review's test: a stop's SIGKILL said in the saved
      // history, not in the saved state, and the next manager sent it again and said it
      // twice). Behind it instead, the next manager does again only what it says.
      const companionDue =
        this.now() - this.companionSavedAt >= BACKGROUND_SAVE_MS ||
        this.companion?.dueWithState() === true;
      const companion = companionDue ? this.companion?.take() : undefined;
      try {
        await this.file.saveAsync(state);
        if (this.failing) this.log.info(`state saved again in ${this.file.path}`);
        this.failing = false;
      } catch (error) {
        failure = `cannot save the state in ${this.file.path}: ${(error as Error).message}`;
        if (!this.failing)
          this.log.error(`${failure}; daemons keep running${gone(this.file.path)}`);
        this.failing = true;
        this.dirty = true;
      }
      // Those who wait are told once the state is on disk: the history (up to 1 MiB) is
      // nobody's promise, and saved at most once per BACKGROUND_SAVE_MS. Rewritten before
      // every reply, one user's start/stop loop made others' status wait 200-800 ms.
      for (const resolve of waiters) resolve(failure);
      // The state's copy beside it, nobody waiting for either (see StateFile.copyPath), at
      // most once per BACKGROUND_SAVE_MS too: a flood of requests waits for no second write.
      const copyDue = failure === undefined && this.now() - this.copySavedAt >= BACKGROUND_SAVE_MS;
      const copy = copyDue ? this.saveCopy() : undefined;
      if (companionDue) {
        await this.saveCompanion(companion);
        this.companionSavedAt = this.now();
        const both =
          failure ?? (this.companionFailing ? `cannot save ${this.companion?.path}` : undefined);
        if (both === undefined) for (const waiter of allWaiters) waiter.resolve();
        else {
          for (const waiter of allWaiters)
            if (!waiter.told) {
              waiter.told = true;
              waiter.failed?.(both);
            }
          // Tried again with the next save, a second later.
          this.allWaiters.unshift(...allWaiters);
          if (allWaiters.length > 0) {
            this.companionSavedAt = Number.NEGATIVE_INFINITY;
            this.dirty = true;
          }
        }
      } else {
        if (this.companion?.pending()) this.dirty = true;
        // Not due in this turn (asked for as it began): the next one saves both, at once.
        if (allWaiters.length > 0) {
          this.allWaiters.unshift(...allWaiters);
          this.urgent = true;
          this.companionSavedAt = Number.NEGATIVE_INFINITY;
          this.dirty = true;
        }
      }
      if (copyDue) {
        await copy;
        this.copySavedAt = this.now();
      } else if (this.file.copyPending()) this.dirty = true;
      this.lastSaveEnded = this.now();
    }
    this.saving = undefined;
  }

  /**
   * Waits until BACKGROUND_SAVE_MS after the last save, unless someone waits for this one;
   * a history left behind by a save made sooner (someone waited for it) no longer than its
   * own BACKGROUND_SAVE_MS. Spaced from the hurried save instead, it waited up to two: a
   * start said 1.5 s before a kill -9 of the manager was lost, a `dmctl` request having
   * hurried a save in between (an outside review, 71a, F2).
   */
  private turn(): Promise<void> {
    let wait = this.lastSaveEnded + BACKGROUND_SAVE_MS - this.now();
    if (this.companion?.pending() === true)
      wait = Math.min(wait, this.companionSavedAt + BACKGROUND_SAVE_MS - this.now());
    const urgent = this.urgent;
    this.urgent = false;
    if (urgent || this.nextWaiters.length > 0 || this.quiet || wait <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.hurry?.(), wait);
      // Only a save tried again: nobody waits for it to leave (a test's saver, a state
      // directory gone).
      if (this.failing) timer.unref();
      this.hurry = () => {
        clearTimeout(timer);
        this.hurry = undefined;
        resolve();
      };
    });
  }
}

/** What a missing state directory means, said with the first failed save. */
function gone(path: string): string {
  const dir = dirname(path);
  if (existsSync(dir)) return '';
  return `, but ${dir} is gone, and the manager's lock and its keeper's socket with it: a manager started after this one ends will not reach the daemons (it names the keeper left behind). A clean restart (SIGTERM, then start) puts the directory back`;
}
