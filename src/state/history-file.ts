import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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
    const text = this.history.take();
    if (text === undefined) return;
    try {
      this.write(text);
    } catch (error) {
      this.history.unsaved();
      throw error;
    }
  }

  private write(text: string): void {
    const temporary = `${this.path}.tmp`;
    const fd = openSync(temporary, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
    syncDir(this.path);
  }

  /** The same as `save`, off the event loop. */
  async saveAsync(): Promise<void> {
    const text = this.history.take();
    if (text === undefined) return;
    try {
      await this.writeAsync(text);
    } catch (error) {
      this.history.unsaved();
      throw error;
    }
  }

  private async writeAsync(text: string): Promise<void> {
    const temporary = `${this.path}.tmp-async`;
    const file = await open(temporary, 'w', 0o600);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, this.path);
    const dir = await open(dirname(this.path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

function syncDir(path: string): void {
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
