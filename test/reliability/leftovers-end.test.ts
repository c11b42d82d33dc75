import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed, spawnDmctl } from '../helpers/cli.ts';
import {
  buildHangFs,
  endHang,
  fuseMissing,
  type HangFs,
  mountHangWriteFs,
  saidBy,
  switchHang,
} from '../helpers/hang-fs.ts';
import { TestHost } from '../helpers/host.ts';
import { processState } from '../helpers/proc.ts';
import { mkdirOwned } from '../helpers/user-files.ts';
import { waitFor } from '../helpers/wait.ts';

const FORKS = ['forks1', 'forks2', 'forks3', 'forks4'];
// The execve(2) system call's number, where the test knows it.
const EXECVE = ({ x64: 59, arm64: 221 } as Record<string, number>)[process.arch];

/** Is `pid` in an execve(2) (as /proc/PID/syscall says: its number first)? */
function inExec(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0] === String(EXECVE);
  } catch {
    return false;
  }
}

/**
 * Outside review 29b, F2: under load, a daemon whose main process exited while a child of
 * its own still ran stayed `stopping` once that child had ended, until its stop_timeout,
 * then "still there 5 s after SIGKILL". The keeper reads what is ready in batches: the
 * end of runs' processes (SIGCHLD) and the end of a run's exec pipe came in one. The
 * SIGCHLD's reaping closed the exec pipe and opened the run's cgroup.events to watch it,
 * which can take the pipe's number (the lowest free one); the pipe's event, next in the
 * batch, found no run of that pipe and unwatched the number: the cgroup.events. Here such
 * a batch is made: the keeper is stopped (SIGSTOP) while one daemon dies and the execs of
 * four others (held on a file system whose reads wait, test/fixtures/hang-write-fs.c)
 * end, each then exiting and leaving a child: with fewer free numbers below the pipes than
 * runs that end, a cgroup.events takes a pipe's.
 */
describe('the leftovers of a run, ended, are seen to end', {
  skip:
    (process.getuid?.() !== 0 && 'needs root') ||
    (EXECVE === undefined && `execve's number on ${process.arch} is not known here`),
}, () => {
  const host = new TestHost();
  let mount: HangFs | undefined;
  let missing: string | undefined;
  const said = (text: string): number => saidBy(mount, text);
  const hang = (on: boolean): Promise<void> => switchHang(mount, on);

  before(async () => {
    missing = fuseMissing();
    if (missing) return;
    const alice = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n');
    const point = join(alice.home, 'slowfs');
    mkdirOwned(point, alice);
    mount = await mountHangWriteFs(buildHangFs(host.dir, 'hang-write-fs'), point, alice, 'reads');
    // A daemon's first run leaves a child behind and exits; its next ones run.
    const ran = `${alice.home}/ran-$1`;
    writeFileSync(
      join(point, 'program'),
      `#!/bin/sh\n[ -e ${ran} ] && exec sleep 100000\ntouch ${ran}\nsleep 100000 &\nexit 0\n`,
      { mode: 0o755 },
    );
    host.writeDaemon('alice', 'other', 'start=exec sleep 100000\n');
    // Left stopping, each would stay so for 5 minutes.
    for (const name of FORKS)
      host.writeDaemon(
        'alice',
        name,
        `start=${point}/program ${name}\nautostart=no\nstop_timeout=5m\n`,
      );
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await endHang(mount);
    await mount?.stop();
    await cleanUp(host);
  });

  test('runs whose main processes ended as their exec pipes were read, in one turn', async (t) => {
    if (missing) return t.skip(missing);
    const other = await host.waitForDaemon(
      'alice',
      'alice/other',
      (row) => row.state === 'running' && row.pid > 0,
      'to run',
    );
    await hang(true);
    const held = said('read held');
    const starts = FORKS.map((name) => spawnDmctl(host, 'alice', name, 'start'));
    const pids = new Map<string, number>();
    try {
      await waitFor('an exec to be held', () => (said('read held') > held ? true : undefined));
      for (const name of FORKS) {
        const made = (row: { pid: number }): boolean => row.pid > 0;
        pids.set(name, (await host.waitForDaemon('alice', `alice/${name}`, made, 'made')).pid);
      }
      await waitFor('the execs of the four to be held', () =>
        [...pids.values()].every(inExec) ? true : undefined,
      );
      const keeper = host.keeperPid();
      const from = host.managerLog.length;
      process.kill(keeper, 'SIGSTOP');
      try {
        // Its SIGCHLD comes first, then the ends of the four execs, then their exits.
        process.kill(other.pid, 'SIGKILL');
        await waitFor('other to be dead', () =>
          processState(other.pid) === 'Z' ? true : undefined,
        );
        await hang(false);
        await waitFor('the four to have exited, leaving their children', () =>
          [...pids.values()].every((pid) => processState(pid) === 'Z') ? true : undefined,
        );
      } finally {
        process.kill(keeper, 'SIGCONT');
      }
      // What each left is stopped before it is started again; then its next run runs.
      for (const [name, pid] of pids) {
        const row = await host.waitForDaemon(
          'alice',
          `alice/${name}`,
          (row) => row.state === 'running' && row.pid > 0 && row.pid !== pid,
          'to run again',
        );
        assert.ok(processState(row.pid) !== undefined);
      }
      assert.doesNotMatch(host.managerLog.slice(from), /still there/);
    } finally {
      for (const start of starts) await start.stop();
    }
  });
});
