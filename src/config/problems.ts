/** One thing wrong (or doubtful) in a configuration file, located so a person can fix it. */
export interface Problem {
  readonly file: string;
  /** 1-based line number; absent when the problem concerns the whole file. */
  readonly line?: number;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

/** Formats a problem the way compilers do: `file:line: error: message`. */
export function formatProblem(problem: Problem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
  return `${where}: ${problem.severity}: ${problem.message}`;
}

/** True when any of the problems is an error (warnings never block loading). */
export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((problem) => problem.severity === 'error');
}

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
    this.items.push(
      line === undefined
        ? { file: this.file, severity, message }
        : { file: this.file, line, severity, message },
    );
  }
}
