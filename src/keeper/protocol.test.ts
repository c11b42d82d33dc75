import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseEvent } from './protocol.ts';

const FIELDS = ['spawned', '7', 'ann/svc', '123', '456', '1700000000000', '1', '0', '0', '0'];

describe('parseEvent of a run report', () => {
  test('reads whom the keeper started the run for and as', () => {
    const event = parseEvent([...FIELDS, '0', '1', '', '1001', '1002'], []);
    assert.ok(event !== undefined && event.kind === 'spawned');
    assert.equal(event.run.ownerUid, 1001);
    assert.equal(event.run.uid, 1002);
  });

  test('reads the gid and groups the keeper switched the run to (version 4)', () => {
    const event = parseEvent([...FIELDS, '0', '1', '', '1001', '1002', '1002', '1002,27'], []);
    assert.ok(event !== undefined && event.kind === 'spawned');
    assert.deepEqual(event.run.groups, { gid: 1002, list: [1002, 27] });
  });

  test('no groups recorded: a run not switched, or a keeper before version 4', () => {
    const unswitched = parseEvent([...FIELDS, '0', '1', '', '0', '0', '-1', ''], []);
    assert.ok(unswitched !== undefined && unswitched.kind === 'spawned');
    assert.equal(unswitched.run.groups, undefined);
    const older = parseEvent([...FIELDS, '0', '1', '', '1001', '1002'], []);
    assert.ok(older !== undefined && older.kind === 'spawned');
    assert.equal(older.run.groups, undefined);
    assert.equal(older.run.uid, 1002);
  });

  test('-1 is not known: a survivor of a previous keeper', () => {
    const event = parseEvent([...FIELDS, '0', '1', '', '-1', '-1'], []);
    assert.ok(event !== undefined && event.kind === 'spawned');
    assert.equal(event.run.ownerUid, undefined);
    assert.equal(event.run.uid, undefined);
  });

  test('a keeper before version 3 (kept across an upgrade) says neither', () => {
    const event = parseEvent([...FIELDS, '0', '1', ''], []);
    assert.ok(event !== undefined && event.kind === 'spawned');
    assert.equal(event.run.ownerUid, undefined);
    assert.equal(event.run.seq, 7);
  });
});
