import type { ChildProcess } from 'node:child_process';
import { chownSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TestHost, TestUser } from '../../test/helpers/host.ts';
import { askAtSocket } from '../measures/control-client.ts';
import { type AskOptions, askInLoop, type Call, timeAsync } from '../measures/latency-loop.ts';
import { killSurvivors, livePidsOfUid, sleep, waitUntilDead } from '../measures/proc.ts';
import {
  managerProcesses,
  type ProcessSample,
  sampleProcesses,
} from '../measures/process-sample.ts';
import type { ReadyPipe } from '../measures/ready-pipe.ts';
import { NODE } from '../peers/daemon-manager.ts';
import { exited, spawnLogged, terminate } from '../peers/spawn.ts';
import { type LoopSummary, summarize } from '../report/rescan-markdown.ts';
import {
  type AttackSizes,
  BUSY_NAME,
  type Owner,
  stuckIds,
  touchBigConfigs,
  writeAttackerFiles,
} from './attacker-files.ts';
import { onInterrupt } from './interrupt.ts';
import { tailOf } from './workdir.ts';

/** What the victim saw during one phase (without, then with the attacker). */
export interface AttackPhase {
  readonly seconds: number;
  /** Every `dmctl status` the victim ran (asked in a loop), failed ones included. */
  readonly statusMs: readonly number[];
  readonly statusFailures: number;
  /**
   * `node -e 0` as the victim, asked in a loop beside its dmctl (absent in older files):
   * what the machine's load alone does to any Node client at that moment.
   */
  readonly nodeFloorMs?: readonly number[];
  /**
   * The same `status` asked on the victim's control socket by a small Python client in a
   * loop beside its dmctl (absent in older files): the manager's side of a call, without
   * a client's start-up: its figures (tens of thousands of calls), failed ones included.
   */
  readonly socketStatus?: LoopSummary;
  readonly statusErrors: readonly string[];
  /** kill -9 of a victim's daemon to its replacement's ready line; null: not within 120 s. */
  readonly respawnMs: readonly (number | null)[];
  /** The manager over the phase: mean CPU (% of a core), largest RSS and descriptors. */
  readonly managerCpuPct: number;
  readonly managerRssKbMax: number;
  readonly managerFdsMax: number;
}

export interface AttackRun {
  readonly sizes: AttackSizes;
  readonly victimDaemons: number;
  readonly without: AttackPhase;
  readonly with: AttackPhase;
  /** The attacker's first rescan (loading everything) and its stops, in ms. */
  readonly firstRescanMs: number;
  readonly stopsMs: number;
  /** Processes of the attacker once its daemons ran, and its daemons seen stopping. */
  readonly attackerProcesses: number;
  readonly stuckStopping: number;
  /** The attacker's rescans during the attack phase (each after touching every big config). */
  readonly rescanMs: readonly number[];
  readonly rescanFailures: number;
  readonly managerLogBytes: number;
  /** What the attacker's first rescan printed, and the end of the manager's own log. */
  readonly firstRescanOutput: string;
  readonly managerLogTail: readonly string[];
  /** SIGTERM to exit of the manager at the end (after the attacker's processes were killed). */
  readonly sigtermExitMs: number | null;
}

export interface AttackContext {
  readonly host: TestHost;
  /** daemon-manager's bin/ directory (readable by the users). */
  readonly bin: string;
  readonly attacker: TestUser;
  readonly victim: TestUser;
  readonly victimNames: readonly string[];
  readonly pipe: ReadyPipe;
  readonly sizes: AttackSizes;
  readonly seconds: number;
  readonly respawns: number;
}

const RESPAWN_TIMEOUT_MS = 120_000;
/** The attacker stops what it can of its stuck daemons in this time (the rest keep running). */
const STOPS_DEADLINE_MS = 300_000;
const SIGTERM_LIMIT_MS = 180_000;

/**
 * The attacker workload, on a host whose users, master config and victim daemons are
 * written: the manager starts with the victim's daemons alone; the victim measures its
 * status and respawns; then the attacker loads its files, stops its stuck daemons and
 * rescans in a loop while the victim measures again. At the end the attacker's processes
 * are killed and the manager gets SIGTERM.
 */
