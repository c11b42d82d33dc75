import type { KeeperChannel, Native } from '../process/native.ts';
import { deadline } from '../protocol/silence.ts';
import {
  type EventQueue,
  HELLO,
  type KeeperSnapshot,
  KeeperWentAtHello,
  keeperSilence,
  readSnapshot,
  waitForKeeperExit,
} from './hello.ts';
import { type KeeperEvent, parseEvent } from './protocol.ts';

export type { KeeperSnapshot } from './hello.ts';

/** How the link reports what happens after the snapshot. */
export interface LinkHandlers {
  event(event: KeeperEvent): void;
  /** The keeper is gone (killed): its runs are orphans now. */
  lost(): void;
}

/** The result of a `signal` request. */
export interface Signalled {
  readonly reached: number;
  readonly errno: number;
  /**
   * No answer came: the keeper is gone (or the request could not be sent). Taken for an
   * answer, a stop's SIGTERM was saved as carried out as the keeper died before it, and
   * the next manager sent none (an outside review, 76a, F1).
   */
  readonly lost?: true;
}

/**
 * The manager's connection to its dm-keeper. Requests are sent as they come; the keeper
 * answers in order, so the answers to `signal` are matched first in, first out.
 */
export class KeeperLink {
  readonly keeperPid: number;
  private readonly version: string;
  private channel: KeeperChannel;
  private handlers: LinkHandlers | undefined;
  private readonly pendingSignals: ((result: Signalled) => void)[] = [];
  /** Events that came before `handle` was called. */
  private readonly early: KeeperEvent[] = [];
  private closed = false;
  private readonly native: Native;
  private readonly socketPath: string;

  private constructor(
    native: Native,
    socketPath: string,
    channel: KeeperChannel,
    snapshot: KeeperSnapshot,
  ) {
    this.native = native;
    this.socketPath = socketPath;
    this.channel = channel;
    this.keeperPid = snapshot.keeperPid;
    this.version = snapshot.version;
  }

  /**
   * Connects to the keeper of this state directory, starting one if none answers, and
   * reads what it holds. A keeper that goes at the hello was told to quit by the manager
   * before this one, which exited without waiting for it to read that (a stop and a start
   * at once, `systemctl restart`): it is waited for (bounded), and a new one started.
   * `note` is told of that wait.
   */
  static async attach(
    native: Native,
    binary: string,
    socketPath: string,
    note: (text: string) => void = () => undefined,
  ): Promise<{ link: KeeperLink; snapshot: KeeperSnapshot }> {
    for (let waited = false; ; waited = true) {
      let existing = true;
      let connected = tryConnect(native, socketPath);
      if ('error' in connected) {
        existing = false;
        native.spawnKeeper(binary, socketPath);
        connected = tryConnect(native, socketPath);
        if ('error' in connected) throw new Error(`cannot reach dm-keeper: ${connected.error}`);
      }
      const { channel, events } = connected;
      let snapshot: KeeperSnapshot;
      try {
        snapshot = await readSnapshot(channel, events, existing);
      } catch (error) {
        if (!(error instanceof KeeperWentAtHello) || !existing || waited) throw error;
        note(`${error.message} (quitting for the manager before?); waiting for it to exit`);
        await waitForKeeperExit(error);
        continue;
      }
      const link = new KeeperLink(native, socketPath, channel, snapshot);
      events.listen = (fields, fds) => link.receive(fields, fds);
      for (const queued of events.queue.splice(0)) link.receive(...queued);
      return { link, snapshot };
    }
  }

  /** Starts delivering events (those that came meanwhile are queued until then). */
  handle(handlers: LinkHandlers): void {
    this.handlers = handlers;
    for (const event of this.early.splice(0)) handlers.event(event);
    if (this.closed) handlers.lost();
  }

  /** Does the keeper keep whom each run was started for and as (version 3 on)? */
  get recordsUids(): boolean {
    return Number(this.version) >= 3;
  }

  /** Can the keeper take on what is left of a process group whose leader is gone (version 6 on)? */
  get adoptsGroups(): boolean {
    return Number(this.version) >= 6;
  }

  spawn(fields: readonly string[]): void {
    this.send(['spawn', ...fields]);
  }

  signal(seq: number, signal: number): Promise<Signalled> {
    return new Promise((resolve) => {
      if (!this.send(['signal', String(seq), String(signal)])) {
        resolve({ reached: 0, errno: 3 /* ESRCH */, lost: true });
        return;
      }
      this.pendingSignals.push(resolve);
    });
  }

  /**
   * Whether the keeper answers within `ms` (judged after the loop's next poll, see
   * `deadline`); if not, why, naming it. The question is a signal 0 to run 0, which no run
   * has (numbers start at 1): every keeper refuses it, and the refusal is its answer, in
   * order after every request sent before.
   */
  async answers(ms: number): Promise<string | undefined> {
    if (this.closed) return 'dm-keeper is gone (the manager is attaching to a new one)';
    let timer: { cancel(): void } | undefined;
    const silent = new Promise<string>((resolve) => {
      timer = deadline(ms, () =>
        resolve(keeperSilence(this.keeperPid, 'the running manager', ms / 1000)),
      );
    });
    const answered = this.signal(0, 0).then(() => undefined);
    try {
      return await Promise.race([answered, silent]);
    } finally {
      timer?.cancel();
    }
  }

