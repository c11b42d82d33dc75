import { formatAddress } from '../config/listen.ts';
import type { KeeperLink } from '../keeper/link.ts';
import type { Logger } from '../logging/logger.ts';
import { tcpRefusal } from '../policy/ports.ts';
import type { LaunchPlan } from '../process/launch.ts';
import type { DaemonRecord } from '../supervisor/state.ts';
import { type HeldAddress, HeldSockets, type TcpBinder } from './held-sockets.ts';
import { type ListenRights, listenRefusals } from './judge.ts';
import type { Owner } from './owner.ts';
import type { LoadedConfig } from './scan.ts';

/** The sockets of one run, or why it cannot start (`retry`: they are still being bound). */
export type RunSockets =
  | LaunchPlan['sockets']
  | { readonly error: string; readonly retry: boolean; readonly soon?: true };

/** How often a bind that fails for now is tried again while its daemon waits for it. */
const BIND_RETRY_MS = 1_000;

/**
 * The manager's side of `listen=`: when a daemon's sockets are bound (before a start),
 * kept (while it is wanted up and root allows them) and let go, and how a run gets them.
 * The mechanism (binding, the keeper's store, removing files) is HeldSockets'.
 */
export class DaemonSockets {
  private readonly held: HeldSockets;
  private readonly rights: (user: string) => ListenRights;
  private readonly log: Logger;
  /** Each daemon's config file and the lines of its listen= addresses, as last loaded. */
  private readonly places = new Map<string, { file: string; lines: readonly number[] }>();
  /** Daemons whose failed bind is tried again at their next start (see `bindAfterStop`). */
  private readonly rebind = new Set<string>();
  /**
   * What was last said of a daemon's bind tried again at each start (see bindAfterStop,
   * and a failure for now: a port in use): said once. A port held by a survivor SIGKILL
   * could not end (a hung file system) was said at every try, 20 times a second for as
   * long as it lingered (an outside review, 20b).
   */
  private readonly rebindSaid = new Map<string, string>();
  /**
   * The sockets each daemon's run was given (at its start, or as held at a takeover): the
   * manager lets go of its copy of those its file no longer asks for while the run goes
   * on with them, and what root takes back is judged on these (an outside review, 22a: a
   * port taken back stayed listened on after the owner took its `listen=` out of the file).
   */
  private readonly runHolds = new Map<string, HeldAddress[]>();

  /**
   * Daemons whose start failed for a bind that fails for now, tried again in the
   * background each BIND_RETRY_MS while they wait (with what to try it as).
   */
  private readonly retrying = new Map<string, { owner: Owner; record: DaemonRecord }>();
  /** The next try of each (one at a time, however many starts failed meanwhile). */
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  /** Called when such a bind succeeds (see `retrying`). */
  private readonly boundAgain: (id: string) => void;
  /** Whether a daemon still waits for its sockets to start (cooling down, wanted up). */
  private readonly stillWaiting: (id: string) => boolean;

  constructor(parts: {
    link: () => KeeperLink;
    bindTcp: TcpBinder;
    log: Logger;
    /** What root lets a user's listen= lines have, under the current master config. */
    rights: (user: string) => ListenRights;
    /**
     * A daemon whose start failed for a bind that fails for now (a port in use) has its
     * sockets now: it need not wait for the rest of its back-off step (an outside review,
     * 26b, F3: bound 2 ms after the refused start, started 8-32 s later).
     */
    boundAgain?: (id: string) => void;
    stillWaiting?: (id: string) => boolean;
  }) {
    this.held = new HeldSockets(parts.link, parts.bindTcp, parts.log);
    this.rights = parts.rights;
    this.log = parts.log;
    this.boundAgain = parts.boundAgain ?? (() => {});
    this.stillWaiting = parts.stillWaiting ?? (() => false);
  }

  /** Takes back a socket the keeper kept (`lsn:` in its store). */
  adopt(name: string, fd: number): void {
    this.held.adopt(name, fd);
  }

  /** Hands every socket to a new keeper. */
  storeAll(link: KeeperLink): void {
    this.held.storeAll(link);
  }

  /** Resolves once every bind and release under way is done. */
  settled(): Promise<void> {
    return this.held.settled();
  }