export async function runAttack(context: AttackContext): Promise<AttackRun> {
  const { host, attacker, sizes } = context;
  const manager = spawnLogged(
    [join(context.bin, 'daemon-manager'), '--config', host.configFile, '--foreground'],
    join(host.dir, 'manager.log'),
  );
  const forget = onInterrupt(async () => manager.kill('SIGKILL'));
  try {
    await context.pipe.readyTotal(context.victimNames.length, "the victim's daemons", 60_000);
    const without = await measurePhase(context, manager);

    const owner: Owner = {
      uid: attacker.uid,
      gid: attacker.gid,
      daemonDir: join(attacker.home, '.daemon-manager/daemons'),
    };
    writeAttackerFiles(owner, sizes);
    const asAttacker = userOptions(attacker, 600_000);
    const dmctl = (...args: string[]): string[] => [
      join(context.bin, 'dmctl'),
      '--config',
      host.configFile,
      ...args,
    ];
    const firstRescan = await timeAsync(dmctl('rescan'), asAttacker);
    const wanted = Math.floor(sizes.stuck * (sizes.children + 1) * 0.95);
    const attackerProcesses = await waitForProcesses(attacker.uid, wanted, 300_000);
    const stopsAt = performance.now();
    await inParallel(stuckIds(attacker.name, sizes), 4, STOPS_DEADLINE_MS, (id) =>
      timeAsync(dmctl(id, 'stop'), userOptions(attacker, 120_000)),
    );
    const stopsMs = performance.now() - stopsAt;
    const stuckStopping = await countStopping(dmctl, attacker);

    const rescans: Call[] = [];
    let attacking = true;
    const rescanLoop = (async () => {
      while (attacking) {
        touchBigConfigs(owner, sizes);
        rescans.push(await timeAsync(dmctl('rescan'), userOptions(attacker, 60_000)));
      }
    })();
    if ((sizes.busy ?? 0) > 0) {
      const before = livePidsOfUid(attacker.uid).length;
      await timeAsync(dmctl(`${attacker.name}/${BUSY_NAME}`, 'start'), asAttacker);
      await waitForProcesses(attacker.uid, before + (sizes.busy ?? 0), 60_000);
    }
    const withAttack = await measurePhase(context, manager);
    attacking = false;
    await rescanLoop;

    killSurvivors(livePidsOfUid(attacker.uid));
    await waitUntilDead(livePidsOfUid(attacker.uid), 60_000);
    const sigtermExitMs = await terminate(manager, SIGTERM_LIMIT_MS);
    return {
      sizes,
      victimDaemons: context.victimNames.length,
      without,
      with: withAttack,
      firstRescanMs: firstRescan.ms,
      stopsMs,
      attackerProcesses,
      stuckStopping,
      rescanMs: rescans.map((call) => Math.round(call.ms)),
      rescanFailures: rescans.filter((call) => !call.ok).length,
      managerLogBytes: sizeOf(join(host.dir, 'manager.log')),
      firstRescanOutput: firstRescan.output.slice(0, 1000),
      managerLogTail: tailOf(join(host.dir, 'manager.log'), 30),
      sigtermExitMs,
    };
  } finally {
    forget();
    if (manager.exitCode === null && manager.signalCode === null) manager.kill('SIGKILL');
    await exited(manager);
  }
}

