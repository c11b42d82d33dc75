import { formatProblem, type Problem } from '../config/problems.ts';
import type { BrokenConfig } from '../control/status.ts';
import { cutText } from '../protocol/printable.ts';

/**
 * The most of a file's first error kept for its daemon's status row and `why`: it is
 * sent with every `dmctl status` of its owner and of root. A message quotes the text it
 * refuses, escaped (one character can take six): 970 rows of 2.8 KB made each of a
 * user's status replies 2.7 MB (an outside review). `dmctl problems` has it whole.
 */
const ROW_PROBLEM_CHARS = 300;

/**
 * The daemons whose config file cannot be loaded (or may not run as it asks), whether
 * or not an older valid version is still supervised. A file that breaks never makes its
 * daemon vanish: it stays listed, as `broken` when it is not running, with its problem,
 * and can be edited by its id.
 */
export class BrokenConfigs {
  private readonly byId = new Map<string, BrokenConfig>();

  /** Notes the first error of a daemon's file; a file without errors is not broken. */
  note(owner: string, name: string, file: string, problems: readonly Problem[]): void {
    const id = `${owner}/${name}`;
    const error = problems.find((problem) => problem.severity === 'error');
    if (error === undefined) this.byId.delete(id);
    else
      this.byId.set(id, {
        id,
        owner,
        name,
        file,
        problem: cutText(formatProblem(error), ROW_PROBLEM_CHARS),
      });
  }

  /** Forgets the owner's broken daemons whose file is no longer there; returns their ids. */
  keepOnly(owner: string, present: ReadonlySet<string>): string[] {
    const gone: string[] = [];
    for (const entry of [...this.byId.values()])
      if (entry.owner === owner && !present.has(entry.name)) {
        this.byId.delete(entry.id);
        gone.push(entry.id);
      }
    return gone;
  }

  /** Forgets everything of an owner (they lost the right to run daemons). */
  clear(owner: string): void {
    for (const entry of [...this.byId.values()])
      if (entry.owner === owner) this.byId.delete(entry.id);
  }

  get(id: string): BrokenConfig | undefined {
    return this.byId.get(id);
  }

  all(): BrokenConfig[] {
    return [...this.byId.values()];
  }
}
