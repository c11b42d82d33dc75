import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmodSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { living } from '../helpers/census.ts';
import { waitForDeath } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const BASE = 6_000_000 + randomInt(1_000_000) * 10;
const SLEEPS = { alice: `sleep ${BASE + 1}`, bob: `sleep ${BASE + 2}`, carol: `sleep ${BASE + 3}` };

describe('users and homes that go away', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const pids = new Map<string, number>();
  const byUser = async (): Promise<Map<string, DaemonStatus>> =>
    new Map((await host.status('root')).map((row) => [row.user.slice(host.prefix.length), row]));
  /** Sends SIGHUP and waits until the manager's log from then on says `expected`. */
  const hangUp = (expected: RegExp): Promise<string> => {
    const from = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGHUP');
    return waitFor(
      `the manager to say ${expected} after SIGHUP`,
      () => (expected.test(host.managerLog.slice(from)) ? host.managerLog.slice(from) : undefined),
      { describe: () => host.managerLog.slice(from) },
    );
  };
  /** Asserts the daemons of `users` run on with the pids they had at the start. */
  const assertRunOn = async (users: readonly string[]): Promise<void> => {
    const rows = await byUser();
    for (const user of users) {
      const row = rows.get(user);
      assert.equal(row?.state, 'running', `${user}'s daemon runs`);
      assert.equal(row?.pid, pids.get(user), `${user}'s daemon is the same process`);
      assert.ok(isAlive(row?.pid ?? 0));
    }
  };

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n{carol}\n{dave}\n');
    for (const [user, sleep] of Object.entries(SLEEPS))
      host.writeDaemon(user, 'work', `start=exec ${sleep}\n`);
    // dave's home was never made (or was lost): the manager starts all the same.
    rmSync(host.user('dave').home, { recursive: true });
    await host.startManager();
    for (const user of Object.keys(SLEEPS)) {
      const row = await host.waitForDaemon(
        'root',
        `${user}/work`,
        (d) => d.state === 'running',
        'to run',
      );
      pids.set(user, row.pid);
    }
  });
  after(() => host.cleanup());

  test('a home missing at start is reported; the other daemons run', async () => {
    assert.match(
      host.managerLog,
      new RegExp(`warn .*: the home directory ${host.user('dave').home} does not exist`),
    );
    await assertRunOn(['alice', 'bob', 'carol']);
  });

  test('a user deleted from passwd: SIGHUP says so and stops theirs; others run on', async () => {
    const alice = host.user('alice');
    execFileSync('userdel', ['-f', alice.name], { stdio: 'ignore' });
    await hangUp(new RegExp(`warn ${alice.name} may no longer run daemons`));
    await waitForDeath(pids.get('alice') ?? 0, "the deleted user's daemon");
    assert.deepEqual(living(SLEEPS.alice), []);
    await assertRunOn(['bob', 'carol']);
  });

  test('a home made unreadable: SIGHUP says so; the other daemons run on', async () => {
    const carol = host.user('carol');
    chmodSync(carol.home, 0o000);
    try {
      await hangUp(new RegExp(`warn .*${carol.home}/.*EACCES`));
      await assertRunOn(['bob']);
    } finally {
      chmodSync(carol.home, 0o755);
    }
  });

  test('a home removed: SIGHUP says so; the other daemons run on', async () => {
    const carol = host.user('carol');
    rmSync(carol.home, { recursive: true });
    await hangUp(new RegExp(`warn .*the home directory ${carol.home} does not exist`));
    await assertRunOn(['bob']);
  });
});
