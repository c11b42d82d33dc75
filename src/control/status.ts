import type { DaemonStatus } from '../protocol/messages.ts';
import type { DaemonRecord } from '../supervisor/state.ts';

/** A daemon whose config file is refused now, with the first reason why. */
export interface BrokenConfig {
  readonly id: string;
  readonly owner: string;
  readonly name: string;
  readonly file: string;
  /** The first error, formatted `file:line: error: message`. */
  readonly problem: string;
}

/**
 * One status row of a daemon at time `now` (ms). `problem` is what is wrong with its
 * config file now, if anything: a stopped daemon with a broken file shows as `broken`
 * (it cannot start); one still running on its last good config shows what it does.
 * `runAs`: the account its run runs as, when known (the uid the keeper switched it to):
 * a run started with another config than its file's now may run as another user.
 */
export function statusOf(
  record: DaemonRecord,
  now: number,
  problem?: string,
  runAs?: string,
): DaemonStatus {
  const { state } = record;
  const seconds = (ms: number): number => Math.max(0, Math.floor(ms / 1000));
  // Its spawn asked of the keeper, not forked yet (in a crash storm the keeper has a queue).
  const forking = state.kind === 'running' && state.pid === 0;
  // The run of the account that had the owner's name before is no process of theirs:
  // nothing of it shows, not its account as run-as, nor time counted (an outside review,
  // 45b, F5).
  const former = state.kind === 'stopping' && state.former === true;
  const alive = (state.kind === 'running' || state.kind === 'stopping') && !forking && !former;
  const lastExit = describeExit(record);
  const exit = record.lastExit;
  // What the daemon said of itself counts for its current run only.
  const notified = alive && record.notified?.run === state.run ? record.notified : undefined;
  return {
    id: record.id,
    user: record.owner,
    name: record.spec.name,
    state:
      state.kind === 'running' && (state.starting || forking)
        ? 'starting'
        : state.kind === 'running' && notified?.phase !== undefined
          ? notified.phase
          : state.kind !== 'stopped'
            ? state.kind
            : problem !== undefined
              ? 'broken'
              : (state.ended ?? 'stopped'),
    wanted: record.wanted,
    pid: state.kind === 'running' || (state.kind === 'stopping' && !former) ? state.pid : 0,
    respawns: record.respawns,
    cooldown: state.kind === 'coolingdown' ? Math.max(0, Math.ceil((state.until - now) / 1000)) : 0,
    cooldownStep: seconds(record.cooldownMs),
    // As the original: both count only while the daemon has a process; uptime, only once
    // its program has begun (begunAt: none while its exec is under way).
    uptime: alive && record.begunAt !== undefined ? seconds(now - record.begunAt) : 0,
    total: alive && record.startedAt !== undefined ? seconds(now - record.startedAt) : 0,
    // A broken row runs as nobody: what its file asks may be refused (48b, F2: `root`).
    runAs:
      (alive ? runAs : undefined) ??
      (state.kind === 'stopped' && problem !== undefined ? record.owner : record.spec.runAs) ??
      record.owner,
    output: record.spec.output,
    restart: record.spec.restart,
    ...(lastExit === undefined ? {} : { lastExit }),
    ...(exit?.error === undefined && typeof exit?.code === 'number'
      ? { lastExitCode: exit.code }
      : {}),
    ...(exit?.error === undefined && exit?.signal ? { lastExitSignal: exit.signal } : {}),
    ...(problem === undefined ? {} : { problem }),
    ...(notified?.status === undefined ? {} : { status: notified.status }),
    ...healthOf(record),
    ...(record.unkilled.length === 0 ? {} : { unkilled: record.unkilled.map(({ pid }) => pid) }),
  };
}

/** The health fields of a daemon with `health=` or `watchdog=`. */
function healthOf(record: DaemonRecord): { health?: string; unhealthy?: number } {
  const { spec, health } = record;
  if (spec.health === undefined && spec.watchdogMs === undefined) return {};
  const unhealthy = { unhealthy: record.unhealthy };
  if (spec.health === undefined || health === undefined) return unhealthy;
  if (health.failures > 0)
    return { ...unhealthy, health: `failing ${health.failures}/${spec.health.retries}` };
  return { ...unhealthy, health: health.checked ? 'healthy' : 'unchecked' };
}

/** The status row of a daemon known only by its broken config file: never loaded. */
export function brokenStatus(broken: BrokenConfig): DaemonStatus {
  return {
    id: broken.id,
    user: broken.owner,
    name: broken.name,
    state: 'broken',
    wanted: 'down',
    pid: 0,
    respawns: 0,
    cooldown: 0,
    cooldownStep: 0,
    uptime: 0,
    total: 0,
    runAs: broken.owner,
    output: 'discard',
    problem: broken.problem,
  };
}

function describeExit(record: DaemonRecord): string | undefined {
  const exit = record.lastExit;
  if (exit === undefined) return undefined;
  if (exit.error !== undefined) return exit.error;
  if (exit.oom && exit.signal === null && exit.code !== null)
    return `exit status ${exit.code}: out of memory`;
  if (exit.oom) return `killed by ${exit.signal ?? 'SIGKILL'}: out of memory`;
  if (exit.signal) return `killed by ${exit.signal}`;
  // Ended while no keeper of this manager could see how (the keeper itself died).
  return exit.code === null ? 'ended' : `exit status ${exit.code}`;
}