/** The victim's view for `seconds`: status asked in a loop, and `respawns` kills spread out. */
async function measurePhase(context: AttackContext, manager: ChildProcess): Promise<AttackPhase> {
  const { victim, victimNames, pipe } = context;
  const pid = manager.pid ?? 0;
  const client = askInLoop(
    [join(context.bin, 'dmctl'), '--config', context.host.configFile, 'status'],
    {
      ...userOptions(victim, 10_000),
      check: (stdout) => {
        const listed = stdout.split('\n').filter((row) => row.startsWith(`${victim.name}/`));
        return listed.length === victimNames.length
          ? undefined
          : `lists ${listed.length} of ${victimNames.length}`;
      },
    },
  );
  // The floor of any Node client on the machine as it is now, as the victim.
  const floor = askInLoop([NODE, '-e', '0'], userOptions(victim, 10_000));
  // The manager's answer alone, at the victim's socket.
  const atSocket = askAtSocket(
    victim,
    join(context.host.dir, 'run', `${victim.name}.sock`),
    'status',
    context.seconds,
  );
  // The manager and its keeper, summed.
  const look = (): ProcessSample => sampleProcesses(managerProcesses(pid));
  const samples: ProcessSample[] = [look()];
  const sampler = setInterval(() => samples.push(look()), 1000);
  const startedAt = performance.now();
  const respawnMs: (number | null)[] = [];
  const gap = (context.seconds * 1000) / (context.respawns + 1);
  for (let index = 0; index < context.respawns; index++) {
    await sleep(Math.max(0, startedAt + gap * (index + 1) - performance.now()));
    const name = victimNames[index % victimNames.length] ?? '';
    respawnMs.push(await killAndAwait(pipe, name));
  }
  await sleep(Math.max(0, startedAt + context.seconds * 1000 - performance.now()));
  clearInterval(sampler);
  const elapsedS = (performance.now() - startedAt) / 1000;
  const calls = await client.stop();
  const floorCalls = await floor.stop();
  const socketCalls = await atSocket;
  samples.push(look());
  const failed = calls.filter((call) => !call.ok);
  const first = samples[0];
  const last = samples.at(-1);
  return {
    seconds: context.seconds,
    statusMs: calls.map((call) => Math.round(call.ms * 10) / 10),
    statusFailures: failed.length,
    nodeFloorMs: floorCalls.map((call) => Math.round(call.ms * 10) / 10),
    socketStatus: summarize(socketCalls),
    statusErrors: [...new Set(failed.map((call) => call.error))].slice(0, 5),
    respawnMs,
    managerCpuPct:
      first && last ? Math.round((last.cpuTicks - first.cpuTicks) / elapsedS) : Number.NaN,
    managerRssKbMax: Math.max(...samples.map((sample) => sample.rssKb)),
    managerFdsMax: Math.max(...samples.map((sample) => sample.fds)),
  };
}

/** kill -9 of a daemon's process, then the time until its replacement says it runs. */
async function killAndAwait(pipe: ReadyPipe, name: string): Promise<number | null> {
  const old = pipe.last(name);
  if (!old) return null;
  const replaced = pipe.next(
    (line) => line.word === 'ready' && line.name === name && line.pid !== old.pid,
    `${name} to be respawned`,
    RESPAWN_TIMEOUT_MS,
  );
  const killedAt = performance.now();
  try {
    process.kill(old.pid, 'SIGKILL');
  } catch {
    return null;
  }
  return replaced.then((line) => line.at - killedAt).catch(() => null);
}

/** Options to run a command as `user`, with the environment a login would give. */
export function userOptions(user: TestUser, timeoutMs: number): AskOptions {
  return {
    uid: user.uid,
    gid: user.gid,
    timeoutMs,
    env: { HOME: user.home, USER: user.name, LOGNAME: user.name, PATH: '/usr/bin:/bin' },
  };
}

/** Makes the readiness FIFO writable by the victim, who runs the daemons that write it. */
export function lendPipe(pipe: ReadyPipe, user: TestUser): void {
  chownSync(pipe.path, user.uid, user.gid);
}

async function countStopping(
  dmctl: (...args: string[]) => string[],
  attacker: TestUser,
): Promise<number> {
  let stopping = 0;
  await timeAsync(dmctl('--json', 'status'), {
    ...userOptions(attacker, 120_000),
    check: (stdout) => {
      try {
        const rows = JSON.parse(stdout) as { state?: string }[];
        stopping = rows.filter((row) => row.state === 'stopping').length;
        return undefined;
      } catch {
        return 'not JSON';
      }
    },
  });
  return stopping;
}

async function waitForProcesses(uid: number, wanted: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let count = livePidsOfUid(uid).length;
  while (count < wanted && performance.now() < deadline) {
    await sleep(500);
    count = livePidsOfUid(uid).length;
  }
  return count;
}

/** Runs `work` on every item, `width` at a time; starts no more once `deadlineMs` passed. */
async function inParallel<T>(
  items: readonly string[],
  width: number,
  deadlineMs: number,
  work: (item: string) => Promise<T>,
): Promise<void> {
  const queue = [...items];
  const deadline = performance.now() + deadlineMs;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        if (performance.now() > deadline) return;
        await work(item);
      }
    }),
  );
}

function sizeOf(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}
