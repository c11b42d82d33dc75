import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { parseDaemonConfig } from '../config/daemon.ts';
import { type DaemonRecord, newRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import { Watchdogs } from './watchdog.ts';

/** The daemon's socket as the watchdog sees it: pings sent and not read, and a pause. */
interface FakeSocket {
  queued: number;
  /** Paused for a rate: not read, for this many more milliseconds. */
  pausedFor: number | undefined;
}

/**
 * A ready run of a daemon with `watchdog=1s`, its watchdog armed, and a socket whose
 * queue the test fills: `queued` pings are what the daemon sent that the manager has not
 * read (read only when the watchdog asks, as after a stall of the manager).
 */
function setUp(): {
  record: DaemonRecord;
  verdicts: string[];
  socket: FakeSocket;
  watchdogs: Watchdogs;
} {
  const { spec } = parseDaemonConfig('start=./x\nwatchdog=1s\n', 'wd.conf', 'wd');
  assert.ok(spec);
  const record = newRecord('alice', spec);
  record.state = { kind: 'running', run: 7, pid: 1234, since: 0 };
  const verdicts: string[] = [];
  const supervisor = {
    noteUnhealthy: (_record: DaemonRecord, run: number, why: string) =>
      verdicts.push(`run ${run}: ${why}`),
  } as unknown as Supervisor;
  const socket: FakeSocket = { queued: 0, pausedFor: undefined };
  const watchdogs = new Watchdogs(
    () => supervisor,
    (read) => {
      if (socket.pausedFor !== undefined) return socket.pausedFor;
      for (; socket.queued > 0; socket.queued--) watchdogs.ping(read, 7);
      return undefined;
    },
  );
  watchdogs.sync(record);
  return { record, verdicts, socket, watchdogs };
}

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
afterEach(() => mock.timers.reset());

test('a deadline reached while a WATCHDOG=1 waits unread is put off by it, not judged', () => {
  const { verdicts, socket } = setUp();
  // The daemon pinged in time, but the manager was stalled: its ping is still queued.
  mock.timers.tick(900);
  socket.queued++;
  mock.timers.tick(100);
  assert.deepEqual(verdicts, []);
  // The ping read at the deadline counts from then: a full period more.
  mock.timers.tick(999);
  assert.deepEqual(verdicts, []);
  mock.timers.tick(1);
  assert.deepEqual(verdicts, ['run 7: no WATCHDOG=1 for 1s (watchdog=1s)']);
});

test('a silence that lasted is judged once, queue read or not', () => {
  const { verdicts } = setUp();
  mock.timers.tick(1_000);
  mock.timers.tick(5_000);
  assert.deepEqual(verdicts, ['run 7: no WATCHDOG=1 for 1s (watchdog=1s)']);
});

test('a ping read at one deadline and none after: judged a period later', () => {
  const { verdicts, socket } = setUp();
  socket.queued++;
  mock.timers.tick(1_000);
  assert.deepEqual(verdicts, []);
  mock.timers.tick(1_000);
  assert.equal(verdicts.length, 1);
});

test("a deadline reached while its socket is paused for a rate waits for the pause's end", () => {
  const { verdicts, socket } = setUp();
  // The stall's backlog passed the user's rate: the socket is not read for 700 ms more.
  socket.queued = 3;
  socket.pausedFor = 700;
  mock.timers.tick(1_000);
  assert.deepEqual(verdicts, []);
  socket.pausedFor = undefined;
  mock.timers.tick(701);
  assert.deepEqual([verdicts, socket.queued], [[], 0], 'its pings were read at the end');
  mock.timers.tick(999);
  assert.deepEqual(verdicts, []);
  mock.timers.tick(1);
  assert.equal(verdicts.length, 1, 'silent a full period after them');
});

test('a socket paused again at the end of the pause waited for is judged on what was read', () => {
  const { verdicts, socket } = setUp();
  socket.pausedFor = 700;
  mock.timers.tick(1_000);
  mock.timers.tick(701);
  assert.deepEqual(verdicts, ['run 7: no WATCHDOG=1 for 1s (watchdog=1s)']);
});

test('a ping read normally during the wait for a pause starts a full period again', () => {
  const { record, verdicts, socket, watchdogs } = setUp();
  socket.pausedFor = 700;
  mock.timers.tick(1_000);
  socket.pausedFor = undefined;
  mock.timers.tick(300);
  watchdogs.ping(record, 7);
  mock.timers.tick(999);
  assert.deepEqual(verdicts, []);
  mock.timers.tick(1);
  assert.equal(verdicts.length, 1);
});
