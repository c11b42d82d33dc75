import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { parseDaemonConfig } from '../config/daemon.ts';
import { type DaemonRecord, newRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import { Watchdogs } from './watchdog.ts';

/**
 * A ready run of a daemon with `watchdog=1s`, its watchdog armed, and a socket whose
 * queue the test fills: `queued` pings are what the daemon sent that the manager has not
 * read (read only when the watchdog asks, as after a stall of the manager).
 */
function setUp(): { record: DaemonRecord; verdicts: string[]; queue: () => void } {
  const { spec } = parseDaemonConfig('start=./x\nwatchdog=1s\n', 'wd.conf', 'wd');
  assert.ok(spec);
  const record = newRecord('alice', spec);
  record.state = { kind: 'running', run: 7, pid: 1234, since: 0 };
  const verdicts: string[] = [];
  const supervisor = {
    noteUnhealthy: (_record: DaemonRecord, run: number, why: string) =>
      verdicts.push(`run ${run}: ${why}`),
  } as unknown as Supervisor;
  let queued = 0;
  const watchdogs = new Watchdogs(
    () => supervisor,
    (read) => {
      for (; queued > 0; queued--) watchdogs.ping(read, 7);
    },
  );
  watchdogs.sync(record);
  return { record, verdicts, queue: () => queued++ };
}

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
afterEach(() => mock.timers.reset());

test('a deadline reached while a WATCHDOG=1 waits unread is put off by it, not judged', () => {
  const { verdicts, queue } = setUp();
  // The daemon pinged in time, but the manager was stalled: its ping is still queued.
  mock.timers.tick(900);
  queue();
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
  const { verdicts, queue } = setUp();
  queue();
  mock.timers.tick(1_000);
  assert.deepEqual(verdicts, []);
  mock.timers.tick(1_000);
  assert.equal(verdicts.length, 1);
});
