import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { cleanUp, type Spawned, showLogIfFailed, spawnCollecting } from '../helpers/cli.ts';
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
print('sent', flush=True)
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
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 100000\n');
    host.writeDaemon('mallory', 'web', 'start=exec sleep 100000\n');
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/web', (d) => d.state === 'running', 'to run');
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'client.py'), CLIENT, { mode: 0o644 });
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await cleanUp(host);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The client above, run as a user of the sandbox, sending once `go` exists. */
  const client = (short: string, go: string): Spawned =>
    spawnCollecting([
      'runuser',
      '-u',
      host.user(short).name,
      '--',
      'python3',
      join(dir, 'client.py'),
      join(host.dir, 'run', `${host.user(short).name}.sock`),
      go,
    ]);

  test('is answered once the manager goes on, past the 10 s a client has to send it', async () => {
    const go = join(dir, 'go');
    const alice = client('alice', go);
    const manager = host.managerPid();
    try {
      const inode = await waitFor(
        'the client to connect',
        () => /inode (\d+)/.exec(alice.output())?.[1],
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
      const answer = await waitFor('the client to be answered', () => answerOf(alice), {
        describe: alice.output,
        timeoutMs: 60_000,
      });
      assert.equal(answer.ok, true, alice.output());
    } finally {
      await alice.stop();
    }
  });

  /*
   * Requests are handled in turns, whoever was served least recently first. A user whose
   * queue ran dry counted as never served: a flooder whose next requests were not read
   * yet (a loaded machine) came back level with a user who had waited, and went first if
   * read first (a full run, at a load of 47).
   */
  test('requests read together are handled least recently served first', async () => {
    const mallory = host.user('mallory').name;
    const served = await host.dmctl('mallory', 'status');
    assert.equal(served.code, 0, served.stderr);
    const first = join(dir, 'first');
    const second = join(dir, 'second');
    const hers = client('mallory', first);
    const alices = client('alice', second);
    const manager = host.managerPid();
    const from = host.managerLog.length;
    try {
      for (const each of [hers, alices]) {
        const inode = await waitFor(
          'the client to connect',
          () => /inode (\d+)/.exec(each.output())?.[1],
        );
        await waitFor('the manager to accept the connection', () =>
          accepted(manager, inode) ? true : undefined,
        );
      }
      process.kill(manager, 'SIGSTOP');
      try {
        // Mallory's request comes first, then alice's: both are read at the next poll.
        writeFileSync(first, '');
        await waitFor("mallory's request to be sent", () =>
          hers.output().includes('sent') ? true : undefined,
        );
        writeFileSync(second, '');
        await waitFor("alice's request to be sent", () =>
          alices.output().includes('sent') ? true : undefined,
        );
      } finally {
        process.kill(manager, 'SIGCONT');
      }
      for (const each of [hers, alices])
        assert.equal((await waitFor('the answer', () => answerOf(each))).ok, true, each.output());
      const turn = host.managerLog
        .slice(from)
        .split('\n')
        .find((line) => /control: turn \d+: /.test(line));
      assert.match(
        turn ?? '',
        new RegExp(`control: turn \\d+: ${host.user('alice').name}, ${mallory}$`),
      );
    } finally {
      await hers.stop();
      await alices.stop();
    }
  });
});

/** The answer a client printed, parsed: `{}` if it had none (closed or reset). */
function answerOf(client: Spawned): { ok?: boolean } | undefined {
  const answer = /answer (.*)/.exec(client.output())?.[1];
  if (answer === undefined) return undefined;
  return (answer.startsWith('{') ? JSON.parse(answer) : {}) as { ok?: boolean };
}
