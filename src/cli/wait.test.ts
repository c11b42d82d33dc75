import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DaemonStatus } from '../protocol/messages.ts';
import { runToWaitFor, verdictOf } from './wait.ts';

function rowOf(state: DaemonStatus['state'], pid: number, respawns = 0): DaemonStatus {
  return {
    id: 'alice/web',
    user: 'alice',
    name: 'web',
    state,
    wanted: state === 'running' ? 'up' : 'down',
    pid,
    respawns,
    cooldown: 0,
    cooldownStep: 0,
    uptime: 0,
    total: 0,
    runAs: 'alice',
    output: 'log',
  } as DaemonStatus;
}

test('stop --wait is done once stopped, not before', () => {
  assert.equal(verdictOf('stop', rowOf('stopping', 100), 100, undefined, 0), undefined);
  assert.deepEqual(verdictOf('stop', rowOf('stopped', 0), 100, undefined, 0), { done: true });
});

// An outside review: another shell's start right after the stop was done left stop --wait
// waiting 90 s for a `stopped` it never saw, then saying the daemon was still running.
test('stop --wait is done when another request started the daemon again since', () => {
  assert.deepEqual(verdictOf('stop', rowOf('running', 200), 100, undefined, 0), { done: true });
  assert.deepEqual(verdictOf('stop', rowOf('starting', 200), 0, undefined, 0), { done: true });
  assert.equal(verdictOf('stop', rowOf('running', 100), 100, undefined, 0), undefined);
});

// The same review: another shell's restart or stop while start --wait or restart --wait
// waited was said to be the daemon's crash ("exited and was started again", "exited at
// once"), with its log, as for one.
test('start --wait waits for the run another request started meanwhile, not a crash', () => {
  const seen = { pid: 100, since: 0, respawns: 0 };
  const restarted = rowOf('running', 200, 0);
  const next = runToWaitFor(seen, restarted, 500);
  assert.deepEqual(next, { pid: 200, since: 500, respawns: 0 });
  assert.equal(verdictOf('start', restarted, 0, next, 1_000), undefined);
  assert.deepEqual(verdictOf('start', restarted, 0, next, 1_600), { done: true });
});

test('a respawn after a crash is still a failure of start --wait', () => {
  const seen = { pid: 100, since: 0, respawns: 0 };
  const respawned = rowOf('running', 200, 1);
  assert.equal(runToWaitFor(seen, respawned, 500), seen);
  assert.match(
    (verdictOf('start', respawned, 0, seen, 500) as { failed: string }).failed,
    /exited and was started again/,
  );
});

test('a stop by another request is said as such', () => {
  const seen = { pid: 100, since: 0, respawns: 0 };
  assert.deepEqual(verdictOf('restart', rowOf('stopped', 0), 50, seen, 500), {
    failed: 'alice/web was stopped by another request meanwhile',
  });
  assert.deepEqual(verdictOf('start', rowOf('stopping', 100), 0, seen, 500), {
    failed: 'alice/web was stopped by another request meanwhile',
  });
});

// The next review: with `ready=`, the run another request started is `starting` until its
// check passes; it was taken for the daemon exiting at once (8 of 8).
test('the run another request started is waited for while its ready= check runs', () => {
  const seen = { pid: 100, since: 0, respawns: 0 };
  const checking = rowOf('starting', 200, 0);
  const next = runToWaitFor(seen, checking, 500);
  assert.deepEqual(next, { pid: 200, since: 500, respawns: 0 });
  assert.equal(verdictOf('start', checking, 0, next, 600), undefined);
});
