import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runKeeperDriver } from '../helpers/keeper-driver.ts';

/*
 * The driver speaks the keeper's protocol itself (src/keeper/README.md), as a manager that
 * gave up on a stop does at its exit: run 1 of `d` (a shell that leaves a second process in
 * its group) is still there when `quit` comes. The keeper must kill both before it exits.
 * It prints how many of the two processes are left once the keeper has exited, waiting for
 * each (with a deadline) to be gone rather than sleeping.
 */
const DRIVER = `
import os, signal, sys, time
from keeper_driver import start_keeper, connect, send, event, living
keeper_bin, sock_path, tag = sys.argv[1], sys.argv[2], sys.argv[3]
keeper = start_keeper(keeper_bin, sock_path)
s = connect(sock_path)
def wait(verb, seq=None):
    while True:
        fields = event(s)
        if fields[0] == verb and (seq is None or fields[1] == seq): return fields
pids = []
try:
    send(s, 'hello'); wait('end')
    send(s, 'spawn', '1', 'd', 'start=x', 'arg=/bin/sh', 'arg=-c',
         'arg=sleep %s1 & exec sleep %s2' % (tag, tag))
    pids.append(int(wait('spawned', '1')[3]))
    deadline = time.time() + 60
    while len(living(tag)) < 2 and time.time() < deadline: time.sleep(0.02)
    pids = living(tag)
    assert len(pids) == 2, 'both processes run: %r' % pids
    send(s, 'quit')
    keeper.wait(60)
    deadline = time.time() + 30
    while living(tag) and time.time() < deadline: time.sleep(0.02)
    print(len(living(tag)))
finally:
    for pid in living(tag):
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
    const run = runKeeperDriver(DRIVER, [join(dir, 'keeper.sock'), tag]);
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
from keeper_driver import start_keeper, connect, send, event, living
keeper_bin, sock_path, tag, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
keeper = start_keeper(keeper_bin, sock_path)
def snapshot(s):
    send(s, 'hello')
    runs, logs = [], []
    while True:
        fields = event(s)
        if not fields or fields[0] == 'error': return None, fields
        if fields[0] == 'end': return runs, logs
        if fields[0] == 'run': runs.append(fields[1])
        if fields[0] == 'log': logs.append(fields[2])
def wait(s, verb):
    while event(s)[0] != verb: pass
def idle_in():
    with open('/proc/%d/wchan' % keeper.pid) as f: return f.read()
result = {}
try:
    old = connect(sock_path)
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
        new = connect(sock_path)
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
        while result['keeperExited'] and living(tag) and time.time() < deadline: time.sleep(0.02)
        result['left'] = len(living(tag))
    else:
        if mode == 'crash': new = connect(sock_path)
        runs, logs = snapshot(new)
        # None: the new manager was refused (logs: the refusal).
        result['runs'] = runs
        result['logs'] = logs
        result['keeperExited'] = keeper.poll() is not None
    print(json.dumps(result))
finally:
    for pid in living(tag):
        try: os.kill(pid, signal.SIGKILL)
        except ProcessLookupError: pass
    if keeper.poll() is None:
        keeper.kill()
        keeper.wait()
`;

/** Runs HANG_UP_DRIVER in `mode`; what it printed. */
function hangUp(dir: string, mode: string, offset: number): Record<string, unknown> {
  const tag = String(6_850_000 + offset + (process.pid % 10_000));
  const run = runKeeperDriver(HANG_UP_DRIVER, [join(dir, `${mode}.sock`), tag, mode]);
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
