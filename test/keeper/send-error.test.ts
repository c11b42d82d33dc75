import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runKeeperDriver } from '../helpers/keeper-driver.ts';

/*
 * A send of the keeper's that fails for another reason than the manager's hang-up: here
 * EMSGSIZE, an answer larger than the keeper's send buffer (the tests' bound on it, see
 * send_buffer_size in native/keeper/keeper.c, and a request with a long unknown verb,
 * which the refusal repeats). The driver stops the keeper (SIGSTOP) in its epoll_wait and
 * sends that request and the next ones at once, so that they all wait to be read when the
 * send fails, as they do on a loaded keeper. It prints one JSON line of what it saw.
 *
 *   quit:  the long request, then quit           the keeper exits
 *   drop:  the long request, then `drop ctl:x`   the driver reads the end of the
 *          connection, connects again, and the hello's snapshot has no ctl:x
 */
const DRIVER = `
import json, os, signal, socket, subprocess, sys, time
from keeper_driver import start_keeper, connect, send, event
keeper_bin, sock_path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
os.environ['DM_TEST_KEEPER_SEND_BUFFER'] = '1'
keeper = start_keeper(keeper_bin, sock_path)
def snapshot(s):
    send(s, 'hello')
    names, logs = [], []
    while True:
        fields = event(s)
        if not fields or fields[0] == 'error': return None, fields
        if fields[0] == 'end': return names, logs
        if fields[0] == 'fd': names.append(fields[1])
        if fields[0] == 'log': logs.append(fields[2])
def idle_in():
    with open('/proc/%d/wchan' % keeper.pid) as f: return f.read()
result = {}
try:
    s = connect(sock_path)
    snapshot(s)
    r, w = os.pipe()
    s.sendmsg([b'store\\0ctl:x\\0'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(__import__('array').array('i', [r]))))])
    os.close(r)
    deadline = time.time() + 30
    while idle_in() != 'do_epoll_wait' and time.time() < deadline: time.sleep(0.01)
    os.kill(keeper.pid, signal.SIGSTOP)
    send(s, 'x' * 8000)
    if mode == 'quit': send(s, 'quit')
    else: send(s, 'drop', 'ctl:x')
    os.kill(keeper.pid, signal.SIGCONT)
    if mode == 'quit':
        try: keeper.wait(20)
        except subprocess.TimeoutExpired: pass
        result['keeperExited'] = keeper.poll() is not None
    else:
        # Read to the end of the connection (a reset, if the keeper closed it with more unread).
        while True:
            try:
                if not event(s): break
            except ConnectionResetError: break
        s.close()
        names, logs = snapshot(connect(sock_path))
        result['stored'] = names
        result['logs'] = logs
        result['keeperExited'] = keeper.poll() is not None
    print(json.dumps(result))
finally:
    if keeper.poll() is None:
        keeper.kill()
        keeper.wait()
`;

function sendFails(dir: string, mode: string): Record<string, unknown> {
  const run = runKeeperDriver(DRIVER, [join(dir, `${mode}.sock`), mode]);
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

describe('dm-keeper whose send to its manager fails (not a hang-up)', () => {
  const dir = mkdtempSync('/tmp/dm-send-error-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('still reads the requests sent after: a quit is handled', () => {
    assert.deepEqual(sendFails(dir, 'quit'), { keeperExited: true });
  });

  test('ends its side, and has handled what came before the next hello', () => {
    const seen = sendFails(dir, 'drop');
    assert.equal(seen.keeperExited, false);
    assert.deepEqual(seen.stored, [], `ctl:x not dropped: ${JSON.stringify(seen)}`);
  });
});
