import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomically, writeAtomicallyAsync } from './atomic-write.ts';
import type { History } from './history.ts';

/**
 * `history.json` beside the state file, written as the state file is (a temporary file,
 * fsync, rename, fsync of the directory): a crash leaves the old history or the new.
 * Saved by the state saver in the same round as the state, so an answer that waited for
 * the state to be durable has its history on disk too.
 */
export class HistoryFile {
  readonly path: string;
  private readonly history: History;

  constructor(stateDir: string, history: History) {
    this.path = join(stateDir, 'history.json');
    this.history = history;
  }

  /** Reads the saved history into `history`; a missing or unreadable file is no history. */
  load(): string | undefined {
    try {
      this.history.restore(JSON.parse(readFileSync(this.path, 'utf8')));
      return undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      return `cannot read ${this.path} (${code ?? 'not valid JSON'}); the daemons' history starts afresh`;
    }
  }

  /** Saves the history if it changed, synchronously (before execve, at exit). */
  save(): void {
    const moved = this.history.movedSinceTaken;
    const text = this.history.take();
    if (text === undefined) return;
    try {
      writeAtomically(this.path, text);
    } catch (error) {
      this.history.unsaved(moved);
      throw error;
    }
  }

  /** Whether there is anything to save. */
  pending(): boolean {
    return this.history.unsavedChanges;
  }

  /** A history moved to another id: saved with the state (see History.movedSinceTaken). */
  dueWithState(): boolean {
    return this.history.movedSinceTaken;
  }

  /** The history as it is now, to be written off the event loop; nothing if unchanged. */
  take(): (() => Promise<void>) | undefined {
    const moved = this.history.movedSinceTaken;
    const text = this.history.take();
    if (text === undefined) return undefined;
    return async () => {
      try {
        await writeAtomicallyAsync(this.path, text);
      } catch (error) {
        this.history.unsaved(moved);
        throw error;
      }
    };
  }
}
