import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { childrenOf, living, zombieChildrenOf } from '../helpers/census.ts';
import { readWhen } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { processState } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const BASE = 5_000_000 + randomInt(1_000_000) * 10;
/** The child each crashing daemon leaves in its group; the second ignores SIGTERM. */
const LEFTOVER = `sleep ${BASE + 1}`;
const STUBBORN = `sleep ${BASE + 2}`;
const CRASHES = 4;

/** Waits until a process has left /proc: dead and waited for by its parent. */
const waitUntilReaped = (pid: number, what: string): Promise<true> =>
  waitFor(`${what} (pid ${pid}) to be reaped`, () =>
    processState(pid) === undefined ? true : undefined,
  );

describe("what a daemon's processes leave behind", { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const orphansFile = (): string => join(host.user('alice').home, 'orphans');

  before(async () => {
    // Quick respawns, so that several crashes take little time.
    host.writeMaster('[can_run_as]\n{alice}\n', 'cooldown-step = 100ms\ncooldown-max = 200ms');
    host.writeDaemon('alice', 'parent', `start=${LEFTOVER} & wait\n`);
    host.writeDaemon(
      'alice',
      'stubborn',
      `start=(trap '' TERM; exec ${STUBBORN}) & wait\nstop_timeout=1s\n`,
    );
    host.writeDaemon(
      'alice',
      'orphans',
      `start=exec ${FIXTURES}/orphans.sh ${orphansFile()} 20\nautostart=no\n`,
    );
    await host.startManager();
  });
  after(() => host.cleanup());

  for (const [name, child, how] of [
    ['parent', LEFTOVER, 'stopped'],
    ['stubborn', STUBBORN, 'killed after stop_timeout, even ignoring SIGTERM,'],
  ] as const)
    test(`what a dead main process left in its group is ${how} before each respawn`, async () => {
      const leftovers: number[] = [];
      for (let crash = 1; crash <= CRASHES; crash++) {
        const running = await host.waitForDaemon(
          'alice',
          `alice/${name}`,
          (d) => d.state === 'running' && d.pid > 0,
          `to run (crash ${crash})`,
        );
        const [copy] = await waitFor(`the child of alice/${name} to start`, () => {
          const copies = living(child);
          return copies.length > 0 ? copies : undefined;
        });
        assert.equal(copy?.pgid, running.pid, 'the child is in the daemon’s group');
        leftovers.push(copy?.pid ?? 0);
        process.kill(running.pid, 'SIGKILL');
        const next = await host.waitForDaemon(
          'alice',
          `alice/${name}`,
          // Its pid is 0 for a moment after the spawn, until the keeper reports the fork.
          (d) => d.state === 'running' && d.pid > 0 && d.pid !== running.pid,
          `to be respawned after crash ${crash}`,
        );
        const copies = living(child);
        assert.ok(
          copies.every((entry) => entry.pgid === next.pid),
          `after crash ${crash} no child of an earlier run lives: ${JSON.stringify(copies)}`,
        );
        assert.equal(next.respawns, crash);
      }
      // The leftovers were orphans of the keeper (a subreaper): it must also reap them.
      for (const pid of leftovers) await waitUntilReaped(pid, 'a leftover child');
      assert.ok(living(child).length <= 1, 'no pile-up');
    });

  test('orphans reparented to the keeper are reaped: no zombie children', async () => {
    const start = await host.dmctl('alice', 'orphans', 'start');
    assert.equal(start.code, 0, start.stderr);
    const text = await readWhen(orphansFile(), (t) => t.endsWith('done\n'), 'the orphans list');
    const orphans = text
      .split('\n')
      .filter((line) => /^\d+$/.test(line))
      .map(Number);
    assert.equal(orphans.length, 20);
    // The keeper is the parent of the daemons and a subreaper: orphans go to it.
    const keeper = host.keeperPid();
    // Each lives a second: long enough to be seen as the keeper's child.
    const children = childrenOf(keeper);
    const alive = orphans.filter((pid) => processState(pid) !== undefined);
    assert.ok(alive.length > 0, 'orphans are there to be seen');
    assert.deepEqual(
      alive.filter((pid) => !children.includes(pid)),
      [],
      'every orphan was reparented to the keeper',
    );
    for (const pid of orphans) await waitUntilReaped(pid, 'an orphan');
    for (const parent of [keeper, host.managerPid()])
      await waitFor(
        'the keeper and the manager to have no zombie children',
        () => (zombieChildrenOf(parent).length === 0 ? true : undefined),
        { describe: () => JSON.stringify(zombieChildrenOf(parent)) },
      );
  });
});