  /** Closes a daemon's sockets and removes the unix socket files made for it. */
  release(id: string, owner: Owner | undefined): Promise<void> {
    this.places.delete(id);
    this.retrying.delete(id);
    clearTimeout(this.retryTimers.get(id));
    this.retryTimers.delete(id);
    this.runHolds.delete(id);
    this.rebind.delete(id);
    this.rebindSaid.delete(id);
    return this.held.release(id, owner);
  }

  /** Whether root refuses what a loaded config's listen= lines ask for. */
  refused(user: string, loaded: LoadedConfig): boolean {
    return listenRefusals(loaded, user, this.rights(user)).length > 0;
  }

  /** Whether the daemon has sockets, or a run that may be using them. */
  inUse(record: DaemonRecord): boolean {
    return this.held.holds(record.id) || record.state.kind !== 'stopped';
  }

  /** After any change of a daemon: one stopped and wanted down lets its sockets go. */
  noteChange(record: DaemonRecord, owner: Owner | undefined): void {
    if (record.wanted !== 'down' || record.state.kind !== 'stopped') return;
    // Its survivor is gone and it is not started again: a failed bind refuses it again.
    this.rebind.delete(record.id);
    if (this.held.holds(record.id)) void this.held.release(record.id, owner);
  }

  /**
   * Lets go of sockets the keeper kept for daemons that are gone (their file deleted
   * while no manager ran) or no longer wanted up.
   */
  releaseUnwanted(
    daemons: ReadonlyMap<string, DaemonRecord>,
    ownerOf: (user: string) => Owner | undefined,
  ): void {
    for (const id of this.held.ids()) {
      const record = daemons.get(id);
      if (record !== undefined && (record.wanted === 'up' || record.state.kind !== 'stopped'))
        continue;
      this.log.info(`${id}: its sockets are not wanted any more; closing them`);
      void this.held.release(id, ownerOf(id.slice(0, id.indexOf('/'))));
    }
  }

  /**
   * Closes the sockets the keeper kept for daemons of an account deleted and made again
   * under its name: they are not the new account's. Their files are left (they are the
   * old account's, not to be removed as the new one).
   */
  releaseFormer(former: (id: string) => boolean): void {
    for (const id of this.held.ids()) {
      if (!former(id)) continue;
      this.log.info(
        `${id}: its sockets were held for the account of that name before; closing them`,
      );
      void this.held.release(id, undefined);
    }
  }

  /**
   * Binds (as its owner, or as root for TCP) the sockets a daemon's `listen=` lines ask
   * for and it does not hold yet, before it starts; what it no longer asks for is closed.
   */
  async hold(owner: Owner, record: DaemonRecord, loaded?: LoadedConfig): Promise<void> {
    if (loaded !== undefined)
      this.places.set(record.id, { file: loaded.file, lines: loaded.listenLines?.addresses ?? [] });
    const { listen } = record.spec;
    if (listen.addresses.length === 0 || this.refused(record.owner, loadedOf(record, ''))) {
      this.rebind.delete(record.id);
      if (this.held.holds(record.id)) await this.held.release(record.id, owner);
      return;
    }
    const place = this.places.get(record.id);
    // A bind that fails names the file and line that asked for it.
    const where = (index: number): string => {
      const line = place?.lines[index];
      return place === undefined ? '' : `${place.file}${line === undefined ? '' : `:${line}`}: `;
    };
    const error = await this.held.hold(owner, record.id, listen, this.gidOf(record), where);
    if (error === undefined) {
      this.rebind.delete(record.id);
      this.rebindSaid.delete(record.id);
      if (this.retrying.delete(record.id)) this.boundAgain(record.id);
    } else if (
      this.retrying.has(record.id) &&
      this.held.failedForNow(record.id) &&
      !this.retryTimers.has(record.id)
    ) {
      // Tried again each second while it waits: tried only at the next start, a port
      // freed during a back-off step was bound at its end, up to 16 s later, the start
      // said refused for a port free for seconds (an outside review, 27b, F1).
      this.retryLater(record.id);
    } else if (this.rebindSaid.get(record.id) === error) {
      // Said once while it fails the same way (tried again at each start).
    } else if (this.rebind.has(record.id)) {
      this.rebindSaid.set(record.id, error);
      this.log.info(
        `${record.id}: ${error}; bound again once its run has stopped (tried at each start, said once)`,
      );
    } else if (this.held.failedForNow(record.id)) {
      this.rebindSaid.set(record.id, error);
      this.log.warn(`${record.id}: ${error}; tried again at each start (said once)`);
    } else this.log.warn(`${record.id}: ${error}`);
  }

