import { chmodSync, chownSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../logging/logger.ts';
import {
  MAX_REQUEST_BYTES,
  parseRequest,
  type Request,
  type Response,
} from '../protocol/messages.ts';
import { printableJson } from '../protocol/printable.ts';

/** Answers one authenticated request; `caller` is the user the socket belongs to. */
export type Handler = (caller: string, request: Request) => Response;

/** Who a socket is for: its owner alone (and root) can connect. */
export interface SocketOwner {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

// A client has this long to send its request, and again this long to read the answer.
const CONNECTION_TIMEOUT_MS = 10_000;
// Connections at once on one user's socket; more are refused by the kernel's backlog or closed.
const MAX_CONNECTIONS_PER_SOCKET = 64;

/**
 * One Unix socket per user, in a directory only root can write. The operating system is
 * the authentication: the socket is created while the manager's umask makes it 0600 (or
 * 0700) and root-owned, then handed to its user, so at no moment can another user
 * connect. Whoever connects to `alice.sock` is alice (or root).
 */
export class ControlServer {
  private readonly servers = new Map<string, { server: Server; path: string }>();

  private readonly pathFor: (user: string) => string;
  private readonly handler: Handler;
  private readonly log: Logger;

  constructor(pathFor: (user: string) => string, handler: Handler, log: Logger) {
    this.pathFor = pathFor;
    this.handler = handler;
    this.log = log;
  }

  /** The users that have a socket now. */
  users(): string[] {
    return [...this.servers.keys()];
  }

  /**
   * Creates the user's socket (replacing a stale file) and hands it to them; or, after an
   * upgrade, goes on listening on the descriptor the previous instance handed over, so
   * that no dmctl call is refused during the upgrade.
   */
  async open(owner: SocketOwner, inheritedFd?: number): Promise<void> {
    if (this.servers.has(owner.name)) return;
    const path = this.pathFor(owner.name);
    if (inheritedFd === undefined) rmSync(path, { force: true });
    const server = createServer((socket) => this.serve(owner.name, socket));
    server.maxConnections = MAX_CONNECTIONS_PER_SOCKET;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(inheritedFd === undefined ? path : { fd: inheritedFd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.log.error(`control socket ${path}: ${error.message}`));
    if (inheritedFd === undefined) {
      if (process.geteuid?.() === 0) chownSync(path, owner.uid, owner.gid);
      chmodSync(path, 0o600);
    }
    this.servers.set(owner.name, { server, path });
    this.log.debug(`control socket for ${owner.name}: ${path}`);
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
    rmSync(entry.path, { force: true });
  }

  closeAll(): void {
    for (const user of this.users()) this.close(user);
  }

  private serve(caller: string, socket: Socket): void {
    let buffered = '';
    let answered = false;
    socket.setEncoding('utf8');
    socket.setTimeout(CONNECTION_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    const answer = (response: Response): void => {
      answered = true;
      socket.removeAllListeners('data');
      socket.setTimeout(0);
      socket.end(`${printableJson(response)}\n`);
      // A client that does not read (or reads a byte now and then) must not make the
      // manager hold its reply: whatever it has not taken by the deadline is dropped.
      const deadline = setTimeout(() => {
        if (socket.writableLength > 0)
          this.log.info(
            `control: reply to ${caller} cut off, ${socket.writableLength} bytes not read in ${CONNECTION_TIMEOUT_MS / 1000}s`,
          );
        socket.destroy();
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
      try {
        answer(this.handler(caller, request));
      } catch (error) {
        this.log.error(
          `handling ${request.command} for ${caller}: ${(error as Error).stack ?? error}`,
        );
        answer({ ok: false, error: 'internal error in daemon-manager (see its log)' });
      }
    });
  }
}
