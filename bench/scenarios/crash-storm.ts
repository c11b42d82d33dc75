import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cgroupsMadeFor, removeLeftoverCgroups } from '../measures/cgroups.ts';
import { askInLoop } from '../measures/latency-loop.ts';
import {
  countZombies,
  killSurvivors,
  livePidsOfRun,
  sleep,
  waitUntilDead,
} from '../measures/proc.ts';
import {
  keepersOf,
  managerProcesses,
  type ProcessSample,
  sampleProcess,
  sampleProcesses,
} from '../measures/process-sample.ts';
import type { ReadyPipe } from '../measures/ready-pipe.ts';
import { askSocketInLoop } from '../measures/socket-loop.ts';
import { NODE, writeMasterConfig } from '../peers/daemon-manager.ts';
import { spawnLogged, terminate } from '../peers/spawn.ts';
import { onInterrupt } from './interrupt.ts';
import {
  CALM_FILE,
  checkStormLogs,
  runKey,
  type StormLogCheck,
  stormScript,
} from './storm-daemon.ts';
import { makeWorkdir, tailOf } from './workdir.ts';

export interface StormOptions {
  readonly root: string;
  /** daemon-manager's bin/ directory. */
  readonly bin: string;
  readonly daemons: number;
  /** The aggregate exit rate aimed at: each daemon lives daemons / rate seconds on average. */
  readonly ratePerS: number;
  readonly seconds: number;
  /** Numbered lines each run writes to its log (`output=log`); 0: output discarded. */
  readonly logLines: number;
}

/** One second of a storm. */
export interface StormSecond {
  /** Seconds since the window opened. */
  readonly t: number;
  /** Runs that ended (said `done`) and that started, per second. */
  readonly exits: number;
  readonly starts: number;
  readonly fds: number;
  readonly rssKb: number;
  /** The manager's CPU, in % of one core. */
  readonly cpuPct: number;
  readonly zombieChildren: number;
  readonly machineZombies: number;
  /** dmctl calls that finished in this second, the slowest of them, and the failed. */
  readonly statusCalls: number;
  readonly statusMaxMs: number;
  readonly statusFailures: number;
}

export interface StormRun {
  readonly daemons: number;
  readonly ratePerS: number;
  readonly seconds: number;
  readonly logLines: number;
  /** The range each run sleeps for. */
  readonly lifetimeMs: readonly [number, number];
  /** From the manager's spawn until every daemon had started once. */
  readonly coldStartMs: number;
  readonly series: readonly StormSecond[];
  /** Every dmctl status call of the window: its time (failed ones included). */
  readonly statusMs: readonly number[];
  readonly statusFailures: number;
  /** The first few reasons of failed calls. */
  readonly statusErrors: readonly string[];
  /**
   * `node -e 0` asked in a loop beside dmctl over the window (absent in older files): what
   * the storm's load alone does to any Node client.
   */
  readonly nodeFloorMs?: readonly number[];
  /**
   * `{"command":"status"}` asked in a loop on the control socket by the bench itself, a
   * client already running (absent in older files): the manager's own answer time.
   */
  readonly socketMs?: readonly number[];
  readonly socketFailures?: number;
  /** CPU over the window, in ms, of the manager and of its keeper (absent in older files). */
  readonly cpuMs?: { readonly manager: number; readonly keeper: number };
  /** Runs that ended over the window. */
  readonly windowExits?: number;
  /**
   * Over the window, from each run's `done` to its daemon's next `ready`, in ms (absent in
   * older files): the respawn as a daemon sees it, its exit, the manager's and keeper's
   * reaction, the fork and the exec chain up to the script's first line.
   */
  readonly respawn?: TimeSummary;
  /**
   * Over the window, from the fork of each new run's process to its `ready`, in ms at 10 ms
   * resolution (absent in older files): the part of respawn after the keeper's fork.
   */
  readonly launch?: TimeSummary;
  /** Runs that ended from the manager's start to the SIGTERM (to divide a profile by). */
  readonly allExits?: number;
  readonly machineZombiesBefore: number;
  /**
   * Once the storm calmed down (every daemon's next run sleeping for good), the manager's
   * and keeper's descriptors when they stopped falling, and the seconds that took (absent
   * in older files): what the storm left behind, against the first second's.
   */
  readonly calm?: { readonly fds: number; readonly seconds: number } | null;
  /** From SIGTERM to the manager's exit; null if it had not exited after SIGTERM_LIMIT_MS. */
  readonly sigtermExitMs: number | null;
  /** Daemon processes alive 10 s after the manager's exit (killed by the bench). */
  readonly daemonsLeft: number;
  readonly cgroupsLeft: readonly string[];
  readonly logs?: StormLogCheck;
  /** The end of the manager's own log, to see what it was doing. */
  readonly managerLogTail: readonly string[];
}

