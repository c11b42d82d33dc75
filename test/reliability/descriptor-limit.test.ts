import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { DAEMON_MANAGER, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

// Enough daemons (each with a log pipe) that 64 descriptors cannot take them all over.
const DAEMONS = 40;
const LIMIT = 64;

/** The soft and hard open-files limits of a process, from /proc/PID/limits. */
function openFilesLimit(pid: number): string {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return `${line?.[1]} ${line?.[2]}`;
}

/**
 * An outside review: with a keeper left by a kill -9'd manager, a manager started under
 * `ulimit -n 64` ran out of descriptors while starting, printed a stack trace, and stayed
 * in epoll holding the instance lock: nothing was respawned, dmctl hung, and a new
 * manager was refused as "already running".
 */
describe('a manager under a low open-files limit', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const running = (d: DaemonStatus): boolean => d.state === 'running' && d.pid > 0;
  let daemons: DaemonStatus[] = [];
  let manager: ChildProcess | undefined;

  /** A script that starts bin/daemon-manager after `ulimit` with these options. */
  function limited(name: string, ulimit: string): string {
    const path = join(host.dir, name);
    writeFileSync(path, `#!/bin/sh\nulimit ${ulimit}\nexec ${DAEMON_MANAGER} "$@"\n`, {
      mode: 0o755,
    });
    return path;
  }

  async function everyDaemonRunning(): Promise<DaemonStatus[]> {
    return waitFor(`all ${DAEMONS} daemons to run`, async () => {
      const all = (await host.status('alice')).filter(running);
      return all.length === DAEMONS ? all : undefined;
    });
  }

  /** kill -9 of the manager: its keeper, and the daemons, live on. */
  async function killManager(): Promise<void> {
    const child = manager;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    for (let n = 0; n < DAEMONS; n++)
      host.writeDaemon('alice', `d${n}`, 'start=exec sleep 6900777\noutput=log\n');
    manager = await host.startManager();
    daemons = await everyDaemonRunning();
  });
  after(() => host.cleanup());

  test('one too low to start says so, exits at once, and lets go of the lock; the daemons run on', async () => {
    await killManager();
    const keeper = host.keeperPid();
    assert.ok(keeper > 0, 'the keeper outlives its manager');
    const from = host.managerLog.length;
    // The hard limit too: raising the soft one cannot help.
    await assert.rejects(
      host.startManager([], limited('nofile-low', `-n ${LIMIT}`)),
      /the manager exited \(1\) before it ran/,
    );
    const said = host.managerLog.slice(from);
    assert.match(
      said,
      new RegExp(
        `cannot start: out of file descriptors .*open-files limit is ${LIMIT} \\(hard limit ${LIMIT}\\).*LimitNOFILE=.*ulimit -n`,
      ),
    );
    assert.doesNotMatch(said, /^\s+at /m, 'no stack trace');
    assert.ok(isAlive(keeper), 'the keeper still runs');
    for (const daemon of daemons) assert.ok(isAlive(daemon.pid), `${daemon.id} still runs`);

    manager = await host.startManager();
    const after = await everyDaemonRunning();
    assert.deepEqual(
      after.map((d) => d.pid).sort(),
      daemons.map((d) => d.pid).sort(),
      'a manager started afterwards takes the same daemons over',
    );
  });

  test('one too low for Node.js itself to start is said in one line, exit 1; the daemons run on', async () => {
    await killManager();
    const keeper = host.keeperPid();
    const from = host.managerLog.length;
    // Node.js crashed under 16 to 20 (SIGSEGV, nothing said) and aborted under 12 to 14.
    await assert.rejects(
      host.startManager([], limited('nofile-node', '-n 16')),
      /the manager exited \(1\) before it ran/,
    );
    assert.match(
      host.managerLog.slice(from),
      /cannot start: its open-files limit is 16 \(hard limit 16\), too low for Node\.js.*ulimit -n/,
    );
    assert.ok(isAlive(keeper), 'the keeper still runs');
    for (const daemon of daemons) assert.ok(isAlive(daemon.pid), `${daemon.id} still runs`);
    manager = await host.startManager();
    await everyDaemonRunning();
  });

  test('one with a low soft limit under a higher hard one raises it and starts; daemons get what they got before', async () => {
    const first = daemons.find((d) => d.id === host.id('alice/d0'));
    assert.ok(first !== undefined);
    const before = openFilesLimit(first.pid);
    await killManager();
    manager = await host.startManager([], limited('nofile-soft-low', `-Sn ${LIMIT}`));
    const [soft, hard] = openFilesLimit(manager.pid ?? 0).split(' ');
    assert.equal(soft, hard, 'the manager raised its soft limit to the hard one');
    assert.notEqual(soft, String(LIMIT));
    const taken = await everyDaemonRunning();
    assert.equal(taken.length, DAEMONS);

    const restart = await host.dmctl('alice', first.id, 'restart');
    assert.equal(restart.code, 0, restart.stderr);
    const again = await host.waitForDaemon(
      'alice',
      'alice/d0',
      (d) => running(d) && d.pid !== first.pid,
      'to run again under a new pid',
    );
    assert.equal(openFilesLimit(again.pid), before, 'a daemon started now has the limit of before');
  });
});
