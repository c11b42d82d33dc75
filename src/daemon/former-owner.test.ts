import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RunReport } from '../keeper/protocol.ts';
import { formerOwnerOf } from './former-owner.ts';

function run(seq: number, ownerUid: number | undefined, alive = true): RunReport {
  return {
    seq,
    id: 'ann/svc',
    pid: 100 + seq,
    startTicks: 1,
    spawnedAt: 0,
    alive,
    exit: undefined,
    exitedAt: 0,
    empty: !alive,
    exec: 'ok',
    execError: '',
    ownerUid,
    uid: ownerUid,
    groups: undefined,
    execAt: undefined,
  };
}

describe('formerOwnerOf', () => {
  const cases: [string, RunReport[], number | undefined, number | undefined, number | undefined][] =
    [
      ['the keeper ran it for the account of now', [run(1, 1001)], 1001, 1001, undefined],
      ['loaded after the last save: the keeper alone knows', [run(1, 1001)], undefined, 2001, 1001],
      ['the account gone', [run(1, 1001)], undefined, undefined, 1001],
      ['the keeper wins over a save that says otherwise', [run(1, 1001)], 2001, 2001, 1001],
      ['any run of the old account counts', [run(1, 2001), run(2, 1001)], 2001, 2001, 1001],
      ['a keeper before version 3: the save decides', [run(1, undefined)], 1001, 2001, 1001],
      [
        'nothing recorded, nothing saved: nobody to compare',
        [run(1, undefined)],
        undefined,
        2001,
        undefined,
      ],
      ['no run left, the save says another account', [], 1001, 2001, 1001],
      [
        'the old account’s run over, one of the account of now running: the account of now’s',
        [run(1, 1001, false), run(2, 2001)],
        2001,
        2001,
        undefined,
      ],
      [
        'a run of the account of now, a save of the old account: the save decides',
        [run(2, 2001)],
        1001,
        2001,
        1001,
      ],
      [
        'the old account’s run over and nothing running: the old account’s still',
        [run(1, 1001, false)],
        undefined,
        2001,
        1001,
      ],
      [
        'a run of the old account left beside one of the account of now: the old account’s',
        [run(1, 1001), run(2, 2001)],
        2001,
        2001,
        1001,
      ],
    ];
  for (const [title, runs, saved, now, expected] of cases)
    test(title, () => assert.equal(formerOwnerOf(runs, saved, now), expected));
});
