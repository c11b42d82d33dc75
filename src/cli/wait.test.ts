import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DaemonStatus } from '../protocol/messages.ts';
import { verdictOf } from './wait.ts';

function rowOf(state: DaemonStatus['state'], pid: number): DaemonStatus {
  return {
    id: 'alice/web',
    user: 'alice',
    name: 'web',
    state,
    wanted: state === 'running' ? 'up' : 'down',
    pid,
    respawns: 0,
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
