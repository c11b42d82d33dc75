import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { TestHost } from '../helpers/host.ts';
import { isAlive, processState } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/** The unix sockets bound at `path`: the listener, and one per connection to it. */
function socketsAt(path: string): number {
  return readFileSync('/proc/net/unix', 'latin1')
    .split('\n')
    .filter((line) => line.endsWith(` ${path}`)).length;
}

/** Whether a unix socket of process `pid` has data waiting to be read (ss's Recv-Q). */
function hasUnread(pid: number): boolean {
  const lines = execFileSync('ss', ['-xpH'], { encoding: 'utf8' }).split('\n');
  return lines.some(
    (line) => line.includes(`pid=${pid},`) && Number(line.trim().split(/\s+/)[2] ?? 0) > 0,
  );
}

/*
 * A manager stalled (SIGSTOP here; a starved CPU) while it waits for its keeper's answer to
 * hello, past the 10 s it gives the keeper, though the keeper answered at once. Its hello
 * is sent to the keeper of a manager killed before (kill -9), which is kept stopped until
 * the manager has connected so that the hello is sent before the manager is stopped.
 * libuv runs expired timers before it polls: when the manager goes on, its deadline came
 * before the answer waiting in its socket was read.
 */
describe('a manager stalled past the hello deadline while the keeper answered in time', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let daemonPid = 0;
  let failure: string | undefined;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6870011\n');
    const first = await host.startManager();
    daemonPid = (await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run')).pid;
    const killed = new Promise((resolve) => first.once('exit', resolve));
    first.kill('SIGKILL');
    await killed;
    const keeper = host.keeperPid();
    process.kill(keeper, 'SIGSTOP');
    await waitFor('the keeper to stop', () => (processState(keeper) === 'T' ? true : undefined));
    const socket = join(host.dir, 'state', 'keeper.sock');
    const before = socketsAt(socket);
    const starting = host.startManager();
    starting.catch(() => undefined);
    await waitFor('the new manager to connect to the stopped keeper', () =>
      socketsAt(socket) > before ? true : undefined,
    );
    const manager = host.managerProcess()?.pid ?? 0;
    // Its hello is sent in the same call as the connect: waiting in its event loop is after it.
    await waitFor('the new manager to wait for the answer', () =>
      readFileSync(`/proc/${manager}/wchan`, 'latin1') === 'do_epoll_wait' ? true : undefined,
    );
    process.kill(manager, 'SIGSTOP');
    await waitFor('the manager to stop', () => (processState(manager) === 'T' ? true : undefined));
    process.kill(keeper, 'SIGCONT');
    await waitFor("the keeper's answer to wait in the manager's socket", () =>
      hasUnread(manager) ? true : undefined,
    );
    // The stall itself: real time past the manager's 10 s, while it cannot run.
    await delay(11_000);
    process.kill(manager, 'SIGCONT');
    try {
      await starting;
    } catch (error) {
      failure = (error as Error).message;
    }
  });
  after(() => host.cleanup());

  test('the manager starts, attached to the keeper, its daemon kept', async () => {
    assert.equal(failure, undefined);
    const web = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    assert.equal(web.pid, daemonPid);
    assert.ok(isAlive(daemonPid));
  });
});
