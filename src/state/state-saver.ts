import type { Logger } from '../logging/logger.ts';
import type { SavedState } from './snapshot.ts';
import type { StateFile } from './state-file.ts';

/** A file saved in the same round as the state (the daemons' history), when it changed. */
export interface Companion {
  readonly path: string;
  save(): void;
  saveAsync(): Promise<void>;
}

/**
 * Saves the state file after changes, and tells when a change is on disk. A reply to
 * dmctl waits for `durable()`: an acknowledged start or stop survives a kill -9 of the
 * manager right after it. Saves run one at a time off the event loop; changes made during
 * one are taken by the next (a storm of 100 changes costs a couple of saves, not 100).
 * A save that fails (a full disk) is reported once and retried at the next change: the
 * daemons keep running either way.
 */
export class StateSaver {
  private saving: Promise<void> | undefined;
  private dirty = false;
  private failing = false;
  /** Resolved by the next save that starts (it takes every change made before it). */
  private nextWaiters: ((failure: string | undefined) => void)[] = [];
  private readonly file: StateFile;
  private readonly take: () => SavedState;
  private readonly log: Logger;
  private readonly companion: Companion | undefined;
  private companionFailing = false;

  constructor(file: StateFile, take: () => SavedState, log: Logger, companion?: Companion) {
    this.file = file;
    this.take = take;
    this.log = log;
    this.companion = companion;
  }

  /** Saves soon (a change happened). */
  schedule(): void {
    this.dirty = true;
    if (this.saving === undefined) this.saving = this.run();
  }

  /** Resolves once every change made so far is on disk (or failed to be). */
  /** Resolves once every change so far is on disk; with why, if the save failed. */
  durable(): Promise<string | undefined> {
    return new Promise((resolve) => {
      this.nextWaiters.push(resolve);
      this.schedule();
    });
  }

  /** Resolves once no save is under way. */
  async idle(): Promise<void> {
    while (this.saving !== undefined) await this.saving;
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

  /** Saves the companion file; a failure is said once, and never fails the state. */
  private async saveCompanion(): Promise<void> {
    if (this.companion === undefined) return;
    try {
      await this.companion.saveAsync();
      this.companionFailing = false;
    } catch (error) {
      if (!this.companionFailing)
        this.log.error(`cannot save ${this.companion.path}: ${(error as Error).message}`);
      this.companionFailing = true;
    }
  }

  private async run(): Promise<void> {
    // Changes made in the same turn of the event loop go into one save.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.dirty) {
      this.dirty = false;
      const waiters = this.nextWaiters;
      this.nextWaiters = [];
      let failure: string | undefined;
      try {
        await this.file.saveAsync(this.take());
        if (this.failing) this.log.info(`state saved again in ${this.file.path}`);
        this.failing = false;
      } catch (error) {
        failure = `cannot save the state in ${this.file.path}: ${(error as Error).message}`;
        if (!this.failing) this.log.error(`${failure}; daemons keep running`);
        this.failing = true;
      }
      await this.saveCompanion();
      for (const resolve of waiters) resolve(failure);
    }
    this.saving = undefined;
  }
}
