import type { Logger } from '../logging/logger.ts';
import type { SavedState } from './snapshot.ts';
import type { StateFile } from './state-file.ts';

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
  private nextWaiters: (() => void)[] = [];
  private readonly file: StateFile;
  private readonly take: () => SavedState;
  private readonly log: Logger;

  constructor(file: StateFile, take: () => SavedState, log: Logger) {
    this.file = file;
    this.take = take;
    this.log = log;
  }

  /** Saves soon (a change happened). */
  schedule(): void {
    this.dirty = true;
    if (this.saving === undefined) this.saving = this.run();
  }

  /** Resolves once every change made so far is on disk (or failed to be). */
  durable(): Promise<void> {
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
      return true;
    } catch (error) {
      this.log.error(`cannot save the state in ${this.file.path}: ${(error as Error).message}`);
      this.failing = true;
      return false;
    }
  }

  private async run(): Promise<void> {
    // Changes made in the same turn of the event loop go into one save.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.dirty) {
      this.dirty = false;
      const waiters = this.nextWaiters;
      this.nextWaiters = [];
      try {
        await this.file.saveAsync(this.take());
        if (this.failing) this.log.info(`state saved again in ${this.file.path}`);
        this.failing = false;
      } catch (error) {
        if (!this.failing)
          this.log.error(
            `cannot save the state in ${this.file.path}: ${(error as Error).message}; daemons keep running`,
          );
        this.failing = true;
      }
      for (const resolve of waiters) resolve();
    }
    this.saving = undefined;
  }
}
