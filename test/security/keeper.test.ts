import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';

const root = process.getuid?.() === 0;

/**
 * A client of the keeper's socket (SOCK_SEQPACKET, which Node cannot open): connects and
 * prints what comes back within 5 s as Python's repr (b'' when the keeper hangs up), or
 * the error's name.
 */
const CLIENT = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
    print(repr(s.recv(4096)))
except OSError as error:
    print(type(error).__name__)
`;

describe("only the manager's uid can drive its keeper", { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  let socket = '';
  let pidBefore = 0;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6200001\n');
    await host.startManager();
    pidBefore = (await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run')).pid;
    socket = join(host.dir, 'state', 'keeper.sock');
  });
  after(() => host.cleanup());

  test('the socket lies in a directory no other user may enter', async () => {
    const mode = statSync(join(host.dir, 'state')).mode & 0o777;
    assert.equal(mode & 0o077, 0, `state dir mode ${mode.toString(8)}`);
    const result = await host.runAs('mallory', ['python3', '-c', CLIENT, socket]);
    assert.match(result.stdout, /PermissionError/);
  });

  test('opened up by mistake, it still drops another uid without a word', async () => {
    // What a second manager of root's would get: an answer (the keeper is busy).
    const asRoot = execFileSync('python3', ['-c', CLIENT, socket], { encoding: 'utf8' });
    assert.match(asRoot, /^b'error\\x00busy/);

    chmodSync(join(host.dir, 'state'), 0o711);
    chmodSync(socket, 0o777);
    try {
      const result = await host.runAs('mallory', ['python3', '-c', CLIENT, socket]);
      assert.match(result.stdout, /^(b''|ConnectionResetError|BrokenPipeError)$/m);
    } finally {
      chmodSync(join(host.dir, 'state'), 0o700);
      chmodSync(socket, 0o600);
    }
  });

  test('the manager is still attached and its daemon untouched', async () => {
    const web = (await host.status('alice')).find((d) => d.id === host.id('alice/web'));
    assert.equal(web?.pid, pidBefore);
    assert.equal(web?.state, 'running');
    assert.equal((await host.dmctl('alice', 'web', 'restart')).code, 0);
    await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.pid > 0 && d.pid !== pidBefore,
      'to run again',
    );
  });
});
