import { setTimeout as delay } from 'node:timers/promises';
import type { KeeperChannel } from '../process/native.ts';
import { readStat } from '../process/proc-stat.ts';
import { parseEvent, type RunReport } from './protocol.ts';

/** What the keeper holds when the manager (re)attaches. */
export interface KeeperSnapshot {
  readonly keeperPid: number;
  /** The keeper's protocol version (native/keeper/keeper.h KEEPER_VERSION). */
  readonly version: string;
  /** Whether the keeper was already running (the manager restarted or upgraded). */
  readonly existing: boolean;
  readonly runs: readonly RunReport[];
  /** Stored descriptors by name (`ctl:USER`, `out:ID`, ...), now this process's. */
  readonly fds: ReadonlyMap<string, number>;
  /** What the keeper logged while no manager listened. */
  readonly logs: readonly { readonly level: string; readonly text: string }[];
}

type Listener = (fields: string[] | null, fds: number[]) => void;

/** Where a new connection's messages go: queued until someone listens. */
export interface EventQueue {
  listen: Listener | undefined;
  queue: [string[] | null, number[]][];
}

/** How long the keeper may say nothing while the manager waits for its snapshot. */
const HELLO_SILENCE_MS = 10_000;

/**
 * This manager reads what keeper protocol version 3 adds to run reports (whom a run is
 * for and as), what version 4 adds (the gid and groups it was given) and what version 5
 * adds (when its exec was done); a keeper adds them only when told so, as an older
 * manager checks their count.
 */
export const HELLO = ['hello', '5'];

/**
 * The keeper ended the connection (or it failed) before it answered hello: it was going,
 * most often told to quit by the manager that ran before this one (a stop, then a start at
 * once: `systemctl restart`), which exited without waiting for the keeper to read it.
 */
export class KeeperWentAtHello extends Error {
  /** The keeper's pid as the kernel gave it at the connect; 0 if unknown. */
  readonly keeperPid: number;

  constructor(message: string, keeperPid: number) {
    super(message);
    this.name = 'KeeperWentAtHello';
    this.keeperPid = keeperPid;
  }
}

/**
 * The keeper does not answer: it is there (its socket took the connection) but stopped
 * (SIGSTOP), starved of CPU, or stuck. No bug of the manager's: the daemons go on in it,
 * and what failed can be tried again once it answers (an outside review saw an upgrade
 * during a keeper's stall die with a stack trace labelled a bug).
 */
export class KeeperNotAnswering extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeeperNotAnswering';
  }
}

/** Why the keeper `pid` (0 if unknown) is taken for not answering, and what to look at. */
export function keeperSilence(pid: number, what: string, seconds: number): string {
  // Its socket took the connection, its listener is gone: another process holds the
  // socket open (a copy of the keeper's descriptors, as a daemon stuck before its exec
  // once kept), and nothing will ever answer there.
  if (pid > 0 && (readStat(pid)?.state ?? 'Z') === 'Z')
    return `dm-keeper (pid ${pid}) has not answered ${what} for ${seconds} s, and it is gone: another process holds its socket open (ss -xlp names it)`;
  const who = pid > 0 ? `dm-keeper (pid ${pid})` : 'dm-keeper';
  const look = pid > 0 ? `is it stopped (kill -CONT ${pid}) or` : 'is it stopped or';
  return `${who} has not answered ${what} for ${seconds} s: ${look} starved of CPU?`;
}

/**
 * Says hello and collects the keeper's answer up to its `end`. The keeper's silence for
 * HELLO_SILENCE_MS fails it, judged after the event loop's next poll (as failOnSilence in
 * src/protocol/silence.ts): libuv runs expired timers before it polls, so a manager
 * stalled past the deadline (a starved CPU, a SIGSTOP) took a keeper that had answered in
 * time for one that never did, and failed to start.
 */
export function readSnapshot(
  channel: KeeperChannel,
  events: EventQueue,
  existing: boolean,
): Promise<KeeperSnapshot> {
  return new Promise((resolve, reject) => {
    let keeperPid = 0;
    let version = '';
    const runs: RunReport[] = [];
    const fds = new Map<string, number>();
    const logs: { level: string; text: string }[] = [];
    let heard = 0;
    let timer: NodeJS.Timeout | undefined;
    const watch = (): void => {
      const seen = heard;
      timer = setTimeout(
        () =>
          setImmediate(() => {
            if (timer === undefined) return;
            if (heard !== seen) return watch();
            channel.close();
            reject(
              new KeeperNotAnswering(
                keeperSilence(channel.peerPid, 'hello', HELLO_SILENCE_MS / 1000),
              ),
            );
          }),
        HELLO_SILENCE_MS,
      );
    };
    const done = (): void => {
      clearTimeout(timer);
      timer = undefined;
      events.listen = undefined;
    };
    const went = (how: string): void => {
      done();
      channel.close();
      reject(
        new KeeperWentAtHello(
          `dm-keeper${channel.peerPid > 0 ? ` (pid ${channel.peerPid})` : ''} ${how} before it answered hello`,
          channel.peerPid,
        ),
      );
    };
    events.listen = (fields, received) => {
      heard++;
      if (fields === null) return went('closed the connection');
      const event = parseEvent(fields, received);
      if (event === undefined) return;
      switch (event.kind) {
        case 'hello':
          keeperPid = event.pid;
          version = event.version;
          break;
        case 'fd':
          fds.set(event.name, event.fd);
          break;
        case 'run':
          runs.push(event.run);
          break;
        case 'log':
          logs.push({ level: event.level, text: event.text });
          break;
        case 'error':
          done();
          channel.close();
          reject(new Error(`dm-keeper refused: ${event.text}`));
          break;
        case 'end':
          done();
          resolve({ keeperPid, version, existing, runs, fds, logs });
          break;
        default:
          events.queue.push([fields, received]);
      }
    };
    watch();
    try {
      channel.send(HELLO);
    } catch (error) {
      went(`failed the hello (${(error as Error).message})`);
    }
  });
}

/** How long a keeper that went at the hello is waited for. */
const GOING_KEEPER_MS = 10_000;

/**
 * Waits for the keeper that went at the hello to exit (gone, or a zombie: it closed its
 * socket); throws after GOING_KEEPER_MS, saying which process to look at.
 */
export async function waitForKeeperExit(went: KeeperWentAtHello): Promise<void> {
  const pid = went.keeperPid;
  const deadline = Date.now() + GOING_KEEPER_MS;
  for (;;) {
    const state = pid > 0 ? readStat(pid)?.state : undefined;
    if (state === undefined || state === 'Z') return;
    if (Date.now() > deadline)
      throw new KeeperNotAnswering(
        `${went.message}, and still runs ${GOING_KEEPER_MS / 1000} s later (state ${state}): is it stopped (kill -CONT ${pid}), or held by another manager of this state directory?`,
      );
    await delay(20);
  }
}
