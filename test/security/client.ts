/**
 * A hostile control client, run by the security tests as an ordinary user. It speaks to
 * a control socket the way dmctl never would, and prints what happened as one JSON line
 * (or, for the modes that hold connections, `holding ...` once they are all set up).
 *
 *   connect SOCKET            try to connect; say whether it worked
 *   send SOCKET BASE64        send these bytes, print the reply
 *   flood SOCKET BYTES        send BYTES bytes without a newline, print the reply
 *   hang SOCKET               send half a request and keep the connection open
 *   many SOCKET N             open N connections at once and keep them open
 *   bail SOCKET               send a request and disconnect before reading the reply
 *   race SOCKET               try to connect over and over until killed; print successes
 *   noread SOCKET BASE64 [N]  send these bytes on N connections (1) and read nothing until
 *                             SIGUSR1; then read to the end and print how many bytes came
 *   spam SOCKET N BASE64      send these bytes on N connections, one after the other; print
 *                             how many were answered, how many refused, and the last refusal
 *   on-signal SOCKET BASE64   print `ready`; on SIGUSR1 connect, send these bytes and print
 *                             the reply (a request sent at a moment the test chooses)
 */
import { connect, type Socket } from 'node:net';

const [mode, path = '', argument = ''] = process.argv.slice(2);

function print(value: unknown): void {
  process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
}

/** Connects; resolves with the socket or the error code. */
function open(): Promise<Socket | string> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => resolve(socket));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** Writes `data` (following backpressure) and collects the reply until the manager closes. */
function exchange(socket: Socket, data: Buffer): Promise<{ reply: string; written: number }> {
  return new Promise((resolve) => {
    let reply = '';
    let written = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      resolve({ reply, written });
    };
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
    });
    socket.on('error', finish);
    socket.on('close', finish);
    const chunk = 64 * 1024;
    const pump = (): void => {
      while (written < data.length && !socket.destroyed) {
        const slice = data.subarray(written, written + chunk);
        written += slice.length;
        if (!socket.write(slice)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

async function main(): Promise<void> {
  switch (mode) {
    case 'connect': {
      const socket = await open();
      if (typeof socket === 'string') return print({ connected: false, code: socket });
      socket.destroy();
      return print({ connected: true });
    }
    case 'send':
    case 'flood': {
      const socket = await open();
      if (typeof socket === 'string') return print({ connected: false, code: socket });
      const data =
        mode === 'send' ? Buffer.from(argument, 'base64') : Buffer.alloc(Number(argument), 'x');
      const { reply, written } = await exchange(socket, data);
      return print({ connected: true, reply, written });
    }
    case 'hang': {
      const socket = await open();
      if (typeof socket === 'string') return print({ connected: false, code: socket });
      socket.write('{"command":"sta');
      // What the manager says as it hangs up (why) is read: unread, its end is never seen.
      socket.on('data', () => {});
      socket.on('close', () => print('closed by the manager'));
      socket.on('error', () => {});
      return print('holding 1');
    }
    case 'many': {
      const sockets = await Promise.all(Array.from({ length: Number(argument) }, open));
      const open_ = sockets.filter((socket): socket is Socket => typeof socket !== 'string');
      let closed = 0;
      for (const socket of open_) {
        socket.on('error', () => {});
        socket.on('close', () => closed++);
        socket.write('{"command":"sta');
      }
      print(`holding ${open_.length} of ${sockets.length}`);
      setInterval(() => {}, 1000);
      process.on('SIGTERM', () => {
        print({ connected: open_.length, closedByManager: closed });
        process.exit(0);
      });
      return;
    }
    case 'bail': {
      const socket = await open();
      if (typeof socket === 'string') return print({ connected: false, code: socket });
      socket.write('{"command":"status"}\n');
      socket.destroy();
      return print({ connected: true, bailed: true });
    }
    case 'race': {
      let successes = 0;
      let attempts = 0;
      process.on('SIGTERM', () => {
        print({ attempts, successes });
        process.exit(0);
      });
      print('racing');
      for (;;) {
        const socket = await open();
        attempts++;
        if (typeof socket !== 'string') {
          successes++;
          socket.destroy();
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    case 'noread': {
      const count = Number(process.argv[5] ?? '1');
      const sockets = (await Promise.all(Array.from({ length: count }, open))).filter(
        (socket): socket is Socket => typeof socket !== 'string',
      );
      for (const socket of sockets) {
        socket.pause();
        socket.on('error', () => {});
        socket.write(Buffer.from(argument, 'base64'));
      }
      print(`holding ${sockets.length}`);
      // Paused sockets keep no event loop alive: this does, until the replies are read.
      const alive = setInterval(() => {}, 1000);
      process.once('SIGUSR1', () => {
        clearInterval(alive);
        let received = 0;
        let closed = 0;
        for (const socket of sockets) {
          socket.on('data', (chunk: Buffer) => {
            received += chunk.length;
          });
          socket.on('close', () => {
            if (++closed === sockets.length) print({ received });
          });
          socket.resume();
        }
      });
      return;
    }
    case 'on-signal': {
      // Connected only then: the manager closes a connection that sends nothing for 10 s.
      const alive = setInterval(() => {}, 1000);
      process.once('SIGUSR1', async () => {
        clearInterval(alive);
        const socket = await open();
        if (typeof socket === 'string') return print({ error: socket });
        print(await exchange(socket, Buffer.from(argument, 'base64')));
      });
      return print('ready');
    }
    case 'spam': {
      const data = Buffer.from(process.argv[5] ?? '', 'base64');
      let answered = 0;
      let refused = 0;
      let refusal = '';
      for (let index = 0; index < Number(argument); index++) {
        const socket = await open();
        if (typeof socket === 'string') continue;
        const { reply } = await exchange(socket, data);
        if (reply !== '') answered++;
        if (reply.startsWith('{"ok":false')) {
          refused++;
          refusal = reply;
        }
      }
      return print({ answered, refused, refusal });
    }
    default:
      print({ error: `unknown mode ${mode}` });
      process.exitCode = 2;
  }
}

await main();
