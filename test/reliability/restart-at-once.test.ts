import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { isAlive, processState } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const ROUNDS = 8;

/*
 * `systemctl restart`: a SIGTERM, the manager's exit, and a new manager at once. The old
 * manager's last request to its keeper is `quit`, and it exits without waiting for the
 * keeper to read it: the new manager can reach the old keeper before it has, and the keeper
 * then goes under it (the quit read, the new connection closed with it).
 */
describe('a manager started at once after the clean stop of the one before', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const failures: string[] = [];

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6870001\n');
    for (let round = 0; round < ROUNDS; round++) {
      const from = host.managerLog.length;
      try {
        await host.startManager();
      } catch {
        failures.push(`round ${round}: ${host.managerLog.slice(from)}`);
        continue;
      }
      await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
      await host.stopManager();
    }
  });
  after(() => host.cleanup());

  test(`starts, and runs the daemons, ${ROUNDS} times of ${ROUNDS}`, () => {
    assert.deepEqual(failures, []);
  });
});

/** The unix sockets bound at `path`: the listener, and one per connection to it (accepted or not). */
function socketsAt(path: string): number {
  return readFileSync('/proc/net/unix', 'latin1')
    .split('\n')
    .filter((line) => line.endsWith(` ${path}`)).length;
}

/*
 * The same race made certain: the old keeper is stopped (SIGSTOP) from before the SIGTERM
 * until the new manager has connected to it, as a loaded machine may leave it. It then
 * finds the old manager's quit and the new manager's hello at once.
 */
describe('a manager started while the keeper of the one before has not read its quit yet', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let oldKeeper = 0;
  let failure: string | undefined;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6870002\nautostart=no\n');
    await host.startManager();
    oldKeeper = host.keeperPid();
    process.kill(oldKeeper, 'SIGSTOP');
    await waitFor('the keeper to stop', () => (processState(oldKeeper) === 'T' ? true : undefined));
    await host.stopManager();
    const socket = join(host.dir, 'state', 'keeper.sock');
    const before = socketsAt(socket);
    const starting = host.startManager();
    starting.catch(() => undefined);
    await waitFor('the new manager to connect to the stopped keeper', () =>
      socketsAt(socket) > before ? true : undefined,
    );
    process.kill(oldKeeper, 'SIGCONT');
    try {
      await starting;
    } catch (error) {
      failure = (error as Error).message;
    }
  });
  after(() => host.cleanup());

  test('the new manager starts, with a keeper of its own', async () => {
    assert.equal(failure, undefined);
    assert.match(host.managerLog, /dm-keeper \(pid \d+\) closed the connection .*waiting for it/);
    await waitFor('the old keeper to exit', () => (isAlive(oldKeeper) ? undefined : true));
    assert.notEqual(host.keeperPid(), 0);
    assert.notEqual(host.keeperPid(), oldKeeper);
  });

  test('and runs daemons', async () => {
    const started = await host.dmctl('alice', 'web', 'start');
    assert.equal(started.code, 0, started.stderr);
    await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
  });
});
