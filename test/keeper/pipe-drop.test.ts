import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

const KEEPER = join(import.meta.dirname, '../../build/Release/dm-keeper');

/*
 * The driver speaks the keeper's protocol itself (src/keeper/README.md), as the manager
 * does when a daemon's run is replaced after its pipe was let go: run 1 of `d` writes into
 * pipe 1; `pipe-close d`, run 1 killed; run 2 gets pipe 2, stored under the same name,
 * `out:d`. Then the end of pipe 1 is said (`drop-pipe out:d INODE-OF-PIPE-1`), as it came
 * to the manager after that spawn. The keeper must still keep pipe 2 (a `hello` lists it),
 * and let go of it once its own end is said. It prints what each `hello` listed.
 */
const DRIVER = `
import array, os, signal, socket, subprocess, sys
keeper_bin, sock_path = sys.argv[1], sys.argv[2]
keeper = subprocess.Popen([keeper_bin, sock_path], stdout=subprocess.PIPE)
assert keeper.stdout.readline() == b'ready\\n'
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sock_path)
s.settimeout(60)
def send(*fields): s.send(b'\\0'.join(f.encode() for f in fields) + b'\\0')
def event():
    fds = array.array('i')
    data, ancdata, _, _ = s.recvmsg(1 << 20, socket.CMSG_SPACE(16 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return [f.decode() for f in data.split(b'\\0')[:-1]], list(fds)
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
    const run = spawnSync('python3', ['-c', DRIVER, KEEPER, join(dir, 'keeper.sock')], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.stdout.trim().split('\n'), ['out:d=pipe2', 'none']);
  });
});
