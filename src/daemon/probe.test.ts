import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { test } from 'node:test';
import type { DaemonRecord } from '../supervisor/state.ts';
import { probe } from './probe.ts';
import type { KeeperProcesses } from './processes.ts';

/** An http:// check needs neither the keeper nor the daemon: the manager connects itself. */
const check = (url: string, timeoutMs = 2_000): Promise<boolean> =>
  probe(
    undefined as unknown as KeeperProcesses,
    undefined as unknown as DaemonRecord,
    0,
    {
      kind: 'http',
      url,
    },
    timeoutMs,
  ).then((result) => result.passed);

test('http:// passes on 2xx only, over a real server', async () => {
  const server = createServer((request, response) => {
    const status = Number(request.url?.slice(1)) || 200;
    response.writeHead(status, { location: '/200' }).end('body');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    assert.equal(await check(`http://127.0.0.1:${port}/200`), true);
    assert.equal(await check(`http://127.0.0.1:${port}/204?x=1`), true);
    assert.equal(await check(`http://127.0.0.1:${port}/503`), false);
    assert.equal(await check(`http://127.0.0.1:${port}/302`), false, 'no redirect followed');
  } finally {
    server.close();
  }
});

test('http:// fails on silence, on what is not HTTP, and where nothing listens', async () => {
  const silent = createTcpServer(() => {});
  const garbage = createTcpServer((socket) => socket.end('SSH-2.0-OpenSSH\r\n'));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
  const portOf = (server: typeof silent): number => (server.address() as { port: number }).port;
  try {
    assert.equal(await check(`http://127.0.0.1:${portOf(silent)}/`, 200), false);
    assert.equal(await check(`http://127.0.0.1:${portOf(garbage)}/`), false);
    const gone = portOf(silent);
    silent.close();
    assert.equal(await check(`http://127.0.0.1:${gone}/`), false);
  } finally {
    silent.close();
    garbage.close();
  }
});

/** Holds the event loop for `ms`, as a stall of the manager would (a starved CPU, SIGSTOP). */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Starts a check, then stalls the loop once its connect has been made, past its timeout. */
async function checkThroughStall(kind: 'tcp' | 'http', port: number): Promise<boolean> {
  const spec =
    kind === 'tcp'
      ? { kind, host: '127.0.0.1', port }
      : { kind, url: `http://127.0.0.1:${port}/200` };
  const pending = probe(
    undefined as unknown as KeeperProcesses,
    undefined as unknown as DaemonRecord,
    0,
    spec,
    50,
  );
  // net connects to an address on the next tick: this one comes after it.
  process.nextTick(() => stall(300));
  return (await pending).passed;
}

test('a connection made in time counts though the manager stalled past the timeout before reading it', async () => {
  const server = createServer((_request, response) => response.writeHead(200).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    assert.equal(await checkThroughStall('tcp', port), true, 'tcp:');
    assert.equal(await checkThroughStall('http', port), true, 'http://');
  } finally {
    server.close();
  }
});