const COLD_START_TIMEOUT_MS = 300_000;
const STATUS_TIMEOUT_MS = 10_000;
const SIGTERM_LIMIT_MS = 180_000;

/**
 * A crash storm: `daemons` root daemons that each sleep a random time and exit 1, so that
 * they exit at about `ratePerS` in all, for `seconds`, while a client asks `dmctl status`
 * in a loop and the manager is sampled every second. Back-off is set low enough never to
 * slow a respawn (every run outlives `stable-uptime`). Then SIGTERM: how long the manager
 * takes to exit, what it left behind and, in the log variant, whether every line arrived.
 */
export async function runCrashStorm(options: StormOptions): Promise<StormRun> {
  const variant = options.logLines > 0 ? 'log' : 'plain';
  const work = makeWorkdir(options.root, `storm-${options.ratePerS}-${variant}`);
  const marker = `DM_BENCH_STORM=${randomBytes(6).toString('hex')}`;
  const meanMs = (1000 * options.daemons) / options.ratePerS;
  const minMs = Math.max(1, Math.round(meanMs / 2));
  const spanMs = Math.max(1, Math.round(meanMs));
  const config = writeStormConfig(work.dir, work.script('storm.sh', stormScript(work.pipe.path)), {
    ...options,
    marker,
    minMs,
    spanMs,
  });

  let starts = 0;
  let exits = 0;
  // Runs that ended before the SIGTERM: each owes its whole sequence to its log.
  const ended = new Set<string>();
  let terminating = false;
  const cgroups = new Set<string>();
  let manager: ChildProcess | undefined;
  const respawns = timeRespawns(work.pipe);
  work.pipe.onLine((line) => {
    if (line.word === 'ready') {
      starts++;
      // The cgroups of the first run of each daemon: what the manager must remove at its stop.
      if (starts <= options.daemons)
        for (const dir of cgroupsMadeFor(line.pid, manager?.pid ?? 0)) cgroups.add(dir);
    } else if (line.word === 'done') {
      exits++;
      if (!terminating) ended.add(runKey(line.name, line.pid, line.start));
    }
  });
  const ours = (): number[] => livePidsOfRun(marker, work.dir, cgroups);
  const cleanUp = async (): Promise<void> => {
    if (manager?.pid !== undefined && manager.exitCode === null) manager.kill('SIGKILL');
    // A launcher forked just before the manager died may exec its daemon a moment later.
    for (let round = 0; round < 3; round++) {
      killSurvivors(ours());
      await sleep(500);
    }
  };
  const forget = onInterrupt(cleanUp);
  try {
    const t0 = performance.now();
    manager = spawnLogged(
      [join(options.bin, 'daemon-manager'), '--config', config, '--foreground'],
      join(work.dir, 'manager.log'),
    );
    const pid = manager.pid ?? 0;
    const readyAt = await work.pipe.readyTotal(
      options.daemons,
      `${options.daemons} storm daemons to start`,
      COLD_START_TIMEOUT_MS,
    );
    const machineZombiesBefore = countZombies();
    const floor = askInLoop([NODE, '-e', '0'], { timeoutMs: STATUS_TIMEOUT_MS });
    const client = askInLoop([join(options.bin, 'dmctl'), '--config', config, 'status'], {
      timeoutMs: STATUS_TIMEOUT_MS,
      check: (stdout) => {
        const listed = stdout.split('\n').filter((row) => row.startsWith('root/s')).length;
        return listed === options.daemons ? undefined : `lists ${listed} of ${options.daemons}`;
      },
    });
    const socket = askSocketInLoop(
      join(work.dir, 'run', 'root.sock'),
      '{"command":"status"}',
      STATUS_TIMEOUT_MS,
    );
    const keeper = keepersOf(pid)[0] ?? 0;
    const cpuAtOpen = {
      manager: sampleProcess(pid).cpuTicks,
      keeper: sampleProcess(keeper).cpuTicks,
    };
    const exitsAtOpen = exits;
    respawns.open();
    const series: StormSecond[] = [];
    const opened = performance.now();
    let last = {
      at: opened,
      starts,
      exits,
      calls: 0,
      sample: sampleProcesses(managerProcesses(pid)),
    };
    const timer = setInterval(() => {
      const at = performance.now();
      const sample = sampleProcesses(managerProcesses(pid));
      const calls = client.calls.slice(last.calls);
      series.push(second(at, opened, last, { starts, exits, sample }, calls));
      last = { at, starts, exits, calls: last.calls + calls.length, sample };
    }, 1000);
    await sleep(options.seconds * 1000);
    clearInterval(timer);
    // A tick is 10 ms.
    const cpuMs = {
      manager: 10 * (sampleProcess(pid).cpuTicks - cpuAtOpen.manager),
      keeper: 10 * (sampleProcess(keeper).cpuTicks - cpuAtOpen.keeper),
    };
    const windowExits = exits - exitsAtOpen;
    const { respawn, launch } = respawns.close();
    const calls = await client.stop();
    const floorCalls = await floor.stop();
    const socketCalls = await socket.stop();
    const calm = await calmDown(work, options.daemons, () =>
      sampleProcesses(managerProcesses(pid)),
    ).catch(() => null);

    terminating = true;
    const allExits = exits;
    const sigtermExitMs = await terminate(manager, SIGTERM_LIMIT_MS);
    const left = killSurvivors(await waitUntilDead(ours(), 10_000));
    const cgroupsLeft = removeLeftoverCgroups(cgroups);
    const failed = calls.filter((call) => !call.ok);
    return {
      daemons: options.daemons,
      ratePerS: options.ratePerS,
      seconds: options.seconds,
      logLines: options.logLines,
      lifetimeMs: [minMs, minMs + spanMs],
      coldStartMs: readyAt - t0,
      series,
      statusMs: calls.map((call) => Math.round(call.ms * 10) / 10),
      statusFailures: failed.length,
      statusErrors: [...new Set(failed.map((call) => call.error))].slice(0, 5),
      nodeFloorMs: floorCalls.map((call) => Math.round(call.ms * 10) / 10),
      socketMs: socketCalls.map((call) => Math.round(call.ms * 10) / 10),
      socketFailures: socketCalls.filter((call) => !call.ok).length,
      cpuMs,
      windowExits,
      respawn,
      launch,
      allExits,
      machineZombiesBefore,
      calm,
      sigtermExitMs,
      daemonsLeft: left.length,
      cgroupsLeft,
      ...(options.logLines > 0
        ? { logs: await checkStormLogs(join(work.dir, 'logs'), options.logLines, ended) }
        : {}),
      managerLogTail: tailOf(join(work.dir, 'manager.log'), 20),
    };
  } finally {
    forget();
    await cleanUp();
    removeLeftoverCgroups(cgroups);
    work.remove();
  }
}

