import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isOwnChild } from '../process/own-children.ts';
import { getentAsync, getentSync } from './getent.ts';

test('getent passwd answers the same, run aside or blocking', async () => {
  const aside = await getentAsync('passwd', new AbortController().signal);
  assert.equal(typeof aside, 'string');
  assert.match(String(aside), /^root:[^:]*:0:0:/m);
  assert.equal(aside, getentSync('passwd'));
});

test('a getent abandoned is killed, and said so with its command', async () => {
  const abandon = new AbortController();
  const answer = getentAsync('group', abandon.signal);
  abandon.abort('SIGTERM');
  assert.deepEqual(await answer, {
    command: 'getent group',
    failure: 'getent group abandoned',
    abandoned: true,
  });
});

test('a getent run aside is libuv’s to reap until it ends (see reaper.ts)', async () => {
  const before = new Set(ownPids());
  const answer = getentAsync('passwd', new AbortController().signal);
  const spawned = ownPids().filter((pid) => !before.has(pid));
  assert.equal(spawned.length, 1, 'registered before the loop runs again');
  await answer;
  assert.ok(!ownPids().includes(spawned[0] ?? 0), 'let go at its exit');
});

/** This process's children that own-children.ts holds, from /proc. */
function ownPids(): number[] {
  return readdirSync('/proc/self/task').flatMap((task) =>
    readFileSync(`/proc/self/task/${task}/children`, 'latin1')
      .split(' ')
      .filter((pid) => pid.trim() !== '')
      .map(Number)
      .filter(isOwnChild),
  );
}
