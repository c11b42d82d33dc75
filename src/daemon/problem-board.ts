import { formatProblem, type Problem } from '../config/problems.ts';

/**
 * What is wrong in each user's config files, kept per file so that a file read again
 * replaces its own problems; dmctl shows them to whoever may manage that user.
 */
export class ProblemBoard {
  private readonly byUser = new Map<string, Map<string, readonly Problem[]>>();

  /** Replaces what is known of one file (or directory) of a user. */
  set(user: string, file: string, problems: readonly Problem[]): void {
    const byFile = this.byUser.get(user) ?? new Map<string, readonly Problem[]>();
    if (problems.length === 0) byFile.delete(file);
    else byFile.set(file, problems);
    this.byUser.set(user, byFile);
  }

  /** Forgets everything of a user: before a full rescan, or once they lost their rights. */
  clear(user: string): void {
    this.byUser.delete(user);
  }

  users(): string[] {
    return [...this.byUser.keys()];
  }

  /** The problems of these users' files, formatted `file:line: severity: message`. */
  formatted(users: readonly string[]): string[] {
    const lines: string[] = [];
    for (const user of users)
      for (const list of this.byUser.get(user)?.values() ?? [])
        lines.push(...list.map(formatProblem));
    return lines;
  }
}
