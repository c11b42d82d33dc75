import { performance } from 'node:perf_hooks';
import { timeCommand } from '../measures/command-latency.ts';
import { type CpuUse, cpuBetween, sampleCpu } from '../measures/cpu.ts';
import { type Memory, memoryOf } from '../measures/memory.ts';
import { isAlive, killSurvivors, sleep, waitUntilDead } from '../measures/proc.ts';
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
  readonly statusMs: readonly number[];
  readonly respawnMs: readonly number[];
  /** Processes still alive after the stop (killed by the bench): should be none. */
  readonly leftovers: number;
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
 * memory; the status command, repeated; respawns after kill -9; the stop.
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
  const forget = onInterrupt(async () => {
    if (running) await stop(running, daemons);
  });
  try {
    const t0 = performance.now();
    running = start();
    const readyAt = await work.pipe.readyTotal(count, `${count} daemons`, START_TIMEOUT_MS);
    const startMs = readyAt - t0;
    await sleep(options.settleMs);

    const pids = running.supervisorPids();
    const before = sampleCpu(pids);
    await sleep(options.idleMs / 2);
    const middle = sampleCpu(pids);
    await sleep(options.idleMs / 2);
    const after = sampleCpu(pids);
    const idle = cpuBetween(before, after);
    const idleLate = cpuBetween(middle, after);
    const memory = memoryOf(running.supervisorPids());

    const statusMs = measureStatus(running, count, options.statusRepeats);
    const respawnMs = await measureRespawns(work.pipe, daemons, options.respawns);
    const leftovers = await stop(running, daemons);
    return { startMs, memory, idle, idleLate, statusMs, respawnMs, leftovers };
  } catch (error) {
    if (running) await stop(running, daemons).catch(() => 0);
    throw error;
  } finally {
    forget();
    // The daemons' last pids, to make sure not one is left.
    killSurvivors(daemons.flatMap((daemon) => work.pipe.last(daemon.name)?.pid ?? []));
    work.remove();
  }

  async function stop(supervisor: Running, all: readonly DaemonDef[]): Promise<number> {
    const killed = await supervisor.stop();
    const daemonPids = all.flatMap((daemon) => work.pipe.last(daemon.name)?.pid ?? []);
    const left = killSurvivors(await waitUntilDead(daemonPids, 10_000));
    return killed.length + left.length;
  }
}

/** Times the status command; the first run also checks that it lists every daemon running. */
function measureStatus(running: Running, count: number, repeats: number): number[] {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const result = timeCommand(running.statusArgv, running.statusEnv);
    if (i === 0) {
      const shown = running.countRunning(result.stdout);
      if (shown !== count)
        throw new Error(`the status command shows ${shown} of ${count} daemons running`);
    }
    times.push(result.ms);
  }
  return times;
}

/**
 * Kills (SIGKILL) the main process of daemons spread over the fleet, one at a time, and
 * times until its replacement says it runs. Each victim has been up for the whole idle
 * window, so no supervisor applies its back-off for quick exits.
 */
async function measureRespawns(
  pipe: ReturnType<typeof makeWorkdir>['pipe'],
  daemons: readonly DaemonDef[],
  respawns: number,
): Promise<number[]> {
  const times: number[] = [];
  const step = Math.max(1, Math.floor(daemons.length / respawns));
  for (let i = 0; i < respawns && i * step < daemons.length; i++) {
    const name = daemons[i * step]?.name ?? '';
    const old = pipe.last(name);
    if (!old || !isAlive(old.pid)) throw new Error(`daemon ${name} is not running before the kill`);
    const replaced = pipe.next(
      (line) => line.word === 'ready' && line.name === name && line.pid !== old.pid,
      `${name} to be respawned`,
      RESPAWN_TIMEOUT_MS,
    );
    const killedAt = performance.now();
    process.kill(old.pid, 'SIGKILL');
    times.push((await replaced).at - killedAt);
    await sleep(200);
  }
  return times;
}
