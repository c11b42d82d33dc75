import { performance } from 'node:perf_hooks';
import { cgroupsMadeFor, describeCgroups, removeLeftoverCgroups } from '../measures/cgroups.ts';
import { timeCommand } from '../measures/command-latency.ts';
import { type CpuUse, cpuBetween, sampleCpu } from '../measures/cpu.ts';
import { countEtcEvents } from '../measures/etc-events.ts';
import { type Memory, memoryOf } from '../measures/memory.ts';
import { isAlive, killSurvivors, livePidsOfRun, sleep, waitUntilDead } from '../measures/proc.ts';
import type { DaemonDef, Peer, Running } from '../peers/peer.ts';
import { onInterrupt } from './interrupt.ts';
import { fleetScript, makeWorkdir } from './workdir.ts';

/** What one run of N daemons under one supervisor measured. */
export interface FleetRun {
  readonly startMs: number;
  readonly memory: Memory;
  readonly idle: CpuUse;
  /** The second half of the idle window alone: what recurs, with start-up long past. */
  readonly idleLate: CpuUse;
  /** Changes in /etc during the idle window (absent in older files): see etc-events.ts. */
  readonly idleEtcEvents?: number;
  readonly statusMs: readonly number[];
  /** How many daemons each status call listed as running (all N, unless it cut its reply). */
  readonly statusListed: readonly number[];
  readonly respawnMs: readonly number[];
  /** The cgroups a replacement daemon ran in, made by the supervisor ('' if none). */
  readonly daemonCgroup: string;
  /** Processes still alive after the stop (killed by the bench): should be none. */
  readonly leftovers: number;
  /** Cgroup directories the supervisor made for its daemons and left after its stop. */
  readonly cgroupsLeft: readonly string[];
}

export interface FleetOptions {
  readonly root: string;
  readonly settleMs: number;
  readonly idleMs: number;
  readonly statusRepeats: number;
  readonly respawns: number;
}

const START_TIMEOUT_MS = 600_000;
const RESPAWN_TIMEOUT_MS = 30_000;

/**
 * One run: a cold start of the supervisor with N daemons, until each has said it runs;
 * a settling pause; the idle window (nothing but the supervisor and its sleeping daemons);
 * memory; the status command, repeated; respawns after kill -9 of daemons that have run
 * long enough for the supervisor's back-off not to apply; the stop, and what it left.
 */
export async function runFleet(
  peer: Peer,
  count: number,
  options: FleetOptions,
): Promise<FleetRun> {
  const work = makeWorkdir(options.root, `${peer.name}-${count}`);
  const script = work.script('daemon.sh', fleetScript(work.pipe.path));
  const daemons: DaemonDef[] = Array.from({ length: count }, (_, index) => ({
    name: `d${String(index).padStart(4, '0')}`,
    script,
    capture: false,
  }));
  const start = peer.configure(work.dir, daemons);
  let running: Running | undefined;
  const cgroups = new Set<string>();
  const forget = onInterrupt(async () => {
    if (running) await stop(running, daemons);
    peer.cleanUp?.(work.dir);
  });
  try {
    const t0 = performance.now();
    running = start();
    const readyAt = await work.pipe.readyTotal(count, `${count} daemons`, START_TIMEOUT_MS);
    const startMs = readyAt - t0;
    const supervisor = running.supervisorPids()[0] ?? 0;
    for (const daemon of daemons)
      for (const dir of cgroupsMadeFor(work.pipe.last(daemon.name)?.pid ?? 0, supervisor))
        cgroups.add(dir);
    await sleep(options.settleMs);

    const pids = running.supervisorPids();
    const etc = countEtcEvents();
    const before = sampleCpu(pids);
    await sleep(options.idleMs / 2);
    const middle = sampleCpu(pids);
    await sleep(options.idleMs / 2);
    const after = sampleCpu(pids);
    const idleEtcEvents = etc.stop();
    const idle = cpuBetween(before, after);
    const idleLate = cpuBetween(middle, after);
    const memory = memoryOf(running.supervisorPids());

    const status = measureStatus(running, options.statusRepeats);
    const victims = pickVictims(daemons, options.respawns);
    await waitForUptime(work.pipe, victims, peer.respawnAfterUptimeMs);
    const respawned = await measureRespawns(work.pipe, victims);
    const daemonCgroup = describeCgroups(respawned.lastPid, supervisor);
    for (const dir of cgroupsMadeFor(respawned.lastPid, supervisor)) cgroups.add(dir);
    const leftovers = await stop(running, daemons);
    return {
      startMs,
      memory,
      idle,
      idleLate,
      idleEtcEvents,
      statusMs: status.ms,
      statusListed: status.listed,
      respawnMs: respawned.ms,
      daemonCgroup,
      leftovers,
      cgroupsLeft: removeLeftoverCgroups(cgroups),
    };
  } catch (error) {
    if (running) await stop(running, daemons).catch(() => 0);
    throw error;
  } finally {
    forget();
    // The daemons' last pids, to make sure not one is left; and whatever else of the run
    // lives on (a supervisor whose own stop failed names the run's directory).
    killSurvivors(daemons.flatMap((daemon) => work.pipe.last(daemon.name)?.pid ?? []));
    killSurvivors(livePidsOfRun(NO_MARKER, work.dir, cgroups));
    removeLeftoverCgroups(cgroups);
    try {
      peer.cleanUp?.(work.dir);
    } finally {
      work.remove();
    }
  }

  async function stop(supervisor: Running, all: readonly DaemonDef[]): Promise<number> {
    const killed = await supervisor.stop();
    const daemonPids = all.flatMap((daemon) => work.pipe.last(daemon.name)?.pid ?? []);
    const left = killSurvivors(await waitUntilDead(daemonPids, 10_000));
    return killed.length + left.length;
  }
}