  /**
   * A daemon taken over cooling down whose sockets are not bound (its last start failed
   * for a port another process holds): its bind is tried again each second, and it starts
   * once bound, as with the manager that saw the failure. Lost at a takeover, it waited
   * out its back-off step, up to `cooldown-max`, and said the port in use again (an
   * outside review, 32b, F2). One whose sockets are held cools down as it is.
   */
  retryWhileCooling(owner: Owner, record: DaemonRecord): void {
    const { listen } = record.spec;
    if (listen.addresses.length === 0 || this.retrying.has(record.id)) return;
    const bound = this.held.namesFor(record.id, listen, this.gidOf(record)) !== undefined;
    // Bound already, the port freed while no manager ran (or in an upgrade's hand-over):
    // started at the next try if its back-off was for the bind (an outside review, 33a,
    // F2: it waited out the rest of a 32 s step).
    if (bound && !(record.lastExit?.error ?? '').includes('cannot listen on ')) return;
    this.retrying.set(record.id, { owner, record });
    if (bound) {
      this.retryLater(record.id);
      return;
    }
    this.held.forgetFailure(record.id);
    void this.hold(owner, record);
  }

  /** The bind of a daemon that waits for it (see `retrying`) is tried again in a second. */
  private retryLater(id: string): void {
    if (this.retryTimers.has(id)) return;
    const retry = setTimeout(() => {
      this.retryTimers.delete(id);
      const waiting = this.retrying.get(id);
      if (waiting === undefined) return;
      if (!this.stillWaiting(id)) {
        this.retrying.delete(id);
        return;
      }
      this.held.forgetFailure(id);
      void this.hold(waiting.owner, waiting.record);
    }, BIND_RETRY_MS);
    retry.unref();
    this.retryTimers.set(id, retry);
  }

  /**
   * The sockets of a run, as the keeper names them, or why it cannot start: root refuses
   * them, they could not be bound, or they are still being bound (then tried again soon).
   */
  forRun(owner: Owner, record: DaemonRecord, file: string): RunSockets {
    const { listen } = record.spec;
    this.runHolds.delete(record.id);
    if (listen.addresses.length === 0) return undefined;
    const rights = this.rights(record.owner);
    const refusal = listenRefusals(loadedOf(record, file), record.owner, rights)[0];
    if (refusal !== undefined) return { error: refusal.message, retry: false };
    const names = this.held.namesFor(record.id, listen, this.gidOf(record));
    if (names !== undefined) {
      this.runHolds.set(record.id, this.held.addressesOf(record.id));
      return { names, passing: listen.passing };
    }
    // A bind that failed as the user's old rights (a group given while the start was on
    // its way) is tried again as the new ones: a full run saw one refused for good.
    const failure = this.held.failure(record.id, owner);
    if (failure !== undefined && !this.rebind.has(record.id) && !this.held.failedForNow(record.id))
      return { error: failure, retry: false };
    if (failure !== undefined && !this.rebind.has(record.id)) {
      // Tried again with the daemon's back-off: a port another process holds for now, a
      // directory made later. Refused for good, an autostart daemon was left down, wanted
      // down, though the port was free seconds later (an outside review, 22c, 4).
      this.held.forgetFailure(record.id);
      this.retrying.set(record.id, { owner, record });
      void this.hold(owner, record);
      return { error: failure, retry: true };
    }
    // Replacing a run: a bind that failed is tried again at each start until one
    // binds. What the survivor held may outlive its stop a moment (a unix socket file
    // then still has a listener), and one more failure was taken for a refusal: the
    // daemon was left down for good (an outside review, 4 of 4).
    if (failure !== undefined) this.held.forgetFailure(record.id);
    void this.hold(owner, record);
    return { error: failure ?? 'its sockets are being opened', retry: true, soon: true };
  }

