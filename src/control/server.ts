import { chmodSync, chownSync, lstatSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../logging/logger.ts';
import { UserLines } from '../logging/user-lines.ts';
import {
  MAX_REQUEST_BYTES,
  parseRequest,
  type Request,
  type Response,
} from '../protocol/messages.ts';
import { printableJson } from '../protocol/printable.ts';
import { deadline, failOnSilence } from '../protocol/silence.ts';

/**
 * Handles one request of `caller` (whose socket it came on); `peerUid` is who the kernel
 * says connected (SO_PEERCRED), undefined if it could not tell.
 */
export type Handler = (
  caller: string,
  request: Request,
  peerUid: number | undefined,
) => Response | Promise<Response>;

/** What the kernel says of the other end of a connected unix socket (native/sockets.c). */
export interface Peers {
  /** The uid that connected (SO_PEERCRED). */
  uid(fd: number): number;
  /** Whether it has closed its end (POLLHUP). */
  gone(fd: number): boolean;
  /**
   * Makes a listening socket refuse descriptors its peers pass (SO_PASSRIGHTS off, Linux
   * 6.16 on); false where the kernel cannot. A TCP socket with SO_LINGER and unsent data,
   * passed with a request and so closed by the manager's thread, held it in the kernel for
   * the whole linger time, every user's dmctl unanswered (an outside review, 36b, F6).
   */
  refuseDescriptors(fd: number): boolean;
}

/** Who a socket is for: its owner alone (and root) can connect. */
export interface SocketOwner {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

// A client has this long to send its request, and again this long to read the answer
// (not counting the time the manager takes to handle it).
const CONNECTION_TIMEOUT_MS = 10_000;
// Connections the kernel queues on a socket while nobody accepts (an upgrade's execve).
const BACKLOG = 1024;
// Connections at once on one user's socket; more are refused, in a line (see refuse).
const MAX_CONNECTIONS_PER_SOCKET = 64;
// Refusals under way at once, every socket together; past them a connection is closed unanswered.
const MAX_REFUSALS = 64;
// How long a refused connection is kept for its request to come and be read (see refuse).
const REFUSAL_MS = 1_000;
/**
 * The most bytes of replies one user's clients may leave unread (not yet taken by the
 * kernel) at once: a reply past it is refused instead, in a line (one alone never is).
 */
export const MAX_UNREAD_REPLY_BYTES = 4 * 1024 * 1024;

/** Why a reply is refused past MAX_UNREAD_REPLY_BYTES. */
function unreadRefusal(caller: string, unread: number): string {
  return `refused: ${unread} bytes of earlier replies to ${caller} are not read yet (at most ${MAX_UNREAD_REPLY_BYTES} are held); read them, or close those connections`;
}

/**
 * One Unix socket per user, in a directory only root can write. The operating system is
 * the authentication: the socket is created while the manager's umask makes it 0600 (or
 * 0700) and root-owned, then handed to its user, so at no moment can another user
 * connect. Whoever connects to `alice.sock` is alice (or root).
 */
export class ControlServer {
  private readonly servers = new Map<
    string,
    { server: Server; path: string; uid: number; file: FileId | undefined }
  >();

  private readonly pathFor: (user: string) => string;
  private readonly handler: Handler;
  private readonly log: Logger;
  private readonly bind: (path: string, backlog: number) => number;
  private readonly peers: Peers;
  /** Told of each answer: the command (`invalid` when the request did not parse), and whether it was ok. */
  private readonly counted: (command: string, ok: boolean) => void;
  /** The kernel's lack of SO_PASSRIGHTS is said once. */
  private saidDescriptorsPass = false;
  /** Lines of a caller's doing, within their budget (see UserLines). */
  private readonly userLines: UserLines;

  /** `bind` makes a listening socket's descriptor (see native/sockets.c for why not Node's). */
  constructor(
    pathFor: (user: string) => string,
    handler: Handler,
    log: Logger,
    bind: (path: string, backlog: number) => number,
    peers: Peers,
    counted: (command: string, ok: boolean) => void = () => {},
    userLines: UserLines = new UserLines(log),
  ) {
    this.pathFor = pathFor;
    this.handler = handler;
    this.log = log;
    this.bind = bind;
    this.peers = peers;
    this.counted = counted;
    this.userLines = userLines;
  }

  /** The users that have a socket now. */
  users(): string[] {
    return [...this.servers.keys()];
  }

  /** The uid a user's socket was made for (undefined: it has none). */
  uidOf(user: string): number | undefined {
    return this.servers.get(user)?.uid;
  }

  /**
   * Creates the user's socket (replacing a stale file) and hands it to them; or, after an
   * upgrade or a restart, goes on listening on the descriptor the keeper kept, so that no
   * dmctl call is refused meanwhile (connections wait in the socket's backlog). Returns
   * the listening descriptor.
   */
  async open(owner: SocketOwner, inheritedFd?: number): Promise<number | undefined> {
    if (this.servers.has(owner.name)) return undefined;
    const path = this.pathFor(owner.name);
    const fd = inheritedFd ?? this.bind(path, BACKLOG);
    // One kept across an upgrade from a version before may not refuse them yet.
    if (!this.peers.refuseDescriptors(fd) && !this.saidDescriptorsPass) {
      this.saidDescriptorsPass = true;
      this.log.warn(
        'this kernel cannot make the control sockets refuse descriptors passed to them (SO_PASSRIGHTS, Linux 6.16 on): a user who passes a socket with a long SO_LINGER can hold the manager for that long',
      );
    }
    // A client may shut down its side once its request is sent (`nc -N`, socat): the
    // answer still goes back (Node's default ended the socket at that EOF, and the
    // answer of a stop, which comes later, was lost while the stop was done).
    let open = 0;
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      if (open >= MAX_CONNECTIONS_PER_SOCKET) return this.refuse(owner.name, socket);
      open++;
      socket.once('close', () => open--);
      this.serve(owner.name, socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.log.error(`control socket ${path}: ${error.message}`));
    if (inheritedFd === undefined) {
      if (process.geteuid?.() === 0) chownSync(path, owner.uid, owner.gid);
      chmodSync(path, 0o600);
    }
    this.servers.set(owner.name, { server, path, uid: owner.uid, file: fileIdOf(path) });
    this.log.debug(`control socket for ${owner.name}: ${path}`);
    return fd;
  }

  /**
   * Stops accepting (before an upgrade), leaving the socket files and the keeper's copies
   * of the sockets: connections made meanwhile wait for the next instance. Resolves once
   * the requests under way are answered, or after `ms`.
   */
  async quiesce(ms: number): Promise<void> {
    for (const { server } of this.servers.values()) {
      (server as unknown as { _handle?: { close(): void } | null })._handle?.close();
      (server as unknown as { _handle?: unknown })._handle = null;
    }
    const deadline = Date.now() + ms;
    while (this.inFlight > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 5));
  }

  /** The listening descriptors, by user, to hand to the next instance on upgrade. */
  listeningFds(): Record<string, number> {
    const fds: Record<string, number> = {};
    for (const [user, { server }] of this.servers) {
      const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (fd !== undefined && fd >= 0) fds[user] = fd;
    }
    return fds;
  }

  /** Removes a user's socket (they lost access). */
  close(user: string): void {
    const entry = this.servers.get(user);
    if (!entry) return;
    this.servers.delete(user);
    entry.server.close();
    // Only the file this socket is: another manager (the next one, after an upgrade) may
    // have made the user's socket there anew since, and it is theirs.
    const now = fileIdOf(entry.path);
    if (now !== undefined && now.dev === entry.file?.dev && now.ino === entry.file.ino)
      rmSync(entry.path, { force: true });
  }

  /** Forgets the sockets closed by `quiesce`, so that `open` makes them again. */
  forgetAll(): void {
    this.servers.clear();
  }

  closeAll(): void {
    for (const user of this.users()) this.close(user);
  }

  /** Who the kernel says is at the other end of a connection (SO_PEERCRED). */
  private peerOf(socket: Socket): number | undefined {
    const fd = descriptorOf(socket);
    try {
      return fd === undefined ? undefined : this.peers.uid(fd);
    } catch {
      return undefined;
    }
  }

  /** Whether the client has closed its end: it no longer waits for what it asked. */
  private gone(socket: Socket): boolean {
    const fd = descriptorOf(socket);
    try {
      return fd === undefined || this.peers.gone(fd);
    } catch {
      return true;
    }
  }

  /** Requests being handled (their answer not yet sent). */
  private inFlight = 0;
  /** Each user's answered connections not yet closed (see MAX_UNREAD_REPLY_BYTES). */
  private readonly replying = new Map<string, Set<Socket>>();
  /** The length of each user's last reply over 1 KiB (see serve). */
  private readonly lastReplyBytes = new Map<string, number>();

  /** The bytes of replies to `caller` its clients have not taken yet. */
  private unreadBytes(caller: string): number {
    let bytes = 0;
    for (const socket of this.replying.get(caller) ?? []) bytes += socket.writableLength;
    return bytes;
  }

  /**
   * A connection past its user's MAX_CONNECTIONS_PER_SOCKET, refused in a line that says
   * why. Closed at once (Node's maxConnections), it failed the user's own dmctl with EPIPE,
   * saying nothing of the cause (an outside review, 72b, F1). It is closed once its
   * request is read (a close with the request unread resets the connection, and the
   * client loses the line), once its client ends, or after REFUSAL_MS; refusals under way
   * are bounded too, every user's together, so that connections opened in a loop cannot
   * hold the manager's descriptors.
   */
  private refusals = 0;

  private refuse(caller: string, socket: Socket): void {
    if (this.refusals >= MAX_REFUSALS) {
      socket.destroy();
      return;
    }
    this.refusals++;
    let written = false;
    let read = false;
    const close = (): void => {
      if (written && read) socket.destroy();
    };
    const timer = setTimeout(() => socket.destroy(), REFUSAL_MS);
    socket.once('close', () => {
      this.refusals--;
      clearTimeout(timer);
    });
    socket.on('error', () => socket.destroy());
    const taken = (): void => {
      read = true;
      socket.removeAllListeners('data');
      socket.pause();
      close();
    };
    socket.once('data', taken);
    socket.once('end', taken);
    const error = `refused: ${caller} has ${MAX_CONNECTIONS_PER_SOCKET} connections to the manager open already, the most one user may (each is closed within ${CONNECTION_TIMEOUT_MS / 1000} s of its request and again of its answer); close some and ask again`;
    socket.end(`${printableJson({ ok: false, error })}\n`, () => {
      written = true;
      close();
    });
    this.counted('refused', false);
  }

  private serve(caller: string, socket: Socket): void {
    const peerUid = this.peerOf(socket);
    let buffered = '';
    let answered = false;
    socket.setEncoding('utf8');
    // No whole request in time: said in a line, then closed (closed alone, a client was
    // told nothing of why: an outside review, 74a, F2). Once flushed, the line stays for
    // the client to read whatever it sent meanwhile.
    const tooSlow = (): void => {
      if (answered) return;
      answered = true;
      requestBy.cancel();
      socket.removeAllListeners('data');
      socket.pause();
      const error = `no whole request within ${CONNECTION_TIMEOUT_MS / 1000} s of the connection (a request is one line of JSON, ended by a newline)`;
      socket.end(`${printableJson({ ok: false, error })}\n`, () => socket.destroy());
    };
    failOnSilence(socket, CONNECTION_TIMEOUT_MS, tooSlow);
    // The whole request within the time too, not only each byte: a client sending a byte
    // every 2 s held its connection for good, 64 of them the user's whole socket (an
    // outside review, 72b, F1: 64 of 64 still open at 60 s).
    const requestBy = deadline(CONNECTION_TIMEOUT_MS, tooSlow);
    socket.once('close', () => requestBy.cancel());
    socket.on('error', () => socket.destroy());
    // Its side closed before a whole request came: nothing will come, nothing is owed.
    socket.on('end', () => {
      if (!answered) socket.destroy();
    });
    // What comes after the request (or after a refusal) is read up to MAX_REQUEST_BYTES,
    // then no more: the connection is left unread until its deadline. Read and dropped, a
    // client sending on after its request had the manager read 3 GB in 10 s, 7-9 s of CPU
    // in every 10 with 16 of them, other users' answers slowed (an outside review, 51b, F2).
    let after = 0;
    const readNoMore = (): void => {
      socket.removeAllListeners('data');
      socket.on('data', (chunk: string) => {
        after += chunk.length;
        if (after <= MAX_REQUEST_BYTES) return;
        socket.removeAllListeners('data');
        socket.pause();
      });
    };
    const answer = (response: Response, command = 'invalid'): void => {
      answered = true;
      this.counted(command, response.ok);
      if (socket.listenerCount('data') > 0) readNoMore();
      socket.setTimeout(0);
      let text = `${printableJson(response)}\n`;
      // Replies a user's clients leave unread are held by the manager until their deadline:
      // 64 connections asking a status of 1,000 rows each and never reading took 100 MB of
      // the manager's memory per user every 10 s, and slowed everyone's answers (an outside
      // review, 72b, F4). Past the bound, a reply is refused in a line instead.
      const unread = this.unreadBytes(caller);
      if (text.length > 1024) this.lastReplyBytes.set(caller, text.length);
      // One reply alone is never refused (root's status of every daemon may be larger).
      if (unread > 0 && unread + text.length > MAX_UNREAD_REPLY_BYTES && text.length > 1024) {
        text = `${printableJson({ ok: false, error: unreadRefusal(caller, unread) })}\n`;
        this.userLines.info(
          caller,
          `control: a reply to ${caller} refused: ${unread} bytes of earlier replies not read yet`,
        );
      }
      socket.end(text);
      const replying = this.replying.get(caller) ?? new Set<Socket>();
      replying.add(socket);
      this.replying.set(caller, replying);
      socket.once('close', () => {
        replying.delete(socket);
        if (replying.size === 0 && this.replying.get(caller) === replying)
          this.replying.delete(caller);
      });
      this.log.debug(`control: answered ${caller}'s ${command}`);
      // A client that does not read (or reads a byte now and then) must not make the
      // manager hold its reply: whatever it has not taken by the deadline is dropped,
      // judged after the loop's next poll (see failOnSilence), which writes what a client
      // read in time while the manager stalled.
      const deadline = setTimeout(() => {
        setImmediate(() => {
          if (socket.writableLength > 0)
            this.userLines.info(
              caller,
              `control: reply to ${caller} cut off, ${socket.writableLength} bytes not read in ${CONNECTION_TIMEOUT_MS / 1000}s`,
            );
          socket.destroy();
        });
      }, CONNECTION_TIMEOUT_MS);
      deadline.unref();
      socket.once('close', () => clearTimeout(deadline));
    };
    socket.on('data', (chunk: string) => {
      if (answered) return;
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      const line = newline === -1 ? buffered : buffered.slice(0, newline);
      // Checked whether or not the newline came: one read can bring a whole long line.
      if (Buffer.byteLength(line) > MAX_REQUEST_BYTES)
        return answer({ ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` });
      if (newline === -1) return;
      const request = parseRequest(line);
      if ('error' in request) return answer({ ok: false, error: request.error });
      answered = true;
      readNoMore();
      // The request is in: from now on the manager is the one working (a rescan of 1,000
      // configs, a start waiting for its exec), so a quiet connection is not the client's
      // doing; the reply's own deadline starts once it is sent.
      socket.setTimeout(0);
      this.inFlight++;
      this.enqueue(caller, () => {
        // A client that gave up (dmctl's 30 s ran out while the manager was down and its
        // keeper held the socket, or while this request waited its turn) has said the
        // request failed: carrying it out now, unseen, would contradict that.
        if (this.gone(socket)) {
          this.inFlight--;
          this.userLines.info(
            caller,
            `control: ${caller}'s ${request.command} not carried out: the client closed its connection before the manager got to it`,
          );
          socket.destroy();
          return;
        }
        const failed = (error: unknown): Response => {
          this.log.error(
            `handling ${request.command} for ${caller}: ${(error as Error).stack ?? error}`,
          );
          return { ok: false, error: 'internal error in daemon-manager (see its log)' };
        };
        let response: Response | Promise<Response>;
        // Past the bound of its user's unread replies, a request is refused before it is
        // carried out: built and thrown away, a refused status cost as much as a whole one
        // (an outside review, 73a: 23.9 ms against 22.2 ms).
        // The size of the user's last whole reply stands for this one's.
        const unread = this.unreadBytes(caller);
        if (unread > 0 && unread + (this.lastReplyBytes.get(caller) ?? 0) > MAX_UNREAD_REPLY_BYTES)
          response = { ok: false, error: unreadRefusal(caller, unread) };
        else
          try {
            response = this.handler(caller, request, peerUid);
          } catch (error) {
            response = failed(error);
          }
        Promise.resolve(response)
          .catch(failed)
          .then((final) => {
            this.inFlight--;
            answer(final, request.command);
          });
      });
    });
  }

  /** Requests read and not yet handled, by the user whose socket they came on. */
  private readonly waiting = new Map<string, (() => void)[]>();
  /**
   * The turn that last served each user, kept when their queue empties: a flooder whose
   * queue ran dry for a moment (its next requests not read yet, on a loaded machine) came
   * back as never served, and went before a user who came at the same time.
   */
  private readonly lastServed = new Map<string, number>();
  private dispatching = false;
  private turns = 0;

  /**
   * Handles requests in turns: each turn takes one request of every user who has one
   * waiting, then lets the manager read what came in meanwhile. Handled as they came in,
   * 64 status requests of one user at once (each a second's work with large rows) made
   * every other user's wait behind all of them (an outside review: alice's status 1.3 s
   * to 2.3 s); now it waits for at most one of theirs.
   */
  private enqueue(caller: string, work: () => void): void {
    const queue = this.waiting.get(caller);
    if (queue === undefined) this.waiting.set(caller, [work]);
    else queue.push(work);
    if (this.dispatching) return;
    this.dispatching = true;
    setImmediate(() => this.dispatch());
  }

  /**
   * One turn. Whoever was served least recently goes first: a user who just came waits
   * for the flooder's request under way when theirs came, not also for the flooder's
   * next (a flood's big status is 30-40 ms of the manager's time each).
   */
  private dispatch(): void {
    const turn = ++this.turns;
    const served = (caller: string): number => this.lastServed.get(caller) ?? 0;
    const order = [...this.waiting].sort(([a], [b]) => served(a) - served(b));
    if (order.length > 1)
      this.log.debug(`control: turn ${turn}: ${order.map(([caller]) => caller).join(', ')}`);
    for (const [caller, queue] of order) {
      const work = queue.shift();
      this.lastServed.set(caller, turn);
      if (queue.length === 0) this.waiting.delete(caller);
      work?.();
    }
    if (this.waiting.size > 0) setImmediate(() => this.dispatch());
    else this.dispatching = false;
  }
}

function descriptorOf(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  return fd !== undefined && fd >= 0 ? fd : undefined;
}

/** A file's identity (device and inode). */
interface FileId {
  readonly dev: number;
  readonly ino: number;
}

function fileIdOf(path: string): FileId | undefined {
  try {
    const { dev, ino } = lstatSync(path);
    return { dev, ino };
  } catch {
    return undefined;
  }
}
