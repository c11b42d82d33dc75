import { formatProblem, type Problem } from '../config/problems.ts';

/**
 * The most problems kept per user. A user's files are untrusted: 50,000 badly named
 * files, or 1,000 files of 100 problems each, must cost the manager neither memory nor
 * a reply of megabytes to every dmctl call. Past this, problems are only counted.
 */
export const PROBLEMS_KEPT_PER_USER = 100;

interface FileEntry {
  /**
   * Formatted once, here: made printable at every status, 100 problems quoting non-ASCII
   * text cost 18 ms a call (V8's lite mode interprets the regular expression), and one
   * user asking status in a loop slowed everyone else (an outside review, 74a, F1).
   */
  readonly kept: readonly string[];
  /** Problems of this file beyond the user's budget: counted, not kept. */
  readonly dropped: number;
}

/** One user's problems by file, and how many of them are kept in all. */
interface UserProblems {
  readonly files: Map<string, FileEntry>;
  kept: number;
}

/**
 * What is wrong in each user's config files, kept per file so that a file read again
 * replaces its own problems; dmctl shows them to whoever may manage that user.
 */
export class ProblemBoard {
  private readonly byUser = new Map<string, UserProblems>();

  /** Replaces what is known of one file (or directory) of a user. */
  set(user: string, file: string, problems: readonly Problem[]): void {
    let mine = this.byUser.get(user);
    if (mine === undefined) {
      mine = { files: new Map(), kept: 0 };
      this.byUser.set(user, mine);
    }
    const before = mine.files.get(file);
    if (before !== undefined) {
      mine.kept -= before.kept.length;
      mine.files.delete(file);
    }
    if (problems.length === 0) return;
    // The count is kept as files come and go: a user with 50,000 files costs one pass.
    const kept = problems
      .slice(0, Math.max(0, PROBLEMS_KEPT_PER_USER - mine.kept))
      .map(formatProblem);
    mine.kept += kept.length;
    mine.files.set(file, { kept, dropped: problems.length - kept.length });
  }

  /** Forgets everything of a user: before a full rescan, or once they lost their rights. */
  clear(user: string): void {
    this.byUser.delete(user);
  }

  users(): string[] {
    return [...this.byUser.keys()];
  }

  /** How many problems (kept or only counted) the user's files have. */
  count(user: string): number {
    let total = 0;
    for (const entry of this.byUser.get(user)?.files.values() ?? [])
      total += entry.kept.length + entry.dropped;
    return total;
  }

  /**
   * The problems of these users' files, formatted `file:line: severity: message`; for a
   * user with more than were kept, a last line says how many more there are.
   */
  formatted(users: readonly string[]): string[] {
    const lines: string[] = [];
    for (const user of users) {
      let dropped = 0;
      for (const entry of this.byUser.get(user)?.files.values() ?? []) {
        lines.push(...entry.kept);
        dropped += entry.dropped;
      }
      if (dropped > 0) lines.push(`... and ${dropped} more problems in the files of ${user}`);
    }
    return lines;
  }
}
