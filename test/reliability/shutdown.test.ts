import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { living } from '../helpers/census.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * The first review found a SIGTERM of the manager closing every socket, then waiting for
 * the longest stop_timeout (24 h) of a daemon that ignores SIGTERM. The admin's
 * max-stop-timeout bounds every stop, and dmctl is answered while the daemons stop.
 */
describe('a shutdown with a daemon that ignores SIGTERM and asks for 24 h', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let manager: ChildProcess | undefined;
  let stuckPid = 0;
  const during: { status?: string | undefined; start?: string } = {};
  let exitCode: number | null = null;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n', 'max-stop-timeout = 10s');
    host.writeDaemon(
      'alice',
      'stuck',
      "start=trap '' TERM; exec sleep 6500001\nstop_timeout=24h\n",
    );
    host.writeDaemon('alice', 'idle', 'start=exec sleep 6500002\nautostart=no\n');
    manager = await host.startManager();
    stuckPid = (await host.waitForDaemon('alice', 'alice/stuck', (d) => d.pid > 0, 'to run')).pid;
    const exited = new Promise<number | null>((resolve) =>
      manager?.once('exit', (code) => resolve(code)),
    );
    manager.kill('SIGTERM');
    // Asked while the manager shuts down: it answers, and says the daemon is stopping.
    during.status = (
      await host.waitForDaemon('alice', 'alice/stuck', (d) => d.state === 'stopping', 'to stop')
    ).state;
    const start = await host.dmctl('alice', 'idle', 'start');
    during.start = start.stderr;
    exitCode = await exited;
  });
  after(() => host.cleanup());

  test('dmctl status is answered while the daemons stop', () => {
    assert.equal(during.status, 'stopping');
  });

  test('nothing new starts meanwhile, and the caller is told why', () => {
    assert.match(during.start ?? '', /the manager is shutting down/);
  });

  test('the stop is cut at max-stop-timeout: the daemon is killed, the manager exits 0', () => {
    assert.equal(exitCode, 0);
    assert.ok(!isAlive(stuckPid), `pid ${stuckPid} is gone`);
  });

  test('the log says the daemon was killed at its deadline', async () => {
    await waitFor(
      'the last lines',
      () => (host.managerLog.includes('SIGKILL') ? true : undefined),
      {
        describe: () => host.managerLog,
      },
    );
  });
});

/**
 * An outside review (39a, F2, High): a user whose `.lock` was a FIFO (not loaded, looked
 * at again at 1, 3, 10 and 30 s) removed it during root's SIGTERM while another daemon
 * took its time to stop: the retry loaded and started their daemon, and the manager never
 * exited. Nothing starts once the shutdown has begun, and the manager exits.
 */
describe('a user whose lock comes free during a shutdown', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('has nothing started, and the manager exits', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n');
    host.writeDaemon('alice', 'slow', "start=trap '' TERM; exec sleep 6500011\nstop_timeout=8s\n");
    host.writeDaemon('mallory', 'late', 'start=exec sleep 6500012\n');
    const lock = join(host.user('mallory').home, '.daemon-manager/daemons/.lock');
    rmSync(lock, { force: true });
    execFileSync('runuser', ['-u', host.user('mallory').name, '--', 'mkfifo', lock]);
    const manager = await host.startManager();
    await host.waitForDaemon('alice', 'alice/slow', (d) => d.pid > 0, 'to run');
    await waitFor('the lock refused', () =>
      /\.lock is not a regular file of theirs/.test(host.managerLog) ? true : undefined,
    );
    const exited = new Promise<number | null>((resolve) =>
      manager.once('exit', (code) => resolve(code)),
    );
    const from = host.managerLog.length;
    manager.kill('SIGTERM');
    await waitFor('the shutdown to begin', () =>
      /SIGTERM: stopping every daemon/.test(host.managerLog.slice(from)) ? true : undefined,
    );
    rmSync(lock);
    // Looked at again at 1, 3 and 10 s: the stop of slow takes 8 s. (It never exited.)
    let exitCode: number | null | 'running' = 'running';
    void exited.then((code) => {
      exitCode = code;
    });
    await waitFor('the manager to exit', () => (exitCode === 'running' ? undefined : true), {
      timeoutMs: 60_000,
      describe: () => host.managerLog.slice(from),
    }).finally(() => manager.kill('SIGKILL'));
    assert.equal(exitCode, 0);
    assert.equal(living('sleep 6500012').length, 0, 'mallory/late does not run');
    assert.doesNotMatch(host.managerLog.slice(from), /late: started/);
  });
});
