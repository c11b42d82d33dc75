import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/** The manager's child that runs the new code of an upgrade (`--takeover`), if any yet. */
function newCodeOf(manager: number): number | undefined {
  let children: string[];
  try {
    children = readFileSync(`/proc/${manager}/task/${manager}/children`, 'utf8').split(' ');
  } catch {
    return undefined;
  }
  for (const child of children.filter(Boolean))
    try {
      if (readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').includes('--takeover'))
        return Number(child);
    } catch {
      // Gone meanwhile.
    }
  return undefined;
}

/**
 * The new code of an upgrade dies after it said `ready`, before the old manager let go.
 * An outside review killed it there (kill -9 right after its `ready`): the old manager
 * had already released the control sockets and the keeper, waited for a `done` that
 * never came, and passed the manager's signals on to the dead pid, for good: dmctl got
 * no answer, respawns failed, and a SIGTERM for the manager could reach whatever process
 * had the pid next. The old manager must go on with everything, itself.
 */
describe('an upgrade whose new code dies before it is let go', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const running = (d: DaemonStatus): boolean => d.state === 'running' && d.pid > 0;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n', 'restart-delay-max = 1s\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6400001\n');
    await host.startManager();
  });
  after(() => host.cleanup());

  /**
   * Sends SIGUSR2, stops the old manager (SIGSTOP) as soon as the new code is its child,
   * waits for the new code to say it sent `ready`, kills it, and lets the old one go on:
   * it finds `ready`, then the end, and has not let go. Should the new code be ready
   * before the old one was stopped (a loaded machine), the old one may have let go
   * already; what it says afterwards tells which case this was.
   */
  async function killSuccessorWhenReady(manager: number): Promise<string> {
    const from = host.managerLog.length;
    process.kill(manager, 'SIGUSR2');
    const successor = await waitFor('the new code to start', () => newCodeOf(manager), {
      timeoutMs: 60_000,
    });
    process.kill(manager, 'SIGSTOP');
    try {
      await waitFor(
        'the new code to say it is ready',
        () =>
          /waiting for the manager \(pid \d+\) to let go/.test(host.managerLog.slice(from))
            ? true
            : undefined,
        { timeoutMs: 60_000, describe: () => host.managerLog.slice(from) },
      );
      process.kill(successor, 'SIGKILL');
    } finally {
      process.kill(manager, 'SIGCONT');
    }
    return waitFor(
      'the old manager to say how the upgrade ended',
      () =>
        /ended before it was let go|ended while taking over|upgrade done/.exec(
          host.managerLog.slice(from),
        )?.[0],
      { describe: () => host.managerLog.slice(from) },
    );
  }

  test('the old manager goes on: it answers dmctl, respawns, and acts on its own signals', async () => {
    const first = await host.waitForDaemon('alice', 'alice/web', running, 'to run');
    let manager = host.managerPid();
    // Until one attempt hits the window between `ready` and `go` (all do, unless the new
    // code was ready before the test stopped the old manager). One that came too late
    // killed the new manager once it had taken over: the daemons live on in the keeper,
    // and a manager started again takes them back.
    let outcome = '';
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 20 && outcome !== 'ended before it was let go'; attempt++) {
      outcome = await killSuccessorWhenReady(manager);
      outcomes.push(outcome);
      if (outcome !== 'upgrade done') continue;
      await waitFor('the old manager to exit', () => (isAlive(manager) ? undefined : true));
      await host.startManager();
      manager = host.managerPid();
    }
    assert.equal(
      outcome,
      'ended before it was let go',
      `no attempt hit the window: ${outcomes.join(', ')}`,
    );
    assert.ok(isAlive(manager), 'the old manager lives');

    const status = await host.dmctl('alice', 'status');
    assert.equal(status.code, 0, status.stderr);
    const now = await host.waitForDaemon('alice', 'alice/web', running, 'to run');
    assert.equal(now.pid, first.pid, 'the daemon was not restarted');

    process.kill(now.pid, 'SIGKILL');
    const respawned = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => running(d) && d.pid !== now.pid,
      'to be respawned by the old manager',
    );
    assert.ok(isAlive(respawned.pid));

    const from = host.managerLog.length;
    process.kill(manager, 'SIGHUP');
    await waitFor('the old manager to act on SIGHUP itself', () =>
      /SIGHUP: /.test(host.managerLog.slice(from)) ? true : undefined,
    );
  });

  test('a later upgrade goes through, with one --takeover on its command line', async () => {
    const manager = host.managerPid();
    const from = host.managerLog.length;
    process.kill(manager, 'SIGUSR2');
    const successor = await waitFor(
      'the upgrade to be done',
      () =>
        /upgrade done: the manager runs as pid (\d+) now/.exec(host.managerLog.slice(from))?.[1],
    );
    const again = host.managerLog.length;
    process.kill(Number(successor), 'SIGUSR2');
    const third = await waitFor(
      'the second upgrade to be done',
      () =>
        /upgrade done: the manager runs as pid (\d+) now/.exec(host.managerLog.slice(again))?.[1],
    );
    const argv = readFileSync(`/proc/${third}/cmdline`, 'utf8').split('\0');
    assert.equal(argv.filter((arg) => arg === '--takeover').length, 1, argv.join(' '));
    const status = await host.dmctl('alice', 'status');
    assert.equal(status.code, 0, status.stderr);
  });

  test('once it has let go, the old manager respawns nothing and saves no state', async () => {
    // Exits at once, respawned every second: due several times while the new code stands.
    host.writeDaemon('alice', 'crashy', 'start=exit 3\nrestart_delay=1s\n');
    await host.dmctl('alice', 'rescan');
    await host.waitForDaemon('alice', 'alice/crashy', (d) => d.respawns >= 2, 'to crash-loop');
    const manager = host.managerPid();
    const from = host.managerLog.length;
    const output = host.managerProcess()?.stderr;
    assert.ok(output, "the manager's output is read");
    // The new code is stopped (SIGSTOP) the moment it is ready: let go, it takes nothing over.
    const successor = await new Promise<number>((resolve) => {
      const look = (): void => {
        const pid = /the new code is ready \(pid (\d+)\)/.exec(host.managerLog.slice(from))?.[1];
        if (pid === undefined) return;
        process.kill(Number(pid), 'SIGSTOP');
        output.off('data', look);
        resolve(Number(pid));
      };
      output.on('data', look);
      process.kill(manager, 'SIGUSR2');
    });
    const stateFile = join(host.dir, 'state', 'state.json');
    await delay(500);
    const handedOver = readFileSync(stateFile, 'utf8');
    const window = host.managerLog.length;
    // Three of crashy's respawns come due meanwhile.
    await delay(3_000);
    const meanwhile = host.managerLog.slice(window);
    const saved = readFileSync(stateFile, 'utf8');
    process.kill(successor, 'SIGCONT');
    await waitFor('the upgrade to be done', () =>
      /upgrade done/.test(host.managerLog.slice(from)) ? true : undefined,
    );
    assert.doesNotMatch(meanwhile, /crashy/, 'the old manager acted on a daemon it had let go');
    assert.equal(saved, handedOver, 'the old manager saved the state after letting go');
    const now = await host.waitForDaemon('alice', 'alice/crashy', () => true, 'to be listed');
    await host.waitForDaemon(
      'alice',
      'alice/crashy',
      (d) => d.respawns > now.respawns,
      'to be respawned by the new manager',
    );
  });
});
