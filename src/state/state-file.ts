import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomically, writeAtomicallyAsync } from './atomic-write.ts';
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
    writeAtomically(this.path, JSON.stringify(state));
  }

  /** The same as `save`, off the event loop. */
  saveAsync(state: SavedState): Promise<void> {
    return writeAtomicallyAsync(this.path, JSON.stringify(state));
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
