import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const COUNT = 100;

/**
 * An outside review made root's manager abort (SIGABRT, exit 134, nothing in its log),
 * 7 times in 8, as an ordinary user: 200 daemons flooding their sd_notify sockets, their
 * files deleted, a rescan, then `dmctl stop` of them 20 at a time. libuv aborted in
 * epoll_ctl: a notify socket was closed with its poll handle only stopped, still in the
 * epoll set through the keeper's copy; and a daemon whose stop ended while `stop` looked
 * for its file was forgotten twice. Every user then lost supervision.
 */
describe("one user's notify floods and forgotten daemons", { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('never bring the manager down: each daemon is forgotten once, others stay supervised', async () => {
    const flood = join(host.dir, 'notify-flood');
    execFileSync('cc', ['-O2', '-o', flood, join(FIXTURES, 'notify-flood.c')]);
    execFileSync('chmod', ['755', host.dir, flood]);
    host.writeMaster('[can_run_as]\n{mallory}\n{alice}\n');
    host.writeDaemon('alice', 'victim', 'start=exec sleep 7790001\n');
    const write = (): void => {
      for (let index = 0; index < COUNT; index++)
        host.writeDaemon('mallory', `f${index}`, `start=exec ${flood} 2000 1\nready=notify\n`);
    };
    const allRun = (): Promise<true> =>
      waitFor(
        `${COUNT} flooding daemons to run`,
        async () =>
          (await host.status('mallory')).filter((daemon) => daemon.state === 'running').length ===
          COUNT
            ? true
            : undefined,
        {
          timeoutMs: 120_000,
          describe: async () =>
            (await host.status('mallory'))
              .filter((daemon) => daemon.state !== 'running')
              .map((daemon) => `${daemon.id} ${daemon.state}`)
              .join(', '),
        },
      );
    write();
    const manager = await host.startManager();
    let ended: string | undefined;
    manager.once('exit', (code, signal) => {
      ended = `exit ${code ?? signal}`;
    });
    await allRun();
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < COUNT; index++)
        rmSync(host.daemonFile('mallory', `f${index}`), { force: true });
      await host.dmctl('mallory', 'rescan');
      const stops = [];
      for (let index = 0; index < COUNT; index++) {
        stops.push(host.dmctl('mallory', `f${index}`, 'stop'));
        if (stops.length === 20) await Promise.all(stops.splice(0));
      }
      await Promise.all(stops);
      await waitFor('every flooding daemon forgotten', async () =>
        (await host.status('mallory')).length === 0 ? true : undefined,
      );
      assert.equal(ended, undefined, `the manager ended (${ended}) in round ${round}`);
      if (round < 2) {
        write();
        await host.dmctl('mallory', 'rescan');
        await allRun();
      }
    }
    const forgotten = host.managerLog.split('\n').filter((line) => line.includes('forgotten'));
    assert.equal(forgotten.length, 3 * COUNT, 'each daemon forgotten once per round');
    // Alice's daemon is still supervised: killed, it comes back.
    const [victim] = await host.status('alice');
    process.kill(victim?.pid ?? 0, 'SIGKILL');
    await host.waitForDaemon(
      'alice',
      'alice/victim',
      (daemon) => daemon.state === 'running' && daemon.pid !== victim?.pid,
      'to be respawned',
    );
  });
});