/** livePidsOfRun's environment marker, for runs that set none: matches no process. */
const NO_MARKER = `DM_BENCH_NONE=${process.pid}-${Date.now()}`;

/**
 * Times the status command, and counts the daemons each call lists as running: a reply
 * that lists fewer than N is kept but reported (the table then says why there is no figure).
 */
function measureStatus(running: Running, repeats: number): { ms: number[]; listed: number[] } {
  const ms: number[] = [];
  const listed: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const result = timeCommand(running.statusArgv, running.statusEnv);
    ms.push(result.ms);
    listed.push(running.countRunning(result.stdout));
  }
  return { ms, listed };
}

/** `count` daemons spread evenly over the fleet. */
function pickVictims(daemons: readonly DaemonDef[], count: number): string[] {
  const step = Math.max(1, Math.floor(daemons.length / count));
  const names: string[] = [];
  for (let i = 0; i < count && i * step < daemons.length; i++)
    names.push(daemons[i * step]?.name ?? '');
  return names;
}

/** Waits until every victim has run for `uptimeMs`, so that no back-off applies to its kill. */
async function waitForUptime(
  pipe: ReturnType<typeof makeWorkdir>['pipe'],
  victims: readonly string[],
  uptimeMs: number,
): Promise<void> {
  const since = Math.max(...victims.map((name) => pipe.last(name)?.at ?? 0));
  const wait = since + uptimeMs - performance.now();
  if (wait > 0) await sleep(wait);
}

/**
 * Kills (SIGKILL) the main process of each victim, one at a time, and times until its
 * replacement says it runs. Returns the times and the last replacement's pid.
 */
async function measureRespawns(
  pipe: ReturnType<typeof makeWorkdir>['pipe'],
  victims: readonly string[],
): Promise<{ ms: number[]; lastPid: number }> {
  const ms: number[] = [];
  let lastPid = 0;
  for (const name of victims) {
    const old = pipe.last(name);
    if (!old || !isAlive(old.pid)) throw new Error(`daemon ${name} is not running before the kill`);
    const replaced = pipe.next(
      (line) => line.word === 'ready' && line.name === name && line.pid !== old.pid,
      `${name} to be respawned`,
      RESPAWN_TIMEOUT_MS,
    );
    const killedAt = performance.now();
    process.kill(old.pid, 'SIGKILL');
    const line = await replaced;
    ms.push(line.at - killedAt);
    lastPid = line.pid;
    await sleep(200);
  }
  return { ms, lastPid };
}
