import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readStat } from '../process/proc-stat.ts';
import type { SavedState } from '../state/snapshot.ts';
import { readRunRecords, removeOthersRunRecords, withUnsavedRuns } from './run-records.ts';

const me = process.pid;
const myTicks = readStat(me)?.startTime ?? 0;

const saved: SavedState = {
  version: 2,
  clean: false,
  nextSeq: 10,
  daemons: {
    'ann/a': {
      wanted: 'up',
      state: 'stopping',
      run: 5,
      pid: 1,
      startTicks: 1,
      respawns: 2,
      cooldownMs: 0,
      deadline: 99,
      former: true,
    },
    'ann/b': { wanted: 'up', state: 'running', run: 12, pid: 1, respawns: 0, cooldownMs: 0 },
    // Saved as its start was asked, its pid not known yet (67a, F1).
    'ann/e': { wanted: 'up', state: 'running', run: 16, respawns: 0, cooldownMs: 0 },
  },
};

describe('withUnsavedRuns', () => {
  test('takes the newest living run a keeper that is gone recorded after the save', () => {
    const said: string[] = [];
    const records = [
      { seq: 11, id: 'ann/a', pid: me, startTicks: myTicks, keeper: 7 },
      // Dead: its start time is not the process's with that pid.
      { seq: 13, id: 'ann/a', pid: me, startTicks: myTicks + 1, keeper: 7 },
      // Older than the run the state knows.
      { seq: 11, id: 'ann/b', pid: me, startTicks: myTicks, keeper: 7 },
      // Not saved at all: a daemon first started after the save.
      { seq: 14, id: 'ann/c', pid: me, startTicks: myTicks, keeper: 7 },
      // The keeper there now reports its own runs.
      { seq: 15, id: 'ann/d', pid: me, startTicks: myTicks, keeper: 8 },
      { seq: 16, id: 'ann/e', pid: me, startTicks: myTicks, keeper: 7 },
    ];
    const state = withUnsavedRuns(saved, records, 8, (id) => said.push(id));
    assert.deepEqual(said, ['ann/a', 'ann/c', 'ann/e']);
    assert.deepEqual(state?.daemons['ann/a'], {
      wanted: 'up',
      state: 'running',
      run: 11,
      pid: me,
      startTicks: myTicks,
      respawns: 2,
      cooldownMs: 0,
    });
    assert.equal(state?.daemons['ann/b'], saved.daemons['ann/b']);
    assert.equal(state?.daemons['ann/c']?.run, 14);
    assert.equal(state?.daemons['ann/d'], undefined);
    assert.equal(state?.daemons['ann/e']?.pid, me);
    assert.equal(state?.nextSeq, 17);
  });

  test('leaves no state alone', () => {
    assert.equal(
      withUnsavedRuns(undefined, [], 8, () => {}),
      undefined,
    );
  });
});

describe('run records', () => {
  const dir = mkdtempSync(join(tmpdir(), 'run-records-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('are read as the keeper writes them, and removed when another keeper wrote them', () => {
    const records = join(dir, 'keeper-runs');
    mkdirSync(records);
    writeFileSync(join(records, '3'), 'ann/a\n42\n777\n5\n');
    writeFileSync(join(records, '4'), 'ann/b\n43\n778\n6\n');
    // Cut short by a kill as it was written, or not the keeper's.
    writeFileSync(join(records, '5'), 'ann/c\n44\n');
    writeFileSync(join(records, 'x'), 'ann/d\n45\n779\n5\n');
    assert.deepEqual(readRunRecords(dir), [
      { seq: 3, id: 'ann/a', pid: 42, startTicks: 777, keeper: 5 },
      { seq: 4, id: 'ann/b', pid: 43, startTicks: 778, keeper: 6 },
    ]);
    removeOthersRunRecords(dir, 6);
    assert.deepEqual(readdirSync(records).sort(), ['4', '5', 'x']);
  });
});
