import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KeeperLink } from '../../src/keeper/link.ts';
import type { KeeperEvent } from '../../src/keeper/protocol.ts';
import { loadNative } from '../../src/process/native.ts';
import { readStat } from '../../src/process/proc-stat.ts';
import { FIXTURES } from '../helpers/host.ts';
import { KEEPER } from '../helpers/keeper-driver.ts';
import { isAlive, liveGroupMembers } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

/*
 * A keeper takes on what is left of a process group whose leader a keeper gone reaped (no
 * cgroup): the members it finds must be the run's (in the group, begun no earlier than the
 * run, of its uid), and what it finds is stopped by its signals.
 */
describe('a keeper adopting a process group whose leader is gone', () => {
  const dir = mkdtempSync('/tmp/dm-leaderless-');
  const uid = process.getuid?.() ?? 0;
  let link: KeeperLink | undefined;
  const events: KeeperEvent[] = [];
  let group = 0;
  let ticks = 0;
  let member = 0;

  before(async () => {
    ({ group, ticks } = await leaderGone('sleep 6800425'));
    member = liveGroupMembers(group)[0] as number;
    link = await keeper(dir, events);
  });
  after(() => {
    if (isAlive(member)) process.kill(member, 'SIGKILL');
    link?.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  const answer = (seq: number) =>
    waitFor('the keeper to answer the adopt', () =>
      events.find(
        (event) =>
          (event.kind === 'adopt-failed' && event.seq === seq) ||
          (event.kind === 'run' && event.run.seq === seq),
      ),
    );

  test('refuses a group whose members run as another uid', async () => {
    link?.adopt(1, 'u/d', group, ticks, '', uid + 1);
    assert.equal((await answer(1)).kind, 'adopt-failed');
    assert.ok(isAlive(member));
  });

  test('refuses a group whose members began before the run', async () => {
    link?.adopt(2, 'u/d', group, (readStat(member)?.startTime ?? 0) + 1, '', uid);
    assert.equal((await answer(2)).kind, 'adopt-failed');
    assert.ok(isAlive(member));
  });

  test('takes on the run’s group and stops what is left of it', async () => {
    link?.adopt(3, 'u/d', group, ticks, '', uid);
    const adopted = await answer(3);
    assert.equal(adopted.kind, 'run');
    assert.ok(adopted.kind === 'run' && !adopted.run.alive && !adopted.run.empty);
    assert.deepEqual(await link?.signal(3, 15), { reached: 1, errno: 0 });
    await waitFor('the run to be empty', () =>
      events.some((event) => event.kind === 'empty' && event.run.seq === 3) ? true : undefined,
    );
    assert.ok(!isAlive(member));
  });
});

/*
 * An outside review (69b, F1, High): a group whose members each fork the next and exit
 * within 20 ms (a pre-forking server re-spawning workers): the members the keeper held
 * ended, their successors were not in its look at /proc, and the run was taken for empty,
 * its stop over, the group running on.
 */
describe('a keeper adopting a process group whose members keep forking the next and ending', () => {
  const dir = mkdtempSync('/tmp/dm-leaderless-chain-');
  const uid = process.getuid?.() ?? 0;
  let link: KeeperLink | undefined;
  const events: KeeperEvent[] = [];
  let group = 0;
  let ticks = 0;

  before(async () => {
    ({ group, ticks } = await leaderGone(`sh ${FIXTURES}/fork-chain.sh`));
    link = await keeper(dir, events);
  });
  after(() => {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // Gone.
    }
    link?.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  test('is not taken for empty while the chain lives, and its SIGKILL ends it', async () => {
    link?.adopt(1, 'u/d', group, ticks, '', uid);
    await waitFor('the adopt', () =>
      events.some((event) => event.kind === 'run' && event.run.seq === 1) ? true : undefined,
    );
    // Some hundred generations: a keeper that loses the chain says `empty` meanwhile.
    const seen = new Set<number>();
    await waitFor('a hundred members of the chain to come and go', () => {
      for (const pid of liveGroupMembers(group)) seen.add(pid);
      return seen.size >= 100 ? true : undefined;
    });
    assert.ok(!events.some((event) => event.kind === 'empty'), 'taken for empty as it ran');
    const killed = await link?.signal(1, 9);
    assert.equal(killed?.errno, 0);
    await waitFor('the run to be empty', () =>
      events.some((event) => event.kind === 'empty' && event.run.seq === 1) ? true : undefined,
    );
    assert.deepEqual(liveGroupMembers(group), []);
  });
});

/**
 * A process group whose leader ran `member &` and ended (reaped here), the member left:
 * the group's id and the leader's start time.
 */
async function leaderGone(member: string): Promise<{ group: number; ticks: number }> {
  const leader = spawn('sh', ['-c', `${member} & read line`], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const group = leader.pid as number;
  const ticks = readStat(group)?.startTime as number;
  await waitFor('its member', () => liveGroupMembers(group).find((pid) => pid !== group));
  const ended = new Promise((resolve) => leader.on('exit', resolve));
  leader.stdin?.end();
  await ended;
  return { group, ticks };
}

/** A keeper of its own, its events collected in `events`. */
async function keeper(dir: string, events: KeeperEvent[]): Promise<KeeperLink> {
  const { link } = await KeeperLink.attach(loadNative(), KEEPER, join(dir, 'keeper.sock'));
  link.handle({ event: (event) => events.push(event), lost: () => undefined });
  return link;
}
