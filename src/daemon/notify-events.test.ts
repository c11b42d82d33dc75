import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDaemonConfig } from '../config/daemon.ts';
import { type DaemonRecord, newRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import { applyNotify, type NotifyTargets } from './notify-events.ts';
import type { Watchdogs } from './watchdog.ts';

const spec = parseDaemonConfig('start=./x\nready=notify\nwatchdog=5s\n', 'x.conf', 'x').spec;

/** A record of a run 3, and what the messages asked of the supervisor and watchdog. */
function setUp(starting: boolean): {
  record: DaemonRecord;
  calls: string[];
  targets: NotifyTargets;
} {
  assert.ok(spec);
  const record = newRecord('alice', spec);
  record.state = { kind: 'running', run: 3, pid: 99, since: 0, ...(starting ? { starting } : {}) };
  const calls: string[] = [];
  const supervisor = {
    noteReady: (_: DaemonRecord, run: number) => calls.push(`ready ${run}`),
    noteUnhealthy: (_: DaemonRecord, run: number, why: string) =>
      calls.push(`unhealthy ${run}: ${why}`),
  } as unknown as Supervisor;
  const watchdogs = {
    ping: (_: DaemonRecord, run: number) => calls.push(`ping ${run}`),
  } as unknown as Watchdogs;
  return { record, calls, targets: { supervisor, watchdogs, note: (text) => calls.push(text) } };
}

test('READY=1 ends starting; STATUS= is kept for the run', () => {
  const { record, calls, targets } = setUp(true);
  applyNotify(record, 3, { ready: true, status: 'up' }, targets);
  assert.deepEqual(calls, ['ready 3']);
  assert.deepEqual(record.notified, { run: 3, status: 'up' });
});

test('RELOADING=1 until READY=1; pings and a trigger go to the watchdog and the supervisor', () => {
  const { record, calls, targets } = setUp(false);
  applyNotify(record, 3, { reloading: true }, targets);
  assert.equal(record.notified?.phase, 'reloading');
  applyNotify(record, 3, { ready: true }, targets);
  assert.equal(record.notified?.phase, undefined);
  applyNotify(record, 3, { watchdog: 'ping' }, targets);
  applyNotify(record, 3, { watchdog: 'trigger' }, targets);
  assert.deepEqual(calls, [
    'RELOADING=1: it is reloading',
    'READY=1: done reloading',
    'ping 3',
    'unhealthy 3: it sent WATCHDOG=trigger',
  ]);
});

test('a message for another run than the current one does nothing', () => {
  const { record, calls, targets } = setUp(true);
  applyNotify(record, 2, { ready: true, status: 'old' }, targets);
  assert.deepEqual([calls, record.notified], [[], undefined]);
});