function writeStormConfig(
  dir: string,
  script: string,
  options: StormOptions & { marker: string; minMs: number; spanMs: number },
): string {
  const { config, daemonDir } = writeMasterConfig(dir, [
    // Every run sleeps at least minMs: one that ran half of that counts as stable, so
    // no respawn waits (the cooldown settings are a floor in case one ever does).
    `stable-uptime = ${Math.max(1, Math.floor(options.minMs / 2))}ms`,
    'cooldown-step = 100ms',
    'cooldown-max = 1s',
    'log-max-size = 0',
  ]);
  for (let index = 0; index < options.daemons; index++) {
    const name = `s${String(index).padStart(4, '0')}`;
    writeFileSync(
      join(daemonDir, `${name}.conf`),
      `start=exec ${script} ${name} ${options.minMs} ${options.spanMs} ${options.logLines}\n` +
        `export ${options.marker}\n${options.logLines > 0 ? 'output=log\n' : ''}`,
      { mode: 0o644 },
    );
  }
  return config;
}

const CALM_TIMEOUT_MS = 60_000;
const CALM_SETTLE_S = 15;

/**
 * Calms the storm down (see stormScript) and waits until every daemon sleeps, then
 * samples each second until the descriptors stop falling: the runs that ended are let go
 * of once the state that records their end is saved (at most a second apart).
 */
