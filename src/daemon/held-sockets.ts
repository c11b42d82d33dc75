import { formatAddress, type ListenAddress, type ListenSpec } from '../config/listen.ts';
import { closeFd, releaseHeldSocket } from '../files/user-files.ts';
import type { KeeperLink } from '../keeper/link.ts';
import type { Logger } from '../logging/logger.ts';
import type { Owner } from './owner.ts';
import { type MadeFile, parseStoreName, socketKey, storeName } from './socket-names.ts';

/** Binds a TCP socket as root (native/sockets.c); throws an error with `code`. */
export type TcpBinder = (host: string, port: number, backlog: number) => number;

/** One socket held for a daemon. */
/** A socket held for a daemon: its address, and for a unix one the group it was made for. */
export interface HeldAddress {
  readonly address: ListenAddress;
  readonly gid: number | undefined;
}

interface Held {
  /** What the daemon's spec must still say for the socket to be kept. */
  readonly key: string;
  readonly address: ListenAddress;
  readonly fd: number;
  /** Its name in the keeper's store: `lsn:ID DEV:INO KEY` (`-` for TCP). */
  readonly name: string;
  /** The unix socket file made for it (device and inode), removed with it. */
  readonly made: MadeFile | undefined;
  /** The owner who made the file (undefined for one adopted from the keeper, until held again). */
  owner: Owner | undefined;
}

// The kernel caps it at net.core.somaxconn.
const BACKLOG = 4096;

/**
 * The listening sockets the manager holds for daemons (`listen=`): bound once, kept while
 * the daemon is wanted up, so a respawn, a restart, an upgrade or a crash of the manager
 * never leaves a moment with nothing listening (clients wait in the backlog instead of
 * being refused). The keeper holds a copy of each in its store (`lsn:`), so they outlive
 * the manager; the next one takes them back at its hello. Unix sockets are made as the
 * daemon's owner, so the kernel judges where they may be; TCP ones by root, after the
 * policy (policy/ports.ts) allowed them.
 */
/** The most listening sockets the daemons of one user may hold at once. */
export const MAX_SOCKETS_PER_USER = 64;

export class HeldSockets {
  private readonly held = new Map<string, Held[]>();
  /** Each daemon's binds and releases, one after the other. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Why a daemon's sockets could not be bound, and as which owner, until they are. */
  private readonly failures = new Map<
    string,
    { readonly error: string; readonly owner: Owner; readonly transient: boolean }
  >();
  private readonly link: () => KeeperLink;
  private readonly bindTcp: TcpBinder;
  private readonly log: Logger;

  constructor(link: () => KeeperLink, bindTcp: TcpBinder, log: Logger) {
    this.link = link;
    this.bindTcp = bindTcp;
    this.log = log;
  }

  /** Takes back a socket the keeper kept while no manager was there (a name of `lsn:`). */
  adopt(name: string, fd: number): void {
    const parsed = parseStoreName(name);
    const id = parsed?.id ?? '';
    if (parsed === undefined || this.held.get(id)?.some((held) => held.name === name)) {
      closeFd(fd);
      return;
    }
    this.held.set(id, [...(this.held.get(id) ?? []), { ...parsed, fd, name, owner: undefined }]);
  }

  /** The daemons that hold sockets. */
  ids(): string[] {
    return [...this.held.keys()];
  }

  /** What a daemon's held sockets are: each address, and for a unix one the gid it was made with. */
  addressesOf(id: string): HeldAddress[] {
    return (this.held.get(id) ?? []).map(({ address, key }) => {
      const gid = address.kind === 'unix' ? /(\d+)$/.exec(key)?.[1] : undefined;
      return { address, gid: gid === undefined ? undefined : Number(gid) };
    });
  }

  /** Whether a daemon holds any socket. */
  holds(id: string): boolean {
    return (this.held.get(id)?.length ?? 0) > 0;
  }

  /**
   * The keeper's names of the daemon's sockets, in the order of its `listen=` lines, if
   * every one is held as the spec says; else undefined, with why in `failure`.
   */
  namesFor(id: string, listen: ListenSpec, gid: number | undefined): string[] | undefined {
    const held = this.held.get(id) ?? [];
    const names: string[] = [];
    for (const address of listen.addresses) {
      const found = held.find((socket) => socket.key === socketKey(address, listen, gid));
      if (found === undefined) return undefined;
      names.push(found.name);
    }
    return names;
  }

  /** Forgets why the last bind failed: the next start binds again. */
  forgetFailure(id: string): void {
    this.failures.delete(id);
  }

  /**
   * Why the daemon's sockets could not be bound last time, if they could not as `owner`:
   * a bind by an owner since made anew (the user's groups changed) says nothing of now.
   */
  failure(id: string, owner: Owner): string | undefined {
    const failed = this.failures.get(id);
    return failed?.owner === owner ? failed.error : undefined;
  }

  /**
   * Whether the daemon's failed bind may well work later by itself: a port another
   * process holds, an address not configured yet, a directory not made yet.
   */
  failedForNow(id: string): boolean {
    return this.failures.get(id)?.transient === true;
  }

