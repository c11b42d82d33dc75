import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { cleanUp, showLogIfFailed, spawnCollecting } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/*
 * A client that connects, then sends its request: it prints its socket's inode once
 * connected, sends the request once the file `go` exists, and prints what it is answered.
 */
const CLIENT = `
import os, socket, sys, time
path, go = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
print('inode', os.fstat(s.fileno()).st_ino, flush=True)
while not os.path.exists(go): time.sleep(0.05)
s.sendall(b'{"command":"status"}\\n')
answer = b''
try:
    while True:
        chunk = s.recv(65536)
        if not chunk: break
        answer += chunk
except OSError as error:
    answer = str(error).encode()
print('answer', answer.decode().strip() or '(none: the manager closed the connection)', flush=True)
`;

/** Whether the process `pid` holds the end of a Unix connection whose peer is `inode`. */
function accepted(pid: number, inode: string): boolean {
  const listing = spawnSync('ss', ['-xpn'], { encoding: 'utf8' }).stdout;
  return listing
    .split('\n')
    .some((line) => line.includes(`pid=${pid},`) && line.split(/\s+/).includes(inode));
}

/**
 * The control socket gives a client 10 s to send its request. A manager stalled longer
 * (SIGSTOP here; a starved CPU) ran that timer first when it went on, before it read the
 * request that had come in time: libuv runs expired timers before it polls sockets, and
 * the client, closed on, had no answer.
 */
describe('a request sent while the manager stalled', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const dir = mkdtempSync('/tmp/dm-control-stall-');

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 100000\n');
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/web', (d) => d.state === 'running', 'to run');
    chownSync(dir, host.user('alice').uid, host.user('alice').gid);
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await cleanUp(host);
    rmSync(dir, { recursive: true, force: true });
  });

  test('is answered once the manager goes on, past the 10 s a client has to send it', async () => {
    const script = join(dir, 'client.py');
    writeFileSync(script, CLIENT);
    const go = join(dir, 'go');
    const socket = join(host.dir, 'run', `${host.user('alice').name}.sock`);
    const client = spawnCollecting([
      'runuser',
      '-u',
      host.user('alice').name,
      '--',
      'python3',
      script,
      socket,
      go,
    ]);
    const manager = host.managerPid();
    try {
      const inode = await waitFor(
        'the client to connect',
        () => /inode (\d+)/.exec(client.output())?.[1],
      );
      await waitFor('the manager to accept the connection', () =>
        accepted(manager, inode) ? true : undefined,
      );
      process.kill(manager, 'SIGSTOP');
      try {
        writeFileSync(go, '');
        // A stall past the 10 s the client has to send its request, which came at once.
        await delay(11_000);
      } finally {
        process.kill(manager, 'SIGCONT');
      }
      const answer = await waitFor(
        'the client to be answered',
        () => /answer (.*)/.exec(client.output())?.[1],
        {
          describe: () =>
            `${client.output()}\n${spawnSync('ss', ['-xpn'], { encoding: 'utf8' })
              .stdout.split('\n')
              .filter((l) => l.includes(inode))
              .join('\n')}\n${host.managerLog.slice(-3000)}`,
          timeoutMs: 60_000,
        },
      );
      const parsed = JSON.parse(answer.startsWith('{') ? answer : '{}') as { ok?: boolean };
      assert.equal(parsed.ok, true, answer);
    } finally {
      await client.stop();
    }
  });
});