  release(seq: number): void {
    this.send(['release', String(seq)]);
  }

  /**
   * `groupUid`: the run's uid, for a keeper to take on what is left of the run's process
   * group where its main process is gone and it has no cgroup (see `adoptsGroups`).
   */
  adopt(
    seq: number,
    id: string,
    pid: number,
    startTicks: number,
    cgroup: string,
    groupUid?: number,
  ): void {
    const fields = ['adopt', String(seq), id, String(pid), String(startTicks), cgroup];
    if (groupUid !== undefined && this.adoptsGroups) fields.push(String(groupUid));
    this.send(fields);
  }

  /** Hands a descriptor to the keeper for safekeeping (this process keeps its own). */
  store(name: string, fd: number): void {
    this.send(['store', name], [fd]);
  }

  drop(name: string): void {
    this.send(['drop', name]);
  }

  /**
   * The daemon's output pipe whose inode is `inode` was read to its end: the keeper lets
   * go of its read end, unless the name is another pipe's by now (a spawn asked for before
   * made a new one). A keeper from before version 2 (kept across an upgrade) drops by name.
   */
  dropPipe(id: string, inode: number): void {
    if (this.version === '1') this.send(['drop', `out:${id}`]);
    else this.send(['drop-pipe', `out:${id}`, String(inode)]);
  }

  /** The daemon is gone for good: its output pipe may end. */
  closePipe(id: string): void {
    this.send(['pipe-close', id]);
  }

  /** Tells the keeper to exit (every run released). */
  quit(): void {
    this.send(['quit']);
    this.closed = true;
    this.channel.close();
  }

  /** Closes this process's end only: the keeper goes on (an upgrade, a re-attach). */
  detach(): void {
    this.closed = true;
    this.channel.close();
  }

  get alive(): boolean {
    return !this.closed;
  }

  /**
   * Sends one request; false if the keeper is gone. A send that fails (the keeper stuck
   * for SO_SNDTIMEO, or its end closed) reconnects, and the request goes again on the new
   * connection, once: a SOCK_SEQPACKET message is sent whole or not at all, and the keeper
   * reads what the old connection holds before it takes the new one. Given up instead, a
   * quit was lost and the keeper stayed after a clean stop; a release, and it held that
   * run for good.
   */
  private send(fields: readonly string[], fds: readonly number[] = []): boolean {
    for (let attempt = 0; attempt < 2 && !this.closed; attempt++) {
      try {
        this.channel.send(fields, fds);
        return true;
      } catch {
        this.channel.close();
        this.disconnected();
      }
    }
    return false;
  }

  private receive(fields: string[] | null, fds: number[]): void {
    if (fields === null) {
      this.disconnected();
      return;
    }
    const event = parseEvent(fields, fds);
    if (event === undefined) {
      for (const fd of fds) this.native.closeFd(fd);
      return;
    }
    if (event.kind === 'signalled') {
      this.pendingSignals.shift()?.({ reached: event.reached, errno: event.errno });
      return;
    }
    // A run it does not know (released while the signal waited for its cgroup's freeze)
    // is refused, and the refusal is that signal's answer: uncounted, every later signal
    // took the answer of the one before, and the last never got one.
    if (event.kind === 'error' && event.verb === 'signal') {
      this.pendingSignals.shift()?.({ reached: 0, errno: 3 /* ESRCH */ });
      return;
    }
    if (this.handlers) this.handlers.event(event);
    else this.early.push(event);
  }

  /**
   * The connection ended (an error on either side: the keeper no longer drops a manager
   * slow to read, it keeps what waits). If the keeper still answers, reconnect and take its
   * whole state again as events; else it is gone. The hello is tried on a second connection
   * when it fails on the first (the keeper went, or ended that one, between the connect and
   * the send): thrown from here, it reached the caller of a request, or the keeper's event
   * callback, and the link was left on a connection that had said nothing.
   */
  private disconnected(): void {
    if (this.closed) return;
    for (const resolve of this.pendingSignals.splice(0))
      resolve({ reached: 0, errno: 3, lost: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      const again = tryConnect(this.native, this.socketPath);
      if ('error' in again) break;
      try {
        again.channel.send(HELLO);
      } catch {
        again.channel.close();
        continue;
      }
      this.channel = again.channel;
      again.events.listen = (fields, fds) => this.receive(fields, fds);
      return;
    }
    this.closed = true;
    this.handlers?.lost();
  }
}

function tryConnect(
  native: Native,
  socketPath: string,
): { channel: KeeperChannel; events: EventQueue } | { error: string } {
  const events: EventQueue = { listen: undefined, queue: [] };
  try {
    const channel = native.connectKeeper(socketPath, (fields, fds) => {
      if (events.listen) events.listen(fields, fds);
      else events.queue.push([fields, fds]);
    });
    return { channel, events };
  } catch (error) {
    return { error: (error as Error).message };
  }
}
