import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runKeeperDriver } from '../helpers/keeper-driver.ts';

/*
 * The driver speaks the keeper's protocol itself (src/keeper/README.md). It spawns run 1
 * (a `sleep`), stops the keeper with SIGSTOP, queues BURST spawn requests, then kills run
 * 1 and lets the keeper go on. The keeper's epoll then holds both the queued requests
 * (ready first) and SIGCHLD: what it reports first is decided by its loop, not by timing.
 * It prints the verbs and sequence numbers of the events, in the order they came.
 */
const DRIVER = `
import os, signal, sys, time
from keeper_driver import start_keeper, connect, send as send_on, event as event_on
keeper_bin, sock_path, burst = sys.argv[1], sys.argv[2], int(sys.argv[3])
keeper = start_keeper(keeper_bin, sock_path)
s = connect(sock_path)
def send(*fields): send_on(s, *fields)
def event(): return event_on(s)
def wait(verb, seq=None):
    while True:
        e = event()
        seen.append(e[:2])
        if e[0] == verb and (seq is None or e[1] == seq): return e
def state(pid):
    with open('/proc/%d/stat' % pid) as f: return f.read().rsplit(')', 1)[1].split()[0]
def spawn(seq): send('spawn', str(seq), 'd%d' % seq, 'start=sleep 1000', 'arg=sleep', 'arg=1000')
seen = []
pids = []
try:
    send('hello'); wait('end')
    spawn(1)
    first = int(wait('spawned', '1')[3]); pids.append(first)
    os.kill(keeper.pid, signal.SIGSTOP)
    while state(keeper.pid) != 'T': time.sleep(0.01)
    for seq in range(2, burst + 2): spawn(seq)
    os.kill(first, signal.SIGKILL)
    while state(first) != 'Z': time.sleep(0.01)
    seen.clear()
    os.kill(keeper.pid, signal.SIGCONT)
    order = []
    while len([e for e in order if e[0] == 'spawned']) < burst or ['exited', '1'] not in order:
        e = event()
        if e[0] in ('spawned', 'exited', 'spawn-failed'): order.append(e[:2])
        if e[0] == 'spawned': pids.append(int(e[3]))
    print(' '.join(v + ':' + q for v, q in order))
finally:
    for pid in pids:
        try: os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError: pass
    keeper.kill()
    keeper.wait()
`;

describe('dm-keeper under a burst of spawn requests', () => {
  const dir = mkdtempSync('/tmp/dm-burst-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('reports an exit before it has worked through the whole burst', () => {
    const burst = 64;
    const run = runKeeperDriver(DRIVER, [join(dir, 'keeper.sock'), String(burst)]);
    assert.equal(run.status, 0, run.stderr);
    const order = run.stdout.trim().split(' ');
    assert.equal(order.filter((event) => event.startsWith('spawned:')).length, burst, run.stdout);
    const exited = order.indexOf('exited:1');
    const lastSpawned = order.indexOf(`spawned:${burst + 1}`);
    assert.ok(exited !== -1, `no exit reported: ${run.stdout}`);
    // Before: every queued spawn (each a fork) was handled before SIGCHLD was read.
    assert.ok(exited < lastSpawned, `the exit came after all ${burst} spawns: ${run.stdout}`);
  });
});
