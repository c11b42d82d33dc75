/**
 * The messages between the manager and dm-keeper (native/keeper/): NUL-separated fields,
 * the first one the verb, with descriptors beside them. Pure: turns fields into typed
 * events and requests into fields.
 */

/** How a run's main process ended. */
export interface RunExit {
  readonly code: number | null;
  /** The signal number that killed it, if one did. */
  readonly signal: number | null;
}

/** Everything the keeper knows of one run (one spawn of a daemon). */
export interface RunReport {
  readonly seq: number;
  readonly id: string;
  readonly pid: number;
  /** The main process's start time in clock ticks after boot: with the pid, its identity. */
  readonly startTicks: number;
  readonly spawnedAt: number;
  readonly alive: boolean;
  /** Set once the main process has ended (unknown how for a run adopted from a dead keeper). */
  readonly exit: RunExit | undefined;
  readonly exitedAt: number;
  /** No process of the run is left (its cgroup, or its process group, is empty). */
  readonly empty: boolean;
  readonly exec: 'pending' | 'ok' | 'failed';
  /** Why the child could not become the daemon ("cannot enter /x: No such file..."). */
  readonly execError: string;
  /**
   * The keeper's record of whom the run was started for (the owner's uid, as the manager
   * said at the spawn) and as (the uid the child was switched to); undefined when not
   * known: a survivor of a previous keeper, or a keeper from before version 3.
   */
  readonly ownerUid: number | undefined;
  readonly uid: number | undefined;
  /**
   * The gid and every group (setgroups' list) the keeper switched the child to before its
   * exec: what the run was given, whatever it did to itself since. Undefined when not
   * known: not switched (a run as the keeper's own user), a survivor, a keeper before 4.
   */
  readonly groups: { readonly gid: number; readonly list: readonly number[] } | undefined;
  /**
   * When the keeper saw the run's exec done (ms, as Date.now()); undefined when not known:
   * not done, a survivor of a previous keeper, a keeper before 5. A manager stopped
   * meanwhile counts the program's uptime from it, not from when it read the report.
   */
  readonly execAt: number | undefined;
}

/** What the keeper says. */
export type KeeperEvent =
  | { readonly kind: 'hello'; readonly pid: number; readonly version: string }
  | { readonly kind: 'end' }
  | { readonly kind: 'pipe'; readonly id: string; readonly fd: number }
  | { readonly kind: 'fd'; readonly name: string; readonly fd: number }
  | {
      readonly kind: 'run' | 'spawned' | 'exec' | 'exited' | 'empty';
      readonly run: RunReport;
    }
  | {
      readonly kind: 'signalled';
      readonly seq: number;
      readonly signal: number;
      readonly reached: number;
      readonly errno: number;
    }
  | { readonly kind: 'spawn-failed'; readonly seq: number; readonly error: string }
  | { readonly kind: 'adopt-failed'; readonly seq: number }
  | { readonly kind: 'log'; readonly level: string; readonly text: string }
  | { readonly kind: 'error'; readonly verb: string; readonly text: string };

const RUN_VERBS = new Set(['run', 'spawned', 'exec', 'exited', 'empty']);

const integer = (text: string | undefined): number => {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : Number.NaN;
};

/** A uid the keeper recorded; -1 (or absent: an older keeper) for none. */
const recordedUid = (text: string | undefined): number | undefined => {
  const value = integer(text);
  return value >= 0 ? value : undefined;
};

/** The gid and groups a keeper of version 4 on recorded; undefined for none or a bad list. */
function recordedGroups(gid: string | undefined, list: string | undefined): RunReport['groups'] {
  const gidN = recordedUid(gid);
  if (gidN === undefined || list === undefined) return undefined;
  const gids = list === '' ? [] : list.split(',').map(integer);
  return gids.every((value) => value >= 0) ? { gid: gidN, list: gids } : undefined;
}

function parseRun(fields: readonly string[]): RunReport | undefined {
  // A keeper before version 3 (kept across an upgrade) says 13 fields, no uids; before 4,
  // 15; before 5, 17.
  if (![13, 15, 17, 18].includes(fields.length)) return undefined;
  const [, seq, id, pid, ticks, spawned, alive, code, signal, exited, empty, exec, error] = fields;
  const [owner, uid, gid, groups, execAt] = fields.slice(13);
  const execAtN = integer(execAt);
  const numbers = [seq, pid, ticks, spawned, code, signal, exited].map(integer);
  if (numbers.some(Number.isNaN) || id === undefined) return undefined;
  const [seqN, pidN, ticksN, spawnedN, codeN, signalN, exitedN] = numbers as number[];
  const isAlive = alive === '1';
  return {
    seq: seqN as number,
    id,
    pid: pidN as number,
    startTicks: ticksN as number,
    spawnedAt: spawnedN as number,
    alive: isAlive,
    // A survivor of another keeper (not its child) ends with no status: code -1.
    exit:
      isAlive || exitedN === 0
        ? undefined
        : signalN
          ? { code: null, signal: signalN as number }
          : { code: codeN === -1 ? null : (codeN as number), signal: null },
    exitedAt: exitedN as number,
    empty: empty === '1',
    exec: exec === '1' ? 'ok' : exec === '2' ? 'failed' : 'pending',
    execError: error ?? '',
    ownerUid: recordedUid(owner),
    uid: recordedUid(uid),
    groups: recordedGroups(gid, groups),
    execAt: execAtN > 0 ? execAtN : undefined,
  };
}

/** Reads one message of the keeper; undefined for one this manager does not understand. */
export function parseEvent(
  fields: readonly string[],
  fds: readonly number[],
): KeeperEvent | undefined {
  const [verb, a, b, c, d] = fields;
  if (verb === undefined) return undefined;
  if (RUN_VERBS.has(verb)) {
    const run = parseRun(fields);
    return run && { kind: verb as 'run', run };
  }
  switch (verb) {
    case 'hello':
      return { kind: 'hello', pid: integer(a), version: b ?? '' };
    case 'end':
      return { kind: 'end' };
    case 'pipe':
      return a !== undefined && fds[0] !== undefined
        ? { kind: 'pipe', id: a, fd: fds[0] }
        : undefined;
    case 'fd':
      return a !== undefined && fds[0] !== undefined
        ? { kind: 'fd', name: a, fd: fds[0] }
        : undefined;
    case 'signalled':
      return {
        kind: 'signalled',
        seq: integer(a),
        signal: integer(b),
        reached: integer(c),
        errno: integer(d),
      };
    case 'spawn-failed':
      return { kind: 'spawn-failed', seq: integer(a), error: b ?? '' };
    case 'adopt-failed':
      return { kind: 'adopt-failed', seq: integer(a) };
    case 'log':
      return { kind: 'log', level: a ?? 'info', text: b ?? '' };
    case 'error':
      return { kind: 'error', verb: a ?? '', text: b ?? '' };
    default:
      return undefined;
  }
}
