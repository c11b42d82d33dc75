import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { killManager, saved } from '../helpers/accounts.ts';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const FAST = ['one', 'two', 'three'];

/**
 * A manager killed in the middle of its own shutdown (systemd's stop timeout, 90 s by
 * default, ran out before a daemon's long stop_timeout did) had saved every daemon it had
 * stopped as wanted down, as if its user had stopped it: the next manager left them all
 * down (an outside review, 5 of 5). They are the daemons of a manager that crashed: what
 * was running runs again; what a user stopped, or never started, stays down.
 */
describe('a manager killed while it shuts down', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  let manager: ChildProcess | undefined;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    for (const name of FAST) host.writeDaemon('alice', name, 'start=exec sleep 100000\n');
    // Its stop outlasts the kill: the shutdown is under way when the manager dies.
    host.writeDaemon(
      'alice',
      'slow',
      "start=trap '' TERM; while :; do sleep 1; done\nstop_timeout=20s\n",
    );
    host.writeDaemon('alice', 'held', 'start=exec sleep 100000\n');
    host.writeDaemon('alice', 'idle', 'start=exec sleep 100000\nautostart=no\n');
    manager = await host.startManager();
    for (const name of [...FAST, 'slow', 'held'])
      await host.waitForDaemon('alice', `alice/${name}`, (d) => d.state === 'running', 'to run');
    assert.equal((await host.dmctl('alice', 'held', 'stop', '--wait')).code, 0);
    manager.kill('SIGTERM');
    // Saved once stopped by the shutdown, while the slow one still stops.
    await waitFor('the shutdown to save the fast daemons stopped', () =>
      FAST.every((name) => saved(host, `alice/${name}`)?.state === 'stopped') &&
      saved(host, 'alice/slow')?.state === 'stopping'
        ? true
        : undefined,
    );
    await killManager(manager);
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('the daemons the shutdown had stopped run again', async () => {
    for (const name of FAST)
      await host.waitForDaemon('alice', `alice/${name}`, (d) => d.state === 'running', 'to run');
    // And why says why: it read as after a clean restart (an outside review, 74b, F3).
    const why = (await host.dmctl('alice', 'one', 'why')).stdout;
    assert.match(
      why,
      /the manager is shutting down[\s\S]*the manager before was killed during its shutdown \(no clean stop saved\): it runs again, as it ran before[\s\S]*started, pid/,
      why,
    );
  });

  test('the one it was stopping runs again once that stop is over', async () => {
    // After its stop's deadline, 20 s after the SIGTERM, as saved.
    await waitFor(
      'alice/slow to run again',
      async () =>
        (await host.status('alice')).find((d) => d.name === 'slow' && d.state === 'running'),
      { timeoutMs: 90_000 },
    );
    // Said too, its stop gone on first (an outside review, 75b, F2).
    const why = (await host.dmctl('alice', 'slow', 'why')).stdout;
    assert.match(
      why,
      /the manager before was killed during its shutdown \(no clean stop saved\): it runs again[\s\S]*started, pid/,
      why,
    );
  });

  test('what the user stopped, and what never started, stay down', async () => {
    const status = await host.status('alice');
    for (const name of ['held', 'idle'])
      assert.equal(status.find((d) => d.name === name)?.state, 'stopped', name);
  });
});

/**
 * An outside review (72a, F1, F2): a `kill -9` of the manager 0-2 ms after its SIGTERM, the
 * keeper alive: the daemons had their SIGTERM, but the state still said they ran (saved
 * after the SIGTERMs went out); the next manager took the ends that SIGTERM brought for the
 * daemons' own: a `restart=on-failure` daemon or a `restart=no` task left down for good,
 * others counted as respawns (3 of 10 such kills). A shutdown's stops are saved first.
 */
describe('a manager killed once its shutdown has told a daemon to stop', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  // Root's own daemon is stopped with the manager: the sandbox's clean-up kills users'.
  after(async () => {
    await host.stopManager().catch(() => undefined);
    await cleanUp(host);
  });

  test('the state said the stop before the daemon had its SIGTERM, and it runs again after', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    const state = join(host.dir, 'state', 'state.json');
    const seen = join(host.dir, 'state-at-term.json');
    const dir = join(host.dir, 'root-daemons');
    mkdirSync(dir, { recursive: true });
    // Root's own, to read the state the moment its SIGTERM comes; it takes 2 s to stop,
    // so the manager is still stopping when it is killed.
    writeFileSync(
      join(dir, 'onf.conf'),
      `start=exec sh -c 'trap "cp ${state} ${seen}; sleep 2; exit 0" TERM; while :; do sleep 0.1; done'\nrestart=on-failure\n`,
      { mode: 0o600 },
    );
    const manager = await host.startManager();
    const running = (other = 0) =>
      waitFor('root/onf to run', async () =>
        (await host.status('root')).find(
          (d) => d.id === 'root/onf' && d.state === 'running' && d.pid > 0 && d.pid !== other,
        ),
      );
    const { pid } = await running();
    await waitFor('its run saved', () =>
      readFileSync(state, 'utf8').includes(`"pid":${pid}`) ? true : undefined,
    );
    manager.kill('SIGTERM');
    await waitFor('its SIGTERM', () => (existsSync(seen) ? true : undefined));
    await killManager(manager);
    const then = JSON.parse(readFileSync(seen, 'utf8')) as {
      daemons: Record<string, { state?: string; afterwards?: string }>;
    };
    assert.equal(then.daemons['root/onf']?.state, 'stopping', JSON.stringify(then.daemons));
    assert.equal(then.daemons['root/onf']?.afterwards, 'start');

    await waitFor('its run to end', () => (isAlive(pid) ? undefined : true));
    await host.startManager();
    await running(pid);
    const why = (await host.dmctl('root', 'onf', 'why')).stdout;
    await host.stopManager();
    assert.match(
      why,
      new RegExp(`pid ${pid} exited with status 0 after \\d+s, while stopping`),
      why,
    );
  });
});
