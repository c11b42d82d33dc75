import { createReadStream, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The daemon of the crash storm: says it runs, writes LINES numbered lines to its output
 * (the log variant), sleeps a pseudo-random time between MIN and MIN + SPAN ms, writes its
 * last line, says it is done and exits 1. Called as `storm.sh NAME MIN SPAN LINES`.
 *
 * A run is named by its pid and its start time (field 22 of /proc/$$/stat, in clock ticks
 * since boot): a storm of 500 runs a second spends 1,000 pids a second (the shell and its
 * `sleep`), so with pid_max at 32768 the pids wrap every half minute and a daemon's run can
 * get the pid of one of its earlier runs. Keyed by the pid alone, two runs were one: their
 * lines read as a run repeated, out of order. The comm field may hold spaces or `)`, so
 * the fields are counted after its last `) `; the arguments are saved before `set --`.
 *
 * Once the file `calm` is there beside the script (written after the storm's window), a
 * run says `calm NAME PID START` instead and sleeps for good: the storm calms down, and
 * what the supervisor holds then is what a storm left behind.
 *
 * dash has no $RANDOM: the time comes from the pid, which differs at every run, so the
 * exits of a fleet started at once spread out within a few runs. GNU sleep takes `437e-3`.
 * Every line is written by a shell built-in: the only other process is `sleep`.
 */
export function stormScript(pipePath: string): string {
  const calm = join(dirname(pipePath), CALM_FILE);
  return [
    'name=$1 min=$2 span=$3 lines=$4',
    'read -r stat < /proc/$$/stat',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, not a template
    'set -- ${stat##*") "}',
    'shift 19',
    'run="$$ $1"',
    `if [ -e ${calm} ]; then echo "calm $name $run" > ${pipePath}; exec sleep 1000000; fi`,
    'read -r clock _ < /proc/uptime',
    `echo "ready $name $run $clock" > ${pipePath}`,
    'if [ "$lines" -gt 0 ]; then',
    '  echo "run $name $run begin"',
    '  i=0',
    '  while [ $i -lt "$lines" ]; do i=$((i + 1)); echo "run $name $run $i"; done',
    'fi',
    'sleep "$(( min + ($$ * 7919) % span ))e-3"',
    'if [ "$lines" -gt 0 ]; then echo "run $name $run end"; fi',
    `echo "done $name $run" > ${pipePath}`,
    'exit 1',
    '',
  ].join('\n');
}

/** The file that calms the storm, in the readiness pipe's directory (see stormScript). */
export const CALM_FILE = 'calm';

/** The key of one run in `ended` and in the logs: `NAME PID START`. */
export function runKey(name: string, pid: number, start: string): string {
  return `${name} ${pid} ${start}`;
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
  /**
   * Runs that shared their daemon's name and pid with another run of the storm (absent in
   * older files): what a key of `NAME PID` alone would have merged.
   */
  readonly pidsReused?: number;
}

/**
 * Reads every `NAME.log` of the directory and checks each run's lines (`run NAME PID START
 * begin`, `run NAME PID START 1` ... `run NAME PID START end`): in order, and complete for
 * every run of `ended` (keys from runKey). Other lines (the manager's banners) are ignored.
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
      const match = /(?:^|\s)run (\S+) (\d+) (\d+) (\S+)$/.exec(line);
      if (!match) continue;
      const key = runKey(match[1] ?? '', Number(match[2]), match[3] ?? '');
      const list = seen.get(key) ?? [];
      list.push(match[4] ?? '');
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
  const runsOfPid = new Map<string, number>();
  for (const key of seen.keys()) {
    const namePid = key.slice(0, key.lastIndexOf(' '));
    runsOfPid.set(namePid, (runsOfPid.get(namePid) ?? 0) + 1);
  }
  let pidsReused = 0;
  for (const count of runsOfPid.values()) if (count > 1) pidsReused += count;
  return { runsEnded: ended.size, runsLogged: seen.size, linesLost, runsOutOfOrder, pidsReused };
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
