import { createReadStream, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The daemon of the crash storm: says it runs, writes LINES numbered lines to its output
 * (the log variant), sleeps a pseudo-random time between MIN and MIN + SPAN ms, writes its
 * last line, says it is done and exits 1. Called as `storm.sh NAME MIN SPAN LINES`.
 *
 * dash has no $RANDOM: the time comes from the pid, which differs at every run, so the
 * exits of a fleet started at once spread out within a few runs. GNU sleep takes `437e-3`.
 * Every line is written by a shell built-in: the only other process is `sleep`.
 */
export function stormScript(pipePath: string): string {
  return [
    `echo "ready $1 $$" > ${pipePath}`,
    'if [ "$4" -gt 0 ]; then',
    '  echo "run $1 $$ begin"',
    '  i=0',
    '  while [ $i -lt "$4" ]; do i=$((i + 1)); echo "run $1 $$ $i"; done',
    'fi',
    'sleep "$(( $2 + ($$ * 7919) % $3 ))e-3"',
    'if [ "$4" -gt 0 ]; then echo "run $1 $$ end"; fi',
    `echo "done $1 $$" > ${pipePath}`,
    'exit 1',
    '',
  ].join('\n');
}

/** What the logs of a storm's log variant hold, against the runs the bench saw end. */
export interface StormLogCheck {
  /** Runs that said `done` before the SIGTERM: each must have its whole sequence in the log. */
  readonly runsEnded: number;
  /** Runs found in the logs (some were cut by the final stop: a prefix is all they owe). */
  readonly runsLogged: number;
  /** Lines an ended run wrote that are not in its log. */
  readonly linesLost: number;
  /** Runs whose lines are not in the order written (or repeat). */
  readonly runsOutOfOrder: number;
}

/**
 * Reads every `NAME.log` of the directory and checks each run's lines (`run NAME PID
 * begin`, `run NAME PID 1` ... `run NAME PID LINES`, `run NAME PID end`): in order, and
 * complete for every run of `ended` (keys `NAME PID`). Other lines (the manager's
 * banners) are ignored.
 */
export async function checkStormLogs(
  logDir: string,
  lines: number,
  ended: ReadonlySet<string>,
): Promise<StormLogCheck> {
  const expected = ['begin', ...Array.from({ length: lines }, (_, i) => String(i + 1)), 'end'];
  const seen = new Map<string, string[]>();
  for (const file of readdirSync(logDir)) {
    if (!file.endsWith('.log')) continue;
    for await (const line of linesOf(join(logDir, file))) {
      const match = /(?:^|\s)run (\S+) (\d+) (\S+)$/.exec(line);
      if (!match) continue;
      const key = `${match[1]} ${match[2]}`;
      const list = seen.get(key) ?? [];
      list.push(match[3] ?? '');
      seen.set(key, list);
    }
  }
  let linesLost = 0;
  let runsOutOfOrder = 0;
  for (const [key, got] of seen) {
    const inOrder = got.every((word, index) => word === expected[index]);
    if (!inOrder) runsOutOfOrder++;
    const present = new Set(got);
    if (ended.has(key)) linesLost += expected.filter((word) => !present.has(word)).length;
  }
  for (const key of ended) if (!seen.has(key)) linesLost += expected.length;
  return { runsEnded: ended.size, runsLogged: seen.size, linesLost, runsOutOfOrder };
}

async function* linesOf(file: string): AsyncGenerator<string> {
  let carry = '';
  for await (const chunk of createReadStream(file, { encoding: 'latin1' })) {
    const parts = (carry + (chunk as string)).split('\n');
    carry = parts.pop() ?? '';
    yield* parts;
  }
  if (carry !== '') yield carry;
}
