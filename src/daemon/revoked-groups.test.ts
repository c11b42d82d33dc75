import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Account, makeAccountDb } from '../users/accounts.ts';
import { groupNameIn, revokedGroups } from './revoked-groups.ts';

const bob: Account = { name: 'bob', uid: 1002, gid: 1002, home: '/home/bob' };

function db(groups: [string, number, string[]][]) {
  return makeAccountDb(
    [bob],
    groups.map(([name, gid, members]) => ({ name, gid, members })),
  );
}

describe('revokedGroups', () => {
  test('nothing when the run holds only groups its user has now', () => {
    const now = db([
      ['bob', 1002, []],
      ['web', 3000, ['bob']],
    ]);
    assert.deepEqual(
      revokedGroups([1002, 1002, 3000], bob, now, () => undefined),
      [],
    );
  });

  test('a group taken away is named as it was named then', () => {
    const then = db([
      ['bob', 1002, []],
      ['web', 3000, ['bob']],
    ]);
    const now = db([
      ['bob', 1002, []],
      ['web', 3000, []],
    ]);
    const said = revokedGroups([1002, 3000], bob, now, (gid) => groupNameIn(then, gid));
    assert.deepEqual(said, ['bob is no longer in web (gid 3000)']);
  });

  test('a group given another gid, the user in it, is said as another group now', () => {
    const then = db([
      ['bob', 1002, []],
      ['web', 3000, ['bob']],
    ]);
    const now = db([
      ['bob', 1002, []],
      ['web', 3100, ['bob']],
      ['other', 3000, []],
    ]);
    const said = revokedGroups([1002, 3000], bob, now, (gid) => groupNameIn(then, gid));
    assert.deepEqual(said, ['its group web is another group now (gid 3000, now 3100)']);
  });

  test('taken over, names of then unknown: the gid, and the group that has it now', () => {
    const now = db([
      ['bob', 1002, []],
      ['web', 3100, ['bob']],
      ['other', 3000, []],
    ]);
    const said = revokedGroups([1002, 3000, 4000], bob, now, () => undefined);
    assert.deepEqual(said, [
      'bob is no longer in gid 3000 (the group other now)',
      'bob is no longer in gid 4000',
    ]);
  });

  test('an old primary gid is revoked like any group', () => {
    const now = db([
      ['bob', 1002, []],
      ['staff', 50, []],
    ]);
    const said = revokedGroups([50, 50], bob, now, (gid) => groupNameIn(now, gid));
    assert.deepEqual(said, ['bob is no longer in staff (gid 50)']);
  });
});
