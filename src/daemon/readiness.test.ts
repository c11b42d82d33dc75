import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDaemonConfig } from '../config/daemon.ts';
import { type DaemonRecord, newRecord } from '../supervisor/state.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import type { KeeperProcesses } from './processes.ts';
import { Readiness } from './readiness.ts';

/** Holds the event loop for `ms`, as a stall of the manager would (a starved CPU, SIGSTOP). */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Checks a daemon whose check passes from the stall on (or never), with ready_timeout=1s. */
async function checkThroughStall(becomesReady: boolean): Promise<string> {
  const { spec } = parseDaemonConfig(
    'start=./x\nready=exec:./is-ready\nready_timeout=1s\n',
    'app.conf',
    'app',
  );
  assert.ok(spec);
  const record: DaemonRecord = newRecord('alice', spec);
  record.state = { kind: 'running', run: 3, pid: 1234, since: Date.now(), starting: true };
  let ready = false;
  const timeouts: number[] = [];
  // A check's command takes 20 ms; killed sooner, it fails. The first check sees the
  // daemon not ready yet; it becomes ready while the manager is stalled, past its deadline.
  const processes = {
    probeTurn: async () => 0,
    probe: async (_record: DaemonRecord, _run: number, _command: string, timeoutMs: number) => {
      timeouts.push(timeoutMs);
      await new Promise((resolve) => setTimeout(resolve, Math.min(20, timeoutMs)));
      if (timeouts.length === 1)
        setImmediate(() => {
          ready = becomesReady;
          stall(1_500);
        });
      return timeoutMs >= 20 && ready ? { code: 0 } : { code: null, signal: 'SIGKILL' };
    },
  } as unknown as KeeperProcesses;
  const verdict = new Promise<string>((resolve) => {
    const supervisor = {
      noteReady: () => resolve('ready'),
      noteNotReady: (_record: DaemonRecord, _run: number, why: string) => resolve(why),
    } as unknown as Supervisor;
    new Readiness(
      () => supervisor,
      processes,
      () => undefined,
    ).watch(record, 3);
  });
  return `${await verdict} (check timeouts: ${timeouts.join(', ')} ms)`;
}

test('a ready= check after a stall of the manager past ready_timeout still gets its time', async () => {
  assert.match(await checkThroughStall(true), /^ready /);
});

test('a daemon never ready is still not ready after a stall, once its time is used', async () => {
  assert.match(await checkThroughStall(false), /^not ready after 1s \(exec:\.\/is-ready\)/);
});
