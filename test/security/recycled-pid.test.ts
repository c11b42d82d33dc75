import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * Starts a process of `user` that gets exactly `pid` (a pid the kernel hands out again
 * once it is free: ns_last_pid, writable by root, says which comes next), as the leader of
 * its own process group, as another user's daemon would be.
 */
async function processWithPid(pid: number, uid: number, gid: number): Promise<ChildProcess> {
  for (let attempt = 0; attempt < 200; attempt++) {
    writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
    const child = spawn('sleep', ['6100999'], { uid, gid, detached: true, stdio: 'ignore' });
    if (child.pid === pid) return child;
    child.kill('SIGKILL');
    // Something else on the machine took the pid first: try again.
  }
  throw new Error(`could not get pid ${pid} for the victim`);
}

// Without cgroups (cgroups = no, personal mode) the attack has no target: a daemon is
// followed by its process group, and the kernel never hands out a pid that is still a
// living group's id; once the group is empty, the daemon's stop is over.
for (const cgroups of ['yes'])
  describe(`signals never reach a process that took a dead daemon's pid (cgroups = ${cgroups})`, {
    skip: !root && 'needs root',
  }, () => {
    const host = new TestHost();
    let victim: ChildProcess | undefined;
    let deadPid = 0;

    before(async () => {
      host.writeMaster('[can_run_as]\n{mallory}\n{bob}\n', `cgroups = ${cgroups}`);
      // Its main process exits at once; what it left behind ignores SIGTERM: the daemon
      // stays `stopping` for a day, its main process's pid long free.
      host.writeDaemon(
        'mallory',
        'hold',
        // SIGTERM is ignored before the fork, so the leftover ignores it from its first instant.
        `start=trap '' TERM; setsid sleep 6100998 & exit 0\nstop_timeout=24h\n`,
      );
      await host.startManager();
      const held = await host.waitForDaemon(
        'mallory',
        'mallory/hold',
        (d) => d.state === 'stopping' && d.pid > 0 && !isAlive(d.pid),
        'to stop forever, its main process gone',
      );
      deadPid = held.pid;
      const bob = host.user('bob');
      victim = await processWithPid(deadPid, bob.uid, bob.gid);
    });
    after(async () => {
      victim?.kill('SIGKILL');
      await host.cleanup();
    });

    for (const signal of ['-KILL', '-TERM', '-HUP'])
      test(`dmctl kill ${signal} on the daemon never signals the process with its old pid`, async () => {
        await host.dmctl('mallory', 'hold', 'kill', signal);
        // The answer comes after the keeper signalled: anything sent has arrived by now.
        const status = await host.status('mallory');
        assert.ok(status.length > 0);
        assert.ok(isAlive(deadPid), `bob's process ${deadPid} is alive`);
        assert.equal(victim?.exitCode, null);
        assert.equal(victim?.signalCode, null);
      });

    test('the state file keeps the start time of the daemon, not of the pid now', async () => {
      // A dmctl answer waits for the state to be on disk; then the manager and its keeper
      // die, and the next manager must not take bob's process for mallory's survivor.
      await host.dmctl('mallory', 'status');
      const keeper = host.keeperPid();
      const manager = host.managerPid();
      process.kill(manager, 'SIGKILL');
      process.kill(keeper, 'SIGKILL');
      await waitFor('the manager and keeper to die', () =>
        isAlive(manager) || isAlive(keeper) ? undefined : true,
      );
      await host.startManager();
      await host.waitForDaemon('root', 'mallory/hold', () => true, 'to be known');
      assert.ok(isAlive(deadPid), `bob's process ${deadPid} is alive`);
      assert.equal(victim?.signalCode, null);
    });
  });