async function calmDown(
  work: ReturnType<typeof makeWorkdir>,
  daemons: number,
  sample: () => ProcessSample,
): Promise<{ fds: number; seconds: number }> {
  const calmed = new Set<string>();
  work.pipe.onLine((line) => {
    if (line.word === 'calm') calmed.add(line.name);
  });
  writeFileSync(join(work.dir, CALM_FILE), '');
  await work.pipe.next(() => calmed.size >= daemons, 'every daemon to calm down', CALM_TIMEOUT_MS);
  // Settled: no fewer for two seconds in a row (a save may come a second after the last).
  let last = sample().fds;
  let still = 0;
  for (let seconds = 1; seconds <= CALM_SETTLE_S; seconds++) {
    await sleep(1000);
    const fds = sample().fds;
    still = fds >= last ? still + 1 : 0;
    last = Math.min(last, fds);
    if (still === 2) return { fds: last, seconds };
  }
  return { fds: last, seconds: CALM_SETTLE_S };
}

/** One second of the series, from the counters at its start and at its end. */
function second(
  at: number,
  opened: number,
  before: { at: number; starts: number; exits: number; sample: ProcessSample },
  now: { starts: number; exits: number; sample: ProcessSample },
  calls: readonly { ms: number; ok: boolean }[],
): StormSecond {
  const seconds = (at - before.at) / 1000;
  return {
    t: Math.round((at - opened) / 100) / 10,
    exits: Math.round((now.exits - before.exits) / seconds),
    starts: Math.round((now.starts - before.starts) / seconds),
    fds: now.sample.fds,
    rssKb: now.sample.rssKb,
    // A tick is 10 ms: one tick per second is 1% of a core.
    cpuPct: Math.round((now.sample.cpuTicks - before.sample.cpuTicks) / seconds),
    zombieChildren: now.sample.zombieChildren,
    machineZombies: countZombies(),
    statusCalls: calls.length,
    statusMaxMs: Math.round(Math.max(0, ...calls.map((call) => call.ms))),
    statusFailures: calls.filter((call) => !call.ok).length,
  };
}

/** A set of times (ms) as the report shows them: a storm of 5 minutes times 100,000s. */
export interface TimeSummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

function summarize(values: readonly number[]): TimeSummary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

/** What timeRespawns measured over the window. */
interface RespawnTimes {
  /** From a run's `done` to its daemon's next `ready`, ms. */
  readonly respawnMs: number[];
  /**
   * From the fork of the process that became the run (its start time) to its `ready`
   * (/proc/uptime when it said it), in ms at 10 ms resolution: the exec chain's share.
   */
  readonly launchMs: number[];
}

/**
 * Times each daemon's respawns between `open` and `close`: from a run's `done` to the
 * next `ready` of the same daemon, rounded to 0.1 ms, and the new run's own start-up.
 */
