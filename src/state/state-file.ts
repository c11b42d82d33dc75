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
  /**
   * A second copy of the state, written after the saves once their waiters are answered
   * (at most once a second, see StateSaver):
   * a state.json damaged later (a disk's fault, a hand edit, `>` by mistake) leaves it.
   * Without it, a damaged file undid every stop (an outside review, 36a: a daemon being
   * stopped shown running, a `restart=no` task that had ended run again).
   */
  readonly copyPath: string;
  /** The text last saved while the copy does not have it yet, and whether it has. */
  private lastText: string | undefined;
  private copied = true;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'state.json');
    this.copyPath = join(stateDir, 'state.json.copy');
  }

  /**
   * The saved state; undefined if there is none; an error (and the file set aside) if
   * damaged, with the copy's state when the copy is sound.
   */
  load(): SavedState | undefined | { error: string; state?: SavedState } {
    const read = readState(this.path);
    // Missing, with a sound copy: deleted by hand or a cleaner, or set aside by a manager
    // that could not save another (a full disk): the copy holds what its owners left (an
    // outside review, 43b, F1, F2: every stop undone, with the copy there).
    if (read === undefined) {
      const copy = readState(this.copyPath);
      return copy === undefined || 'error' in copy
        ? undefined
        : {
            error: `${this.path} is missing; using its copy ${this.copyPath} (written at most once a second after the saves: what the last second changed may be missing)`,
            state: copy,
          };
    }
    if (!('error' in read)) return read;
    const reason = read.error;
    const aside = `${this.path}.corrupt`;
    if (read.damaged)
      try {
        renameSync(this.path, aside);
      } catch {
        // Left in place; it is overwritten at the next save.
      }
    const where = read.damaged ? `${this.path} ${reason}; set aside as ${aside}` : reason;
    const copy = readState(this.copyPath);
    if (copy !== undefined && !('error' in copy))
      return {
        error: `${where}; using its copy ${this.copyPath} (written at most once a second after the saves: what the last second changed may be missing)`,
        state: copy,
      };
    return { error: `${where}, starting afresh` };
  }

  save(state: SavedState): void {
    const text = JSON.stringify(state);
    writeAtomically(this.path, text);
    writeAtomically(this.copyPath, text);
    this.lastText = undefined;
    this.copied = true;
  }

  /** The same as `save`, off the event loop, the copy left to `copyAsync`. */
  saveAsync(state: SavedState): Promise<void> {
    const text = JSON.stringify(state);
    return writeAtomicallyAsync(this.path, text).then(() => {
      this.lastText = text;
      this.copied = false;
    });
  }

  /** Whether the copy does not have the state last saved yet. */
  copyPending(): boolean {
    return !this.copied && this.lastText !== undefined;
  }

  /** Writes the copy of the state last saved, if it does not have it yet. */
  async copyAsync(): Promise<void> {
    const text = this.lastText;
    if (this.copied || text === undefined) return;
    await writeAtomicallyAsync(this.copyPath, text);
    if (this.lastText !== text) return;
    // Not kept once copied: a quarter of a KiB per daemon, for nothing.
    this.copied = true;
    this.lastText = undefined;
  }
}

/**
 * The state in `path`: undefined if there is none; an error if it cannot be read, and
 * `damaged` if it was read and is no state.
 */
function readState(path: string): SavedState | undefined | { error: string; damaged: boolean } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return {
      error: `cannot read ${path} (${(error as NodeJS.ErrnoException).code})`,
      damaged: false,
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { error: 'is not valid JSON (truncated?)', damaged: true };
  }
  const state = validateState(parsed);
  return 'error' in state ? { error: state.error, damaged: true } : state;
}