  /**
   * The daemon's run is being stopped before it starts again (a survivor of a manager
   * that is gone, or a restart for a changed config): its sockets may have failed to bind
   * because that run still held them (the same port on another address, the same socket
   * file), so they are bound again at that start (outside reviews: a `listen=` daemon was
   * left stopped for good, "the port is in use", 9 of 9 and 3 of 3 times).
   */
  bindAfterStop(id: string): void {
    this.rebind.add(id);
  }

  /**
   * Why the sockets a daemon holds now are not allowed to its owner any more, if one is
   * not: judged by what they are (address, group), not by what the config file says.
   */
  heldRefusal(record: DaemonRecord, isMember: (gid: number) => boolean): string | undefined {
    // What the run taken over holds, as the keeper kept it: judged from now on.
    this.runHolds.set(record.id, this.held.addressesOf(record.id));
    return this.refusalOf(record, this.held.addressesOf(record.id), isMember);
  }

  /**
   * Why the sockets a daemon's run was given are not allowed to its owner any more, if one
   * is not (see runHolds): its file may no longer ask for them.
   */
  runRefusal(record: DaemonRecord, isMember: (gid: number) => boolean): string | undefined {
    return this.refusalOf(record, this.runHolds.get(record.id) ?? [], isMember);
  }

  private refusalOf(
    record: DaemonRecord,
    addresses: readonly HeldAddress[],
    isMember: (gid: number) => boolean,
  ): string | undefined {
    const rights = this.rights(record.owner);
    for (const { address, gid } of addresses) {
      if (address.kind === 'tcp') {
        const refusal = tcpRefusal(record.owner, address, rights.ports);
        if (refusal !== undefined) return `its socket ${formatAddress(address)}: ${refusal}`;
      } else if (
        gid !== undefined &&
        !isMember(gid) &&
        this.groupAgainOf(record, gid) === undefined
      )
        return `its socket ${formatAddress(address)} has group ${gid}, which ${record.owner} is no longer a member of`;
    }
    return undefined;
  }

  /**
   * A unix socket the daemon holds made for the group its `listen_group=` named then, a
   * group the owner is no longer in, while the group of that name now (another gid) is
   * one the owner may use: the group was deleted and made again under its name. No
   * refusal, but a run to start again with its socket made anew (see groupAgainOf).
   */
  groupAgain(
    record: DaemonRecord,
    isMember: (gid: number) => boolean,
  ): { readonly group: string; readonly was: number; readonly now: number } | undefined {
    for (const { gid } of this.held.addressesOf(record.id)) {
      if (gid === undefined || isMember(gid)) continue;
      const again = this.groupAgainOf(record, gid);
      if (again !== undefined) return again;
    }
    return undefined;
  }

  private groupAgainOf(record: DaemonRecord, was: number) {
    const group = record.spec.listen.group;
    const now = this.gidOf(record);
    return group === undefined || now === undefined || now === was
      ? undefined
      : { group, was, now };
  }

  /** The gid `listen_group=` names, if the owner may use it. */
  private gidOf(record: DaemonRecord): number | undefined {
    const group = record.spec.listen.group;
    if (group === undefined) return undefined;
    const gid = this.rights(record.owner).groupOf(group);
    return typeof gid === 'number' ? gid : undefined;
  }
}

/**
 * systemd's variables for sockets passed as fds 3 onwards (sd_listen_fds(3)); LISTEN_PID
 * is set by the keeper's child, which knows the pid the program will have.
 */
export function listenEnvironment(
  record: DaemonRecord,
  sockets: LaunchPlan['sockets'],
): Record<string, string> {
  if (sockets === undefined || sockets.passing !== 'systemd') return {};
  return {
    LISTEN_FDS: String(sockets.names.length),
    LISTEN_FDNAMES: sockets.names.map(() => record.spec.name).join(':'),
  };
}

/** A daemon's current spec as a loaded config, for judging its listen= lines again. */
function loadedOf(record: DaemonRecord, file: string): LoadedConfig {
  return { name: record.spec.name, file, spec: record.spec, problems: [], runAsLine: undefined };
}
