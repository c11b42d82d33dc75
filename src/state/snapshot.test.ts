import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDaemonConfig } from '../config/daemon.ts';
import { newRecord } from '../supervisor/state.ts';
import {
  MAX_SAVED_SPECS_BYTES,
  SAVED_ERROR_BYTES,
  type SnapshotLookups,
  snapshot,
  validateState,
} from './snapshot.ts';

const lookups: SnapshotLookups = {
  runTicks: () => undefined,
  runUid: () => undefined,
  stopTimeoutMs: () => 1000,
  runLeaf: () => undefined,
  fileBroken: () => true,
  outputGap: () => undefined,
  ownerUid: () => undefined,
  savedWanted: (record) => record.wanted,
  waitsForFile: () => false,
};

// The same mistake as an outside review's (48b, F1) in the configs kept as last read: a
// value of control characters takes six bytes a character in JSON, and a user whose files
// broke under running daemons had their configs saved whole in root's state file.
test('the configs saved for one user’s daemons whose files broke take at most MAX_SAVED_SPECS_BYTES', () => {
  const big = `start=exec true ${'\x01'.repeat(5_000)}\n`;
  const recordOf = (user: string, name: string, text: string) => {
    const { spec } = parseDaemonConfig(text, `/${user}/${name}.conf`, name);
    assert.ok(spec);
    return newRecord(user, spec);
  };
  const records = [
    ...Array.from({ length: 5 }, (_, n) => recordOf('mallory', `d${n}`, big)),
    recordOf('alice', 'web', 'start=exec sleep 1\n'),
  ];
  const saved = snapshot(records, lookups, 1, true);
  const specs = Object.entries(saved.daemons).filter(([, daemon]) => daemon.spec !== undefined);
  const mallory = specs.filter(([id]) => id.startsWith('mallory/'));
  assert.ok(mallory.length >= 1 && mallory.length < 5, `${mallory.length} of 5 kept`);
  const bytes = mallory.reduce((sum, [, daemon]) => sum + JSON.stringify(daemon.spec).length, 0);
  assert.ok(bytes <= MAX_SAVED_SPECS_BYTES, `${bytes} bytes`);
  assert.ok(
    specs.some(([id]) => id === 'alice/web'),
    'another user’s is saved still',
  );
});

// An outside review (55b, F1): a start error of control bytes, cut at 511 characters
// before it was escaped, took 3.2 KB of the state a daemon.
test('a run’s error takes at most SAVED_ERROR_BYTES of the state, as JSON writes it', () => {
  const { spec } = parseDaemonConfig('start=exec true\n', '/mallory/d.conf', 'd');
  assert.ok(spec);
  const record = newRecord('mallory', spec);
  record.lastExit = { code: null, signal: null, error: `cannot chdir to ${'\x01'.repeat(511)}` };
  const saved = snapshot([record], lookups, 1, true);
  const error = saved.daemons['mallory/d']?.lastExit?.error ?? '';
  assert.ok(
    Buffer.byteLength(JSON.stringify(error)) <= SAVED_ERROR_BYTES,
    `${error.length} characters`,
  );
  assert.ok(error.startsWith('cannot chdir to \x01') && error.endsWith('…'), error.slice(0, 40));
});

// An account not known yet at a start stays so across an upgrade (see Manager.accountsReplaced).
test('a lock file saved as not known yet reads back so; any other mark is refused', () => {
  const state = (unknown: unknown) => ({
    version: 2,
    clean: false,
    nextSeq: 1,
    daemons: {},
    lockFiles: { 1001: { name: 'alice', dev: 2049, ino: 12, btime: '1', unknown } },
  });
  const read = validateState(state(true));
  assert.ok(!('error' in read), JSON.stringify(read));
  assert.equal(read.lockFiles?.['1001']?.unknown, true);
  assert.deepEqual(validateState(state(1)), { error: "'lockFiles' is malformed" });
});

test('the names daemons were left stopped under read back; any other value is refused', () => {
  const state = (name: unknown) => ({
    version: 2,
    clean: false,
    nextSeq: 1,
    daemons: {},
    leftDownByOldName: ['bob/x'],
    leftDownOldNames: { 'bob/x': name },
  });
  const read = validateState(state('alice'));
  assert.ok(!('error' in read), JSON.stringify(read));
  assert.equal(read.leftDownOldNames?.['bob/x'], 'alice');
  assert.deepEqual(validateState(state(7)), { error: "'leftDownOldNames' is malformed" });
});
