import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

const KEEPER = join(import.meta.dirname, '../../build/Release/dm-keeper');

/*
 * The driver speaks the keeper's protocol itself (src/keeper/README.md), as a manager that
 * gave up on a stop does at its exit: run 1 of `d` (a shell that leaves a second process in
 * its group) is still there when `quit` comes. The keeper must kill both before it exits.
 * It prints how many of the two processes are left once the keeper has exited, waiting for
 * each (with a deadline) to be gone rather than sleeping.
 */
const DRIVER = `
import os, signal, socket, subprocess, sys, time
keeper_bin, sock_path, tag = sys.argv[1], sys.argv[2], sys.argv[3]
keeper = subprocess.Popen([keeper_bin, sock_path], stdout=subprocess.PIPE)
assert keeper.stdout.readline() == b'ready\\n'
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sock_path)
s.settimeout(60)
def send(*fields): s.send(b'\\0'.join(f.encode() for f in fields) + b'\\0')
def wait(verb, seq=None):
    while True:
        data = s.recv(1 << 20)
        fields = [f.decode() for f in data.split(b'\\0')[:-1]]
        if fields[0] == verb and (seq is None or fields[1] == seq): return fields
def living():
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit(): continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f: command = f.read()
            with open('/proc/%s/stat' % entry) as f: state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError: continue
        if command.startswith(b'sleep\\0' + tag.encode()) and state != 'Z': found.append(int(entry))
    return found
pids = []
try:
    send('hello'); wait('end')
    send('spawn', '1', 'd', 'start=x', 'arg=/bin/sh', 'arg=-c',
         'arg=sleep %s1 & exec sleep %s2' % (tag, tag))
    pids.append(int(wait('spawned', '1')[3]))
    deadline = time.time() + 60
    while len(living()) < 2 and time.time() < deadline: time.sleep(0.02)
    pids = living()
    assert len(pids) == 2, 'both processes run: %r' % pids
    send('quit')
    keeper.wait(60)
    deadline = time.time() + 30
    while living() and time.time() < deadline: time.sleep(0.02)
    print(len(living()))
finally:
    for pid in living():
        try: os.kill(pid, signal.SIGKILL)
        except ProcessLookupError: pass
    if keeper.poll() is None:
        keeper.kill()
        keeper.wait()
`;

describe('dm-keeper told to quit while a run still has processes', () => {
  const dir = mkdtempSync('/tmp/dm-quit-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('kills every process of the run before it exits', () => {
    const tag = String(6_800_000 + (process.pid % 100_000));
    const run = spawnSync('python3', ['-c', DRIVER, KEEPER, join(dir, 'keeper.sock'), tag], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), '0', 'processes of the run left after the keeper quit');
  });
});

/*
 * The manager's last requests, then its close, with events of the keeper's still unread
 * on the manager's side (a shutdown stops reading once it has said quit): af_unix sets
 * ECONNRESET on the keeper's end, and the keeper's next recvmsg or sendmsg fails with it
 * before the requests that wait are read. The driver stops the keeper (SIGSTOP) in its
 * epoll_wait while it does that, so that the keeper finds it all at once, as a loaded
 * keeper does; run 1 is a `sleep`, and the answer to a `signal` of it is left unread. It
 * prints one JSON line of what it saw.
 *
 *   quit:    quit, close          the keeper exits, the run killed
 *   crash:   close                the keeper stays; a new manager gets run 1
 *   release: a new manager connects, the old one sends 40 requests (more than the keeper
 *            reads at a time), the last `release 1`, and closes: the release is handled
 *            before the new one's hello (the keeper learns of the new connection first)
 */
