import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cgroupsMadeFor, removeLeftoverCgroups } from '../measures/cgroups.ts';
import { timeAsync } from '../measures/latency-loop.ts';
import { killSurvivors, livePidsOfRun, readProc, sleep, waitUntilDead } from '../measures/proc.ts';
import { writeMasterConfig } from '../peers/daemon-manager.ts';
import { exited, spawnLogged, terminate } from '../peers/spawn.ts';
import { onInterrupt } from './interrupt.ts';
import { makeWorkdir, tailOf } from './workdir.ts';

export interface ManagerKillOptions {
  readonly root: string;
  /** daemon-manager's bin/ directory. */
  readonly bin: string;
  readonly daemons: number;
  readonly kills: number;
  /** What the tables call this build (its commit). */
  readonly label: string;
}

/** One kill -9 of the manager and its restart. */
export interface ManagerKill {
  /** From the restart's spawn until a `dmctl status` lists every daemon running. */
  readonly answeredMs: number | null;
  /** Daemon starts seen from the kill until the next kill (or the final stop). */
  readonly restarts: number;
  /** Daemons whose process after the restart is not the one before the kill. */
  readonly pidsChanged: number;
}

export interface ManagerKillRun {
  readonly label: string;
  readonly daemons: number;
  readonly linesPerBurst: number;
  readonly kills: readonly ManagerKill[];
  /** Lines the daemons wrote (the write returned) over the whole run, and those missing. */
  readonly linesWritten: number;
  readonly linesLost: number;
  /** Runs whose lines in the log are not in the order written (or repeat). */
  readonly runsOutOfOrder: number;
  /** Runs (a daemon's processes, start to end) over the whole run: `daemons` if none restarted. */
  readonly runs: number;
  readonly sigtermExitMs: number | null;
  readonly processesLeft: number;
  readonly cgroupsLeft: readonly string[];
  readonly managerLogTail: readonly string[];
}

const LINES_PER_BURST = 50;
const ANSWER_TIMEOUT_MS = 60_000;
/** After the manager answers again: how long the daemons write before the next kill. */
const BETWEEN_KILLS_MS = 3_000;

/**
 * The daemon: says it runs, then forever writes a burst of numbered lines to its output
 * (`line NAME PID SEQ`) and sleeps 0.2 s. After every line that was written (the shell's
 * `echo` returned), the sequence number goes into TRUTH/NAME.PID: a daemon killed by
 * SIGPIPE at a write never records it, so that file holds exactly how many lines the log
 * owes this run. Shell built-ins only, but for one `sleep` per burst.
 */
function writerScript(pipePath: string, truthDir: string): string {
  return [
    `echo "ready $1 $$" > ${pipePath}`,
    'i=0',
    'while :; do',
    '  n=0',
    `  while [ $n -lt ${LINES_PER_BURST} ]; do`,
    '    n=$((n + 1)); i=$((i + 1))',
    '    echo "line $1 $$ $i"',
    `    echo $i > ${truthDir}/$1.$$`,
    '  done',
    '  sleep 0.2',
    'done',
    '',
  ].join('\n');
}

/**
 * Restarts and lines lost per kill -9 of the manager (the reliability issue, item 8):
 * `daemons` root daemons with `output=log` write numbered lines all along; the manager is
 * killed with SIGKILL `kills` times and started again each time (same config, same state
 * directory), as a supervisor of the manager (systemd) would. Counted: every daemon start
 * after the first (from the readiness FIFO), pids that changed, how long the restarted
 * manager takes to answer with every daemon running; at the end, after a SIGTERM, every
 * line each run wrote against its log.
 */
