import { readFileSync } from 'node:fs';

/** One run of test/fixtures/counter.sh as its log shows it. */
export interface CounterRun {
  readonly pid: number;
  /** The numbers of its lines, in the order the log has them. */
  readonly numbers: number[];
  /** The last number it says it wrote when it stopped on SIGTERM. */
  end: number | undefined;
}

const LINE = /(?:^|\s)count (\d+) (ready|end \d+|\d+)$/;

/** Every run of counter.sh in a log's text (timestamps before the lines are allowed), by pid. */
export function counterRuns(text: string): Map<number, CounterRun> {
  const runs = new Map<number, CounterRun>();
  for (const line of text.split('\n')) {
    const match = LINE.exec(line);
    if (!match) continue;
    const pid = Number(match[1]);
    const what = match[2] ?? '';
    const run = runs.get(pid) ?? { pid, numbers: [], end: undefined };
    runs.set(pid, run);
    if (what.startsWith('end ')) run.end = Number(what.slice(4));
    else if (what !== 'ready') run.numbers.push(Number(what));
  }
  return runs;
}

/**
 * What is wrong with a run: its numbers must be `first`, `first` + 1 ... (1, 2, 3 ... for
 * a whole run) each once and in order, and an end line must name the last of them.
 * Empty when nothing is.
 */
export function counterProblems(run: CounterRun, first = 1): string[] {
  const problems: string[] = [];
  const wrong = run.numbers.findIndex((number, index) => number !== first + index);
  if (wrong !== -1)
    problems.push(
      `pid ${run.pid}: line ${wrong + 1} is number ${run.numbers[wrong]} (${JSON.stringify(
        run.numbers.slice(Math.max(0, wrong - 3), wrong + 3),
      )} around it; ${run.numbers.length} lines)`,
    );
  const last = run.numbers.at(-1) ?? 0;
  if (run.end !== undefined && run.end !== last)
    problems.push(`pid ${run.pid}: ends at ${run.end} but its last line is ${last}`);
  return problems;
}

/**
 * The last number a counter says it wrote (the file it updates after each line); the log
 * must have that line, and may have one more (written just before a kill -9).
 */
export function lastWritten(dir: string, pid: number): number {
  let text: string;
  try {
    text = readFileSync(`${dir}/${pid}.last`, 'utf8');
  } catch {
    return 0;
  }
  const complete = text.slice(0, text.lastIndexOf('\n'));
  return Number(complete.slice(complete.lastIndexOf('\n') + 1) || 0);
}

/** The highest number in a log's runs of counter.sh, over all runs (0 when none). */
export function highestCount(text: string): number {
  let highest = 0;
  for (const run of counterRuns(text).values())
    highest = Math.max(highest, run.numbers.at(-1) ?? 0);
  return highest;
}
