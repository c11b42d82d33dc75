import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { commandText, HISTORY_LIMITS, History, historyKeptByUid } from './history.ts';

describe('History', () => {
  test('keeps the last 50 events of a daemon, oldest first', () => {
    const history = new History();
    for (let n = 1; n <= 60; n++) history.note('alice/web', 'start', `start ${n}`, n);
    const events = history.of('alice/web');
    assert.equal(events.length, HISTORY_LIMITS.perDaemon);
    assert.deepEqual([events[0]?.text, events.at(-1)?.text], ['start 11', 'start 60']);
  });

  // An outside review (31a): a run's end, stamped when the keeper reaped it and told at a
  // takeover after the config's refusal, was shown after it.
  test('an event stamped before the last one noted goes before it', () => {
    const history = new History();
    history.note('alice/web', 'start', 'started', 1);
    history.note('alice/web', 'config', 'refused', 5);
    history.note('alice/web', 'exit', 'killed', 3);
    history.note('alice/web', 'stop', 'stopped', 5);
    assert.deepEqual(
      history.of('alice/web').map((event) => event.text),
      ['started', 'killed', 'refused', 'stopped'],
    );
  });

  test('adds what one history has and another lacks, each event once, in order of time', () => {
    const history = new History();
    history.note('alice/web', 'start', 'started', 1);
    history.carry('alice/web', 'bob/web');
    history.note('alice/web', 'stop', 'renamed: stopped', 3);
    history.note('alice/web', 'exit', 'killed', 4);
    history.note('bob/web', 'config', 'waits for its old run', 2);
    history.addMissing('alice/web', 'bob/web');
    assert.deepEqual(
      history.of('bob/web').map((event) => event.text),
      ['started', 'waits for its old run', 'renamed: stopped', 'killed'],
    );
    assert.equal(history.of('alice/web').length, 3);
  });

  test('cuts a long text, and says so with an ellipsis', () => {
    const history = new History();
    history.note('alice/web', 'refused', 'x'.repeat(10_000));
    const [event] = history.of('alice/web');
    assert.equal(event?.text.length, HISTORY_LIMITS.textChars);
    assert.ok(event?.text.endsWith('…'));
  });

  test('gives a text to save only when something changed since', () => {
    const history = new History();
    assert.equal(history.take(), undefined);
    history.note('alice/web', 'start', 'started, pid 1', 5);
    const text = history.take();
    assert.deepEqual(JSON.parse(text ?? ''), {
      version: 1,
      daemons: { 'alice/web': [{ at: 5, kind: 'start', text: 'started, pid 1' }] },
    });
    assert.equal(history.take(), undefined);
    history.unsaved(false);
    assert.equal(history.take(), text, 'a failed save is taken again');
  });

  test('says a history moved to another id until it is taken, or taken and not saved', () => {
    const history = new History();
    history.note('alice/web', 'start', 'started, pid 1', 5);
    assert.equal(history.movedSinceTaken, false, 'an event noted');
    history.carry('alice/web', 'bob/web');
    assert.equal(history.movedSinceTaken, true, 'carried');
    history.take();
    assert.equal(history.movedSinceTaken, false);
    history.merge('bob/web', '#1001/web');
    assert.equal(history.movedSinceTaken, true, 'merged');
    history.take();
    history.unsaved(true);
    assert.equal(history.movedSinceTaken, true, 'its save failed');
  });

  test('past the size bound, every daemon keeps fewer of its latest events', () => {
    const history = new History();
    const long = 'y'.repeat(HISTORY_LIMITS.textChars);
    for (let d = 0; d < 200; d++)
      for (let n = 0; n < HISTORY_LIMITS.perDaemon; n++) history.note(`u/d${d}`, 'exit', long, n);
    const text = history.take() ?? '';
    assert.ok(text.length <= HISTORY_LIMITS.bytes, `${text.length} bytes`);
    const kept = history.of('u/d0');
    assert.ok(kept.length > 0 && kept.length < HISTORY_LIMITS.perDaemon);
    assert.equal(kept.at(-1)?.at, HISTORY_LIMITS.perDaemon - 1, 'the latest are kept');
  });

  test('restores what was saved, and only what is valid', () => {
    const history = new History();
    history.restore({
      version: 1,
      daemons: {
        'alice/web': [
          { at: 1, kind: 'start', text: 'started, pid 7' },
          { at: 2, kind: 'nonsense', text: 'x' },
          { at: 'soon', kind: 'exit', text: 'x' },
          { at: 3, kind: 'exit', text: 'z'.repeat(HISTORY_LIMITS.textChars + 1) },
        ],
        'bob/db': 'not a list',
      },
    });
    assert.deepEqual(history.of('alice/web'), [{ at: 1, kind: 'start', text: 'started, pid 7' }]);
    assert.deepEqual(history.of('bob/db'), []);
    history.restore({ version: 2, daemons: { 'alice/web': [] } });
    history.restore(null);
    assert.equal(history.of('alice/web').length, 1);
  });

  test('forgets daemons that are gone', () => {
    const history = new History();
    for (const id of ['alice/web', 'alice/old', 'bob/db']) history.note(id, 'start', 'started');
    history.keepOnly(new Set(['alice/web', 'bob/db']));
    history.forget('bob/db');
    assert.deepEqual(
      ['alice/web', 'alice/old', 'bob/db'].map((id) => history.of(id).length),
      [1, 0, 0],
    );
  });

  // An outside review (49a, F1): renames and a new account given the old name, with a
  // kill -9 of the manager between each step: the owner's history (its pids, who stopped
  // its daemon) was read by the other account under its daemon's id.
  test('a history is read only under an id of its own account, and found again by it', () => {
    const owners = new Map([
      ['alice', 1002],
      ['bob', 1003],
    ]);
    const history = new History((id) => owners.get(id.slice(0, id.indexOf('/'))));
    history.note('alice/web', 'command', 'alice ran dmctl stop', 1000);
    // alice renamed to carol; a new account alice (1009) reads the id, and notes to it.
    owners.delete('alice');
    owners.set('carol', 1002);
    owners.set('alice', 1009);
    assert.deepEqual(history.of('alice/web'), []);
    history.note('alice/web', 'start', 'started, pid 7', 2000);
    assert.deepEqual(
      history.of('alice/web').map((event) => event.text),
      ['started, pid 7'],
    );
    // Back with the owner's account under any name, its history comes back with it.
    assert.deepEqual(
      history.of('carol/web').map((event) => event.text),
      ['alice ran dmctl stop'],
    );
    // Saved and read back, each keeps its account.
    const again = new History((id) => owners.get(id.slice(0, id.indexOf('/'))));
    again.restore(JSON.parse(history.take() ?? '{}'));
    owners.set('alice', 1002);
    assert.deepEqual(again.of('alice/web'), []);
  });

  // An outside review (50a, F2): the owner's history carried to its old name, where the
  // history of the account that held the name meanwhile lay, was dropped.
  test('carried onto another account’s history, each is kept: that one aside by its uid', () => {
    const owners = new Map([
      ['bob', 1002],
      ['walt', 1009],
    ]);
    const history = new History((id) => owners.get(id.slice(0, id.indexOf('/'))));
    history.note('bob/web', 'command', 'alice ran dmctl stop', 1000);
    owners.set('alice', 1009);
    history.note('alice/web', 'start', 'started, pid 7', 2000);
    // 1009 renamed to walt (a name not allowed), 1002 back to alice.
    owners.set('alice', 1002);
    history.carry('bob/web', 'alice/web');
    history.forget('bob/web');
    assert.deepEqual(
      history.of('alice/web').map((event) => event.text),
      ['alice ran dmctl stop'],
    );
    assert.deepEqual(
      history.of(historyKeptByUid(1009, 'web')).map((event) => event.text),
      ['started, pid 7'],
    );
  });

  test('a history kept elsewhere goes before what the daemon noted since', () => {
    const history = new History();
    history.note('#1001/web', 'command', 'alice ran dmctl stop', 1000);
    history.note('bob/web', 'start', 'left stopped', 2000);
    history.merge('#1001/web', 'bob/web');
    assert.deepEqual(
      history.of('bob/web').map((event) => event.text),
      ['alice ran dmctl stop', 'left stopped'],
    );
    assert.equal(history.of('#1001/web').length, 0);
  });
});

