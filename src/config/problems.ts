import { printable, printableCut } from '../protocol/printable.ts';

/** One thing wrong (or doubtful) in a configuration file, located so a person can fix it. */
export interface Problem {
  readonly file: string;
  /** 1-based line number; absent when the problem concerns the whole file. */
  readonly line?: number;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

/**
 * Formats a problem the way compilers do: `file:line: error: message`. A message quotes
 * what a user wrote, so control characters are escaped: the line goes to root's terminal
 * and to the manager's log.
 */
export function formatProblem(problem: Problem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
  return printable(`${where}: ${problem.severity}: ${problem.message}`);
}

/** True when any of the problems is an error (warnings never block loading). */
export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((problem) => problem.severity === 'error');
}

/**
 * Bounds on what one file can make the manager say: a user's config is untrusted, and
 * every problem is kept in memory, logged and sent with each `dmctl status`. A message
 * quotes the offending text, so it is cut; past the last problem kept, one error says
 * the rest were dropped (an error, so that a file too broken to list is never loaded).
 */
export const PROBLEM_LIMITS = { perFile: 100, messageChars: 600 } as const;

/** Collects problems for one file, so that parsers can say every problem at once. */
export class ProblemList {
  readonly items: Problem[] = [];
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  error(line: number | undefined, message: string): void {
    this.add('error', line, message);
  }

  warning(line: number | undefined, message: string): void {
    this.add('warning', line, message);
  }

  private add(severity: Problem['severity'], line: number | undefined, message: string): void {
    if (this.items.length > PROBLEM_LIMITS.perFile) return;
    if (this.items.length === PROBLEM_LIMITS.perFile) {
      this.items.push({
        file: this.file,
        severity: 'error',
        message: `more than ${PROBLEM_LIMITS.perFile} problems; the rest are not shown`,
      });
      return;
    }
    // Cut as it is shown, escapes included (see printableCut).
    message = printableCut(message, PROBLEM_LIMITS.messageChars, '...');
    this.items.push(
      line === undefined
        ? { file: this.file, severity, message }
        : { file: this.file, line, severity, message },
    );
  }
}
