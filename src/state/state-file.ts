import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type SavedState, validateState } from './snapshot.ts';

/**
 * The manager's state file in `state-dir`. Written atomically: a temporary file, fsync,
 * rename over the old one, fsync of the directory; so a crash at any point leaves
 * either the old state or the new, never half of one.
 */
export class StateFile {
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'state.json');
  }

  /** The saved state; undefined if there is none; an error (and the file set aside) if corrupt. */
  load(): SavedState | undefined | { error: string } {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return { error: `cannot read ${this.path} (${(error as NodeJS.ErrnoException).code})` };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.setAside('is not valid JSON (truncated?)');
    }
    const state = validateState(parsed);
    return 'error' in state ? this.setAside(state.error) : state;
  }

  save(state: SavedState): void {
    const temporary = `${this.path}.tmp`;
    const fd = openSync(temporary, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(state));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
    const dir = openSync(dirname(this.path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }

  /** The same as `save`, off the event loop. */
  async saveAsync(state: SavedState): Promise<void> {
    const temporary = `${this.path}.tmp-async`;
    const file = await open(temporary, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(state));
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

  private setAside(reason: string): { error: string } {
    const aside = `${this.path}.corrupt`;
    try {
      renameSync(this.path, aside);
    } catch {
      // Left in place; it is overwritten at the next save.
    }
    return { error: `${this.path} ${reason}; set aside as ${aside}, starting afresh` };
  }
}