  /**
   * Binds what the daemon's `listen=` lines ask for and is not held yet, and lets go of
   * what they no longer ask for. Resolves to why a socket could not be bound, if one
   * could not (what could be bound is held), each reason after `where` the address's
   * line is (`FILE:LINE: `).
   */
  hold(
    owner: Owner,
    id: string,
    listen: ListenSpec,
    gid: number | undefined,
    where: (index: number) => string = () => '',
  ): Promise<string | undefined> {
    return this.queued(id, async () => {
      const wanted = listen.addresses.map((address) => socketKey(address, listen, gid));
      const held = this.held.get(id) ?? [];
      // One taken back from the keeper is the owner's too: its file goes with it (it was
      // left, with the running daemon listening, and refused the new bind: "exists already").
      for (const socket of held) socket.owner ??= owner;
      await this.letGo(held.filter((socket) => !wanted.includes(socket.key)));
      const kept = held.filter((socket) => wanted.includes(socket.key));
      const errors: string[] = [];
      let transient = true;
      // What one user holds is bounded: descriptors are the keeper's and the manager's, for
      // everyone (a review exhausted both with 16,000 sockets of one user).
      const user = owner.account.name;
      let others = 0;
      for (const [other, sockets] of this.held)
        if (other !== id && other.startsWith(`${user}/`)) others += sockets.length;
      for (const [index, address] of listen.addresses.entries()) {
        const key = socketKey(address, listen, gid);
        if (kept.some((socket) => socket.key === key)) continue;
        if (others + kept.length >= MAX_SOCKETS_PER_USER) {
          errors.push(
            `${where(index)}${user} holds ${MAX_SOCKETS_PER_USER} listening sockets already, the most one user may`,
          );
          continue;
        }
        const bound = await this.bind(owner, id, address, key, listen.mode, gid);
        if ('error' in bound) {
          errors.push(`${where(index)}${bound.error}`);
          transient &&= bound.transient;
        } else kept.push(bound);
      }
      this.setHeld(id, kept);
      const error = errors.length === 0 ? undefined : errors.join('; ');
      if (error === undefined) this.failures.delete(id);
      else this.failures.set(id, { error, owner, transient });
      return error;
    });
  }

  /**
   * Closes the daemon's sockets and removes the unix socket files it made (as `owner`
   * when the socket came back from the keeper and was not bound by this manager).
   */
  release(id: string, owner: Owner | undefined): Promise<void> {
    this.failures.delete(id);
    return this.queued(id, async () => {
      const held = this.held.get(id) ?? [];
      this.held.delete(id);
      for (const socket of held) socket.owner ??= owner;
      await this.letGo(held);
    });
  }

  /** Hands every socket to a new keeper (the one that held them died). */
  storeAll(link: KeeperLink): void {
    for (const sockets of this.held.values())
      for (const socket of sockets) link.store(socket.name, socket.fd);
  }

  /** Resolves once every bind and release under way is done. */
  async settled(): Promise<void> {
    await Promise.all(this.queues.values());
  }

  private async bind(
    owner: Owner,
    id: string,
    address: ListenAddress,
    key: string,
    mode: number,
    gid: number | undefined,
  ): Promise<Held | { error: string; transient: boolean }> {
    const what = `cannot listen on ${formatAddress(address)}`;
    let fd: number;
    let made: Held['made'];
    if (address.kind === 'tcp') {
      try {
        fd = this.bindTcp(address.host, address.port, BACKLOG);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        return {
          error: `${what}: ${code === 'EADDRINUSE' ? 'the port is in use' : (code ?? (error as Error).message)}`,
          transient: code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL',
        };
      }
    } else {
      let bound = await owner.files.bindUnix(address.path, BACKLOG, mode, gid);
      // A socket file left by a manager that could not remove it, with nothing listening.
      if (!bound.ok && bound.error.code === 'EADDRINUSE') {
        const removed = await owner.files.removeSocket(address.path);
        if (removed.ok) bound = await owner.files.bindUnix(address.path, BACKLOG, mode, gid);
      }
      // The message begins with the path.
      if (!bound.ok)
        return {
          error: `cannot listen on unix:${bound.error.message}`,
          transient: ['ENOENT', 'TIMEOUT', 'NOT_ANSWERING'].includes(bound.error.code),
        };
      fd = bound.value.fd;
      made = { dev: bound.value.stat.dev, ino: bound.value.stat.ino };
    }
    const name = storeName(id, made, key);
    this.link().store(name, fd);
    this.log.info(`${id}: holding a socket on ${formatAddress(address)}`);
    return { key, address, fd, name, made, owner };
  }

  private async letGo(sockets: readonly Held[]): Promise<void> {
    for (const socket of sockets) {
      this.link().drop(socket.name);
      releaseHeldSocket(socket.fd);
      if (socket.address.kind === 'unix' && socket.made && socket.owner) {
        const removed = await socket.owner.files.removeSocket(socket.address.path, socket.made);
        if (!removed.ok && removed.error.code !== 'ENOENT')
          this.log.warn(`socket ${socket.address.path} not removed: ${removed.error.message}`);
      }
    }
  }

  private setHeld(id: string, sockets: Held[]): void {
    if (sockets.length === 0) this.held.delete(id);
    else this.held.set(id, sockets);
  }

  private queued<T>(id: string, work: () => Promise<T>): Promise<T> {
    const next = (this.queues.get(id) ?? Promise.resolve()).then(work);
    const settled = next.catch(() => undefined);
    this.queues.set(id, settled);
    void settled.then(() => {
      if (this.queues.get(id) === settled) this.queues.delete(id);
    });
    return next;
  }
}