function timeRespawns(pipe: ReadyPipe): {
  open(): void;
  close(): { respawn: TimeSummary; launch: TimeSummary };
} {
  const doneAt = new Map<string, number>();
  const times: RespawnTimes = { respawnMs: [], launchMs: [] };
  let timing = false;
  pipe.onLine((line) => {
    if (!timing) return;
    if (line.word === 'done') doneAt.set(line.name, line.at);
    const done = line.word === 'ready' ? doneAt.get(line.name) : undefined;
    if (done === undefined) return;
    times.respawnMs.push(Math.round((line.at - done) * 10) / 10);
    // Clock ticks are 10 ms (CLK_TCK 100): /proc/uptime and the start time count from boot.
    if (line.start !== '' && line.clock !== '')
      times.launchMs.push(Math.round(Number(line.clock) * 1000 - Number(line.start) * 10));
    doneAt.delete(line.name);
  });
  return {
    open: () => {
      timing = true;
    },
    close: () => {
      timing = false;
      return { respawn: summarize(times.respawnMs), launch: summarize(times.launchMs) };
    },
  };
}

/** The same storm with no supervisor at all: what this machine can do at the moment. */
export interface StormCeiling {
  readonly daemons: number;
  readonly ratePerS: number;
  readonly seconds: number;
  /** Exits per second over the window, one entry per second. */
  readonly exitsPerS: readonly number[];
  /** As StormRun's respawn and launch: a bare loop's respawn (absent in older files). */
  readonly respawn?: TimeSummary;
  readonly launch?: TimeSummary;
  /** Processes of the loops left after their process group was killed (should be 0). */
  readonly left: number;
}

/**
 * The crash storm's ceiling on this machine: the same daemons (same script, same sleep,
 * same FIFO), each respawned by a bare shell loop (`while :; do SCRIPT; done`), for
 * `seconds` once every one has started. Whatever a supervisor adds to a respawn comes on
 * top of this; on a loaded 2-core machine where a fork and an exit take tens of ms, the
 * target rate may be out of reach even here.
 */
export async function runShellLoops(options: StormOptions): Promise<StormCeiling> {
  const work = makeWorkdir(options.root, `storm-${options.ratePerS}-loops`);
  const meanMs = (1000 * options.daemons) / options.ratePerS;
  const minMs = Math.max(1, Math.round(meanMs / 2));
  const spanMs = Math.max(1, Math.round(meanMs));
  const script = work.script('storm.sh', stormScript(work.pipe.path));
  const loops = work.script(
    'loops.sh',
    `i=0\nwhile [ $i -lt ${options.daemons} ]; do\n` +
      `  i=$((i + 1))\n  (while :; do ${script} s$i ${minMs} ${spanMs} 0; done) &\n` +
      'done\nwait\n',
  );
  let exits = 0;
  work.pipe.onLine((line) => {
    if (line.word === 'done') exits++;
  });
  const respawns = timeRespawns(work.pipe);
  // One process group for the loops and every daemon they run: killed at once at the end.
  const marker = `DM_BENCH_LOOPS=${randomBytes(6).toString('hex')}`;
  const [key = '', value = ''] = marker.split('=');
  const child = spawn(loops, [], {
    stdio: 'ignore',
    detached: true,
    env: { ...process.env, [key]: value },
  });
  const group = child.pid ?? 0;
  const killGroup = async (): Promise<void> => {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // Gone already.
    }
  };
  const forget = onInterrupt(killGroup);
  try {
    await work.pipe.readyTotal(options.daemons, `${options.daemons} shell loops`, 300_000);
    respawns.open();
    const exitsPerS: number[] = [];
    let last = { at: performance.now(), exits };
    const timer = setInterval(() => {
      const at = performance.now();
      exitsPerS.push(Math.round((exits - last.exits) / ((at - last.at) / 1000)));
      last = { at, exits };
    }, 1000);
    await sleep(options.seconds * 1000);
    clearInterval(timer);
    const { respawn, launch } = respawns.close();
    await killGroup();
    const left = killSurvivors(await waitUntilDead(livePidsOfRun(marker, work.dir, []), 10_000));
    return {
      daemons: options.daemons,
      ratePerS: options.ratePerS,
      seconds: options.seconds,
      exitsPerS,
      respawn,
      launch,
      left: left.length,
    };
  } finally {
    forget();
    await killGroup();
    work.remove();
  }
}