const HANG_UP_DRIVER = `
import json, os, signal, socket, subprocess, sys, time
keeper_bin, sock_path, tag, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
keeper = subprocess.Popen([keeper_bin, sock_path], stdout=subprocess.PIPE)
assert keeper.stdout.readline() == b'ready\\n'
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sock_path)
    s.settimeout(60)
    return s
def send(s, *fields): s.send(b'\\0'.join(f.encode() for f in fields) + b'\\0')
def fields_of(data): return [f.decode() for f in data.split(b'\\0')[:-1]]
def snapshot(s):
    send(s, 'hello')
    runs, logs = [], []
    while True:
        fields = fields_of(s.recv(1 << 20))
        if not fields or fields[0] == 'error': return None, fields
        if fields[0] == 'end': return runs, logs
        if fields[0] == 'run': runs.append(fields[1])
        if fields[0] == 'log': logs.append(fields[2])
def wait(s, verb):
    while fields_of(s.recv(1 << 20))[0] != verb: pass
def idle_in():
    with open('/proc/%d/wchan' % keeper.pid) as f: return f.read()
def living():
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit(): continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f: command = f.read()
            with open('/proc/%s/stat' % entry) as f: state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError: continue
        if command.startswith(b'sleep\\0' + tag.encode()) and state != 'Z': found.append(int(entry))
    return found
result = {}
try:
    old = connect()
    snapshot(old)
    send(old, 'spawn', '1', 'd', 'start=x', 'arg=/bin/sleep', 'arg=' + tag)
    wait(old, 'exec')
    send(old, 'signal', '1', '0')
    # The keeper has answered (a peek leaves the answer unread), and waits for more.
    old.recv(1, socket.MSG_PEEK)
    deadline = time.time() + 30
    while idle_in() != 'do_epoll_wait' and time.time() < deadline: time.sleep(0.01)
    os.kill(keeper.pid, signal.SIGSTOP)
    if mode == 'release':
        new = connect()
        for n in range(39): send(old, 'drop', 'nothing:%d' % n)
        send(old, 'release', '1')
    if mode == 'quit': send(old, 'quit')
    old.close()
    os.kill(keeper.pid, signal.SIGCONT)
    if mode == 'quit':
        try: keeper.wait(20)
        except subprocess.TimeoutExpired: pass
        result['keeperExited'] = keeper.poll() is not None
        deadline = time.time() + 30
        while result['keeperExited'] and living() and time.time() < deadline: time.sleep(0.02)
        result['left'] = len(living())
    else:
        if mode == 'crash': new = connect()
        runs, logs = snapshot(new)
        # None: the new manager was refused (logs: the refusal).
        result['runs'] = runs
        result['logs'] = logs
        result['keeperExited'] = keeper.poll() is not None
    print(json.dumps(result))
finally:
    for pid in living():
        try: os.kill(pid, signal.SIGKILL)
        except ProcessLookupError: pass
    if keeper.poll() is None:
        keeper.kill()
        keeper.wait()
`;

/** Runs HANG_UP_DRIVER in `mode`; what it printed. */
function hangUp(dir: string, mode: string, offset: number): Record<string, unknown> {
  const tag = String(6_850_000 + offset + (process.pid % 10_000));
  const run = spawnSync(
    'python3',
    ['-c', HANG_UP_DRIVER, KEEPER, join(dir, `${mode}.sock`), tag, mode],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

describe('dm-keeper whose manager hung up with events of the keeper unread', () => {
  const dir = mkdtempSync('/tmp/dm-quit-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('still reads the quit sent before the hang-up: exits, its run killed', () => {
    assert.deepEqual(hangUp(dir, 'quit', 0), { keeperExited: true, left: 0 });
  });

  test('stays for the next manager when no quit came (a crash), with its run', () => {
    const seen = hangUp(dir, 'crash', 1_000);
    assert.equal(seen.keeperExited, false);
    assert.deepEqual(seen.runs, ['1']);
  });

  test("handles the old manager's last requests before it answers the next one", () => {
    const seen = hangUp(dir, 'release', 2_000);
    assert.equal(seen.keeperExited, false);
    assert.deepEqual(seen.runs, [], `run 1 not released before the hello: ${JSON.stringify(seen)}`);
  });
});
