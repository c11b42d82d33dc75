import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runKeeperDriver } from '../helpers/keeper-driver.ts';

/*
 * The driver speaks the keeper's protocol itself (src/keeper/README.md), as the manager
 * does when a daemon's run is replaced after its pipe was let go: run 1 of `d` writes into
 * pipe 1; `pipe-close d`, run 1 killed; run 2 gets pipe 2, stored under the same name,
 * `out:d`. Then the end of pipe 1 is said (`drop-pipe out:d INODE-OF-PIPE-1`), as it came
 * to the manager after that spawn. The keeper must still keep pipe 2 (a `hello` lists it),
 * and let go of it once its own end is said. It prints what each `hello` listed.
 */
const DRIVER = `
import os, signal, sys
from keeper_driver import start_keeper, connect, send as send_on, event_with_fds as event_on
keeper_bin, sock_path = sys.argv[1], sys.argv[2]
keeper = start_keeper(keeper_bin, sock_path)
s = connect(sock_path)
def send(*fields): send_on(s, *fields)
def event(): return event_on(s)
def wait(verb, seq=None):
    while True:
        fields, fds = event()
        if fields[0] == verb and (seq is None or fields[1] == seq): return fields, fds
        for fd in fds: os.close(fd)
def kept():
    send('hello')
    names = []
    while True:
        fields, fds = event()
        if fields[0] == 'end': return names
        if fields[0] == 'fd' and fields[1].startswith('out:'):
            names.append(fields[1] + '=' + ('pipe2' if os.fstat(fds[0]).st_ino == inode2 else 'other'))
        for fd in fds: os.close(fd)
def spawn(seq): send('spawn', str(seq), 'd', 'start=sleep 1000', 'arg=sleep', 'arg=1000', 'stdout=pipe')
pids = []
try:
    send('hello'); wait('end')
    spawn(1)
    _, (pipe1,) = wait('pipe')
    pids.append(int(wait('spawned', '1')[0][3]))
    inode1 = os.fstat(pipe1).st_ino
    send('pipe-close', 'd')
    os.kill(pids[0], signal.SIGKILL)
    wait('exited', '1')
    spawn(2)
    _, (pipe2,) = wait('pipe')
    pids.append(int(wait('spawned', '2')[0][3]))
    inode2 = os.fstat(pipe2).st_ino
    send('drop-pipe', 'out:d', str(inode1))
    print(' '.join(kept()))
    send('drop-pipe', 'out:d', str(inode2))
    print(' '.join(kept()) or 'none')
finally:
    for pid in pids:
        try: os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError: pass
    keeper.kill()
    keeper.wait()
`;

describe('dm-keeper told that a daemon’s output pipe ended', () => {
  const dir = mkdtempSync('/tmp/dm-pipe-drop-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('keeps the pipe a later run got under the same name, and lets go of it at its own end', () => {
    const run = runKeeperDriver(DRIVER, [join(dir, 'keeper.sock')]);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.stdout.trim().split('\n'), ['out:d=pipe2', 'none']);
  });
});