// A review flooded mallory's own histories and cut alice's "bob ran dmctl stop" away.
test("one user's flood never shortens another's history, and the file stays within its bytes", () => {
  const history = new History();
  for (let index = 0; index < 24; index++)
    history.note('alice/web', 'command', `bob ran dmctl stop ${index}`);
  const filler = 'é'.repeat(HISTORY_LIMITS.textChars);
  for (let daemon = 0; daemon < 300; daemon++)
    for (let index = 0; index < HISTORY_LIMITS.perDaemon; index++)
      history.note(`mallory/f${daemon}`, 'config', filler);
  const text = history.take() ?? '';
  assert.ok(Buffer.byteLength(text) <= HISTORY_LIMITS.bytes, `${Buffer.byteLength(text)} bytes`);
  assert.equal(history.of('alice/web').length, 24);
  assert.ok(history.of('mallory/f0').length < HISTORY_LIMITS.perDaemon);
});

// At 10,000 daemons every save measured every daemon's history again: 60-170 ms of the
// manager's time a save, one a second while daemons respawned.
test('a save measures again only the histories that changed since the last one', (t) => {
  const history = new History();
  const text = 'pid 4242 exited with status 1 after 2s';
  for (let user = 0; user < 10; user++)
    for (let daemon = 0; daemon < 1000; daemon++)
      for (let n = 0; n < 3; n++) history.note(`u${user}/d${daemon}`, 'exit', text, n);
  const first = history.take() ?? '';
  assert.ok(Buffer.byteLength(first) <= HISTORY_LIMITS.bytes, `${Buffer.byteLength(first)} bytes`);
  history.note('u3/d7', 'start', 'started, pid 42', 10);
  const stringify = t.mock.method(JSON, 'stringify');
  const second = history.take() ?? '';
  assert.ok(Buffer.byteLength(second) <= HISTORY_LIMITS.bytes);
  assert.equal(history.of('u3/d7').at(-1)?.text, 'started, pid 42');
  // The changed daemon's history, and the file itself.
  assert.ok(stringify.mock.callCount() <= 4, `${stringify.mock.callCount()} histories measured`);
});

// An outside review (26c, F1): a user who manages another's daemon stopped it, then ran 50
// harmless `kill -CONT`: the owner's `why` no longer said who stopped it.
test('who last started or stopped a daemon stays in its history, whatever follows', () => {
  const history = new History();
  history.note('amy/web', 'command', commandText('amy', 'start'));
  history.note('amy/web', 'command', commandText('mallory', 'stop'));
  history.note('amy/web', 'stop', 'stopping pid 12 (SIGTERM)');
  for (let i = 0; i < HISTORY_LIMITS.perDaemon * 2; i++)
    history.note('amy/web', 'command', commandText('mallory', 'kill', ' -CONT'));
  const events = history.of('amy/web');
  assert.equal(events.length, HISTORY_LIMITS.perDaemon);
  assert.equal(events[0]?.text, 'mallory ran dmctl stop');
  assert.equal(events.filter((event) => event.text === 'amy ran dmctl start').length, 0);
  assert.equal(events.at(-1)?.text, 'mallory ran dmctl kill -CONT');
});