export async function runManagerKills(options: ManagerKillOptions): Promise<ManagerKillRun> {
  const work = makeWorkdir(options.root, `manager-kill-${options.label}`);
  const marker = `DM_BENCH_KILL=${randomBytes(6).toString('hex')}`;
  const truthDir = join(work.dir, 'truth');
  mkdirSync(truthDir);
  const script = work.script('writer.sh', writerScript(work.pipe.path, truthDir));
  const { config, daemonDir, logDir } = writeMasterConfig(work.dir, [
    'stable-uptime = 1s',
    'log-max-size = 0',
  ]);
  const names = Array.from({ length: options.daemons }, (_, i) => `w${String(i).padStart(3, '0')}`);
  for (const name of names)
    writeFileSync(
      join(daemonDir, `${name}.conf`),
      `start=exec ${script} ${name}\noutput=log\nexport ${marker}\n`,
      { mode: 0o644 },
    );

  let starts = 0;
  const cgroups = new Set<string>();
  let manager: ChildProcess | undefined;
  const firstPid = new Map<string, number>();
  work.pipe.onLine((line) => {
    if (line.word !== 'ready') return;
    starts++;
    if (!firstPid.has(line.name)) {
      firstPid.set(line.name, line.pid);
      for (const dir of cgroupsMadeFor(line.pid, manager?.pid ?? 0)) cgroups.add(dir);
    }
  });
  const ours = (): number[] => livePidsOfRun(marker, work.dir, cgroups);
  const cleanUp = async (): Promise<void> => {
    if (manager?.pid !== undefined && manager.exitCode === null) manager.kill('SIGKILL');
    for (let round = 0; round < 3; round++) {
      killSurvivors(ours());
      await sleep(500);
    }
  };
  const forget = onInterrupt(cleanUp);
  const start = (): ChildProcess =>
    spawnLogged(
      [join(options.bin, 'daemon-manager'), '--config', config, '--foreground'],
      join(work.dir, 'manager.log'),
    );
  const dmctl = [join(options.bin, 'dmctl'), '--config', config, 'status'];
  /** Asks until a status lists every daemon running; ms from `since`, null on timeout. */
  const answered = async (since: number): Promise<number | null> => {
    const deadline = since + ANSWER_TIMEOUT_MS;
    while (performance.now() < deadline) {
      const call = await timeAsync(dmctl, {
        timeoutMs: 10_000,
        check: (stdout) => {
          const up = stdout.split('\n').filter((row) => /\brunning\b/.test(row)).length;
          return up === options.daemons ? undefined : `${up} running`;
        },
      });
      if (call.ok) return call.at + call.ms - since;
      await sleep(100);
    }
    return null;
  };
  try {
    manager = start();
    await work.pipe.readyTotal(options.daemons, `${options.daemons} writers to start`, 120_000);
    await answered(performance.now());
    await sleep(BETWEEN_KILLS_MS);
    const kills: ManagerKill[] = [];
    for (let index = 0; index < options.kills; index++) {
      const before = new Map(names.map((name) => [name, work.pipe.last(name)?.pid ?? 0]));
      const startsBefore = starts;
      manager.kill('SIGKILL');
      await exited(manager);
      const restartedAt = performance.now();
      manager = start();
      const answeredMs = await answered(restartedAt);
      // A daemon the restarted manager stops and starts again may do so after it answers.
      await sleep(BETWEEN_KILLS_MS);
      const pidsChanged = names.filter(
        (name) => (work.pipe.last(name)?.pid ?? 0) !== before.get(name),
      ).length;
      kills.push({ answeredMs, restarts: starts - startsBefore, pidsChanged });
    }
    const sigtermExitMs = await terminate(manager, 60_000);
    const left = killSurvivors(await waitUntilDead(ours(), 10_000));
    const cgroupsLeft = removeLeftoverCgroups(cgroups);
    const check = checkWriterLogs(logDir, truthDir);
    return {
      label: options.label,
      daemons: options.daemons,
      linesPerBurst: LINES_PER_BURST,
      kills,
      ...check,
      sigtermExitMs,
      processesLeft: left.length,
      cgroupsLeft,
      managerLogTail: tailOf(join(work.dir, 'manager.log'), 20),
    };
  } finally {
    forget();
    await cleanUp();
    removeLeftoverCgroups(cgroups);
    work.remove();
  }
}

/**
 * Every run's lines (`line NAME PID SEQ`) in the logs against what it wrote (the last
 * SEQ in TRUTH/NAME.PID): lost are the numbers 1..last missing from its log.
 */
function checkWriterLogs(
  logDir: string,
  truthDir: string,
): { linesWritten: number; linesLost: number; runsOutOfOrder: number; runs: number } {
  const seen = new Map<string, number[]>();
  for (const file of readdirSync(logDir)) {
    if (!file.endsWith('.log')) continue;
    for (const line of readProc(join(logDir, file)).split('\n')) {
      const match = /(?:^|\s)line (\S+) (\d+) (\d+)$/.exec(line);
      if (!match) continue;
      const key = `${match[1]}.${match[2]}`;
      const list = seen.get(key) ?? [];
      list.push(Number(match[3]));
      seen.set(key, list);
    }
  }
  let linesWritten = 0;
  let linesLost = 0;
  let runsOutOfOrder = 0;
  const runs = readdirSync(truthDir);
  for (const run of runs) {
    const last = Number(readProc(join(truthDir, run)).trim()) || 0;
    const got = seen.get(run) ?? [];
    linesWritten += last;
    if (got.some((seq, index) => seq !== index + 1)) runsOutOfOrder++;
    const present = new Set(got);
    for (let seq = 1; seq <= last; seq++) if (!present.has(seq)) linesLost++;
  }
  return { linesWritten, linesLost, runsOutOfOrder, runs: runs.length };
}
