import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runKeeperDriver } from '../helpers/keeper-driver.ts';

/*
 * The driver spawns two runs: one switched to uid 65534 for owner 4242, one with neither
 * (it stays the keeper's uid), then asks a second connection's `hello` for the keeper's
 * runs, as a manager started after a kill -9 of the last one does. It prints the last two
 * fields (owner, uid) of the `spawned` reports, then of the `run` reports; then the gid and
 * groups of the `run` reports a manager of version 4 gets (none for the run not switched);
 * then the number of fields of the `run` reports a manager before version 3 gets.
 */
const DRIVER = `
import os, signal, sys
from keeper_driver import start_keeper, connect, send, event
keeper_bin, sock_path = sys.argv[1], sys.argv[2]
keeper = start_keeper(keeper_bin, sock_path)
s = connect(sock_path)
def wait(verb, seq):
    while True:
        fields = event(s)
        if fields[0] == verb and fields[1] == seq: return fields
pids = []
try:
    send(s, 'hello', '3')
    while event(s)[0] != 'end': pass
    send(s, 'spawn', '1', 'u/as', 'uid=65534', 'gid=65534', 'groups=65534,27', 'owner=4242', 'start=sleep 1000', 'stdout=null')
    spawned = wait('spawned', '1')
    pids.append(int(spawned[3]))
    print(len(spawned), spawned[-2], spawned[-1])
    send(s, 'spawn', '2', 'root/own', 'start=sleep 1000', 'stdout=null')
    spawned = wait('spawned', '2')
    pids.append(int(spawned[3]))
    print(len(spawned), spawned[-2], spawned[-1])
    s.close()
    again = connect(sock_path)
    send(again, 'hello', '3')
    while True:
        fields = event(again)
        if fields[0] == 'end': break
        if fields[0] == 'run': print(fields[1], fields[-2], fields[-1])
    again.close()
    newer = connect(sock_path)
    send(newer, 'hello', '4')
    while True:
        fields = event(newer)
        if fields[0] == 'end': break
        if fields[0] == 'run': print('newer', fields[1], len(fields), fields[-2], repr(fields[-1]))
    newer.close()
    older = connect(sock_path)
    send(older, 'hello')
    while True:
        fields = event(older)
        if fields[0] == 'end': break
        if fields[0] == 'run': print('older', len(fields))
finally:
    for pid in pids:
        try: os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError: pass
    keeper.kill()
    keeper.wait()
`;

describe('dm-keeper’s record of whom a run is for and as', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const dir = mkdtempSync('/tmp/dm-run-owner-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('says the owner’s uid given at the spawn and the uid it switched to, to the next manager too', () => {
    const run = runKeeperDriver(DRIVER, [join(dir, 'keeper.sock')]);
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['15 4242 65534', '15 -1 0']);
    assert.deepEqual(lines.slice(2, 4).sort(), ['1 4242 65534', '2 -1 0']);
    assert.deepEqual(lines.slice(4, 6).sort(), ["newer 1 17 65534 '65534,27'", "newer 2 17 -1 ''"]);
    assert.deepEqual(lines.slice(6), ['older 13', 'older 13']);
  });
});
