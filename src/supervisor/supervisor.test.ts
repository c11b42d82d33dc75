import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { setTimeout as delay, setImmediate as nextTurn } from 'node:timers/promises';
import { parseDaemonConfig } from '../config/daemon.ts';
import { statusOf } from '../control/status.ts';
import type { Logger } from '../logging/logger.ts';
import type { LaunchPlan } from '../process/launch.ts';
import { type DaemonRecord, newRecord } from './state.ts';
import { killSaidIn, type Processes, Supervisor, type SupervisorHost } from './supervisor.ts';

const quiet: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  reopen: () => {},
  drain: async () => {},
};

/** The processes of runs, as the keeper would be told to signal them. */
class Runs implements Processes {
  readonly signals: number[] = [];
  readonly keeperPid = 4242;
  private next = 0;
  spawn(): number {
    return ++this.next;
  }
  async signal(_run: number, signal: number) {
    this.signals.push(signal);
    return { reached: 1, errno: 0 };
  }
  release(_run: number): void {}
}

/** alice's daemon `web` with this config. */
function recordOf(text: string, name = 'web'): DaemonRecord {
  const { spec } = parseDaemonConfig(text, `/x/${name}.conf`, name);
  assert.ok(spec);
  return newRecord('alice', spec);
}

/** A supervisor with quiet defaults (a good start, 1 s stops, a growing back-off), these overridden. */
function supervisorOf(host: Partial<SupervisorHost>): Supervisor {
  return new Supervisor({
    prepare: () => ({ ok: true, plan: {} as LaunchPlan }),
    stopTimeoutMs: () => 1000,
    processes: new Runs(),
    backoff: () => ({ firstMs: 1000, stepMs: undefined, maxMs: 60_000, stableMs: 5, delayMs: 0 }),
    log: quiet,
    changed: () => {},
    forgotten: () => {},
    watchReady: () => {},
    note: () => {},
    ...host,
  });
}

// A Node timer may fire up to a millisecond before Date.now() reaches the time it was
// armed for (the loop's monotonic clock and the wall clock are truncated apart). A review
// saw a stop deadline lost that way: the check found it "not yet" and armed nothing, so
// the daemon stayed `stopping` for good, and so did the manager's shutdown.
test('every stop deadline ends in SIGKILL, however its timer falls against the clock', async () => {
  const runs = new Runs();
  const supervisor = supervisorOf({
    stopTimeoutMs: (record) => 5 + (Number(record.spec.name.slice(1)) % 7),
    processes: runs,
    backoff: () => ({ firstMs: 1000, stepMs: 1000, maxMs: 1000, stableMs: 1000, delayMs: 0 }),
  });
  const records = Array.from({ length: 300 }, (_, index) => {
    const { spec } = parseDaemonConfig('start=sleep 1\n', `/x/d${index}.conf`, `d${index}`);
    assert.ok(spec);
    const record = newRecord('alice', spec);
    supervisor.daemons.set(record.id, record);
    supervisor.start(record);
    return record;
  });
  for (const record of records) {
    supervisor.stop(record);
    await nextTurn();
  }
  // Each run ignores SIGTERM; its deadline must send SIGKILL (signal 9) once.
  const kills = (): number => runs.signals.filter((signal) => signal === 9).length;
  for (let waited = 0; kills() < records.length && waited < 200; waited++) await delay(25);
  const stuck = records.filter(
    (record) => record.state.kind === 'stopping' && !record.state.killed,
  );
  assert.deepEqual(
    stuck.map((record) => record.id),
    [],
  );
  assert.equal(kills(), records.length);
  for (const record of records) if (record.timer !== undefined) clearTimeout(record.timer);
});

// A review's daemon that never became ready, with ready_timeout past stable-uptime, was
// respawned without back-off: its run counted as a good one.
test('a run that was never ready is no good run, however long it took: its back-off grows', async () => {
  const runs = new Runs();
  const supervisor = supervisorOf({
    processes: runs,
  });
  const record = recordOf('start=sleep 1\nready=tcp:127.0.0.1:1\n');
  supervisor.daemons.set(record.id, record);
  supervisor.start(record);
  assert.ok(record.state.kind === 'running' && record.state.starting);
  const { run } = record.state;
  supervisor.noteSpawned(record, run, 4242);
  await delay(20); // longer than stable-uptime
  supervisor.noteNotReady(record, run, 'not ready after 20ms (tcp:127.0.0.1:1)');
  supervisor.noteExit(record, run, { code: null, signal: 'SIGTERM' }, true);
  assert.equal(record.cooldownMs, 1000);
  assert.equal(record.state.kind, 'coolingdown');
  if (record.timer !== undefined) clearTimeout(record.timer);
});

// An outside review set the clock back an hour between two managers: the saved deadline
// of a cooldown was an hour away, and the daemon stayed down for it.
test('a cooldown put back after the manager lasts no longer than its back-off step, whatever its saved deadline', () => {
  const supervisor = supervisorOf({});
  const record = recordOf('start=sleep 1\n');
  record.cooldownMs = 8000;
  supervisor.daemons.set(record.id, record);
  supervisor.resumeCooldown(record, Date.now() + 3_600_000);
  if (record.timer !== undefined) clearTimeout(record.timer);
  assert.equal(record.state.kind, 'coolingdown');
  const left = record.state.until - Date.now();
  assert.ok(left <= 8000, `until ${left} ms from now`);
});

// An outside review: a daemon running again kept showing, as its last exit, the refusal of
// a start before ("cannot listen on ...: the port is in use"), which was no exit at all.
test('a start that succeeds after refused ones shows how the last run ended, not the refusal', () => {
  let refusal: string | undefined = 'cannot listen on tcp:127.0.0.1:8443: the port is in use';
  const supervisor = supervisorOf({
    prepare: () =>
      refusal === undefined
        ? { ok: true, plan: {} as LaunchPlan }
        : { ok: false, error: refusal, retry: false },
    backoff: () => ({ firstMs: 1000, stepMs: 1000, maxMs: 1000, stableMs: 1000, delayMs: 0 }),
  });
  const record = recordOf('start=sleep 1\n');
  record.lastExit = { code: null, signal: 'SIGTERM' };
  supervisor.daemons.set(record.id, record);
  assert.equal(supervisor.start(record).ok, false);
  assert.equal(record.lastExit?.error, refusal, 'a refused start says why while it is down');
  refusal = undefined;
  assert.equal(supervisor.start(record).ok, true);
  assert.deepEqual(record.lastExit, { code: null, signal: 'SIGTERM' });
  if (record.timer !== undefined) clearTimeout(record.timer);
});

// An outside review (46a, F3): survivors of the account that had the name before, found in
// their cgroup (no main process), were said to have "ended" when their stand-in did, while
// they ran on to their SIGKILL.
test('survivors of the account that had the name before are not said ended while they run', () => {
  const said: string[] = [];
  const supervisor = supervisorOf({ log: { ...quiet, info: (text) => said.push(text) } });
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  supervisor.resumeStopping(
    record,
    { seq: 7, pid: 0, alive: false, empty: false },
    Date.now() + 1000,
    'stay-stopped',
    { former: true, termedAt: Date.now() },
  );
  supervisor.noteExit(record, 7, { code: 0, signal: null }, false);
  assert.deepEqual(said, []);
  assert.equal(record.state.kind, 'stopping');
  if (record.timer !== undefined) clearTimeout(record.timer);
});

// An outside review (47d, F1): a kill of a run whose main process is not known (found in its
// cgroup after a takeover) answered "(pid 0)", as though nothing had been reached.
test('a signal to a run with no known main process says how many processes it reached', async () => {
  const runs = new Runs();
  const supervisor = supervisorOf({ processes: runs });
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  supervisor.resumeStopping(
    record,
    { seq: 7, pid: 0, alive: false, empty: false },
    Date.now() + 1000,
    'stay-stopped',
  );
  assert.deepEqual(await supervisor.signal(record, 'SIGHUP'), {
    ok: true,
    message: 'sent SIGHUP to alice/web (1 process of its run; its main process is not known)',
  });
  if (record.timer !== undefined) clearTimeout(record.timer);
});

// An outside review: the run of the account that had the owner's name before, stopped for
// the new account's daemon of that name, showed as that daemon's last exit and in its `why`.
test('the stop of the run of the account that had the name before is not the daemon’s', async () => {
  const notes: string[] = [];
  const runs = new Runs();
  const supervisor = supervisorOf({
    processes: runs,
    note: (_record, _kind, text) => notes.push(text),
  });
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  record.wanted = 'up';
  supervisor.resumeStopping(
    record,
    { seq: 7, pid: 4242, alive: true, empty: false },
    Date.now() + 1000,
    'start',
    { former: true },
  );
  assert.deepEqual(await supervisor.signal(record, 'SIGKILL'), {
    ok: false,
    error:
      'alice/web is not running (it starts once the processes of the account that had this name before are gone)',
  });
  supervisor.noteExit(record, 7, { code: null, signal: 'SIGTERM' }, true);
  assert.equal(record.state.kind, 'running');
  assert.equal(record.lastExit, undefined);
  assert.deepEqual(notes, []);
});

// Outside reviews (47b, F5; 48a, F4): a `start` typed while the daemon waited for the old
// account's run counted that wait in its `total` (45 s for a run of 4 s): the daemon's own
// first run begins only once that run is gone.
test('a start typed while the old account’s run stops counts from the daemon’s own run', () => {
  const supervisor = supervisorOf({});
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  record.wanted = 'up';
  supervisor.resumeStopping(
    record,
    { seq: 7, pid: 4242, alive: true, empty: false },
    Date.now() + 1000,
    'start',
    { former: true },
  );
  const typed = Date.now() - 40_000;
  record.startedAt = typed;
  supervisor.noteExit(record, 7, { code: null, signal: 'SIGTERM' }, true);
  assert.equal(record.state.kind, 'running');
  assert.ok((record.startedAt ?? 0) > typed, 'its total counts the wait');
  if (record.timer !== undefined) clearTimeout(record.timer);
});

// A CI run: a stop's SIGKILL said in the history saved, not in the state saved with it
// (the history was taken after the state's write); after a kill -9 the next manager sent
// it again and said it twice. Taken with the state, the history may be behind it: a
// SIGKILL the saved state holds and the history does not is said by the next manager.
test('a stop taken over after its SIGKILL says it once, whether or not the saved history does', () => {
  const stop = (text: string) => ({ at: 1, kind: 'stop' as const, text });
  const exit = {
    at: 2,
    kind: 'exit' as const,
    text: 'still running after the stop timeout: SIGKILL',
  };
  assert.equal(killSaidIn([], 9), false);
  assert.equal(killSaidIn([stop('stopping pid 9 (SIGTERM)'), exit], 9), false);
  const said = [
    stop('stopping pid 9 (SIGTERM)'),
    stop('still running after the stop timeout: SIGKILL'),
  ];
  assert.equal(killSaidIn(said, 9), true);
  // The SIGKILL of a stop before, then this stop's SIGTERM: not said yet.
  assert.equal(killSaidIn([...said, stop('stopping pid 12 (SIGTERM)')], 12), false);
  for (const [killed, expected] of [
    ['said', 0],
    ['unsaid', 1],
  ] as const) {
    const notes: string[] = [];
    const runs = new Runs();
    const supervisor = supervisorOf({ processes: runs, note: (_r, _k, text) => notes.push(text) });
    const record = recordOf('start=sleep 1\n');
    supervisor.register(record);
    const run = { seq: 7, pid: 9, alive: true, empty: false };
    supervisor.resumeStopping(record, run, Date.now() + 5000, 'stay-stopped', { killed });
    assert.equal(notes.filter((text) => text.includes('SIGKILL')).length, expected, killed);
    assert.deepEqual(runs.signals, [9], 'sent again quietly');
    supervisor.noteExit(record, 7, { code: null, signal: 'SIGKILL' }, true);
  }
});

// An outside review (35a): each takeover sent a stop under way a second SIGTERM, which a
// daemon may take for "quit now". A SIGTERM the keeper answered before is not sent again.
test('resumeStopping sends SIGTERM again only when its answer was not saved', () => {
  for (const [termedAt, expected] of [
    [undefined, [15]],
    [Date.now() - 1000, []],
  ] as const) {
    const runs = new Runs();
    const supervisor = supervisorOf({ processes: runs });
    const record = recordOf('start=sleep 1\n');
    supervisor.register(record);
    const run = { seq: 7, pid: 9, alive: true, empty: false };
    supervisor.resumeStopping(record, run, Date.now() + 5000, 'stay-stopped', { termedAt });
    assert.deepEqual(runs.signals, expected, `termedAt ${termedAt}`);
    assert.equal(record.state.kind === 'stopping' && record.state.termedAt, termedAt);
    supervisor.noteExit(record, 7, { code: null, signal: 'SIGTERM' }, true);
  }
});

// Each stop looked at every daemon to see whether all were stopped: N² / 2 looks to stop
// N daemons, a second of the manager's shutdown at N = 10,000.
test('stopAll resolves once the last daemon stopped, having looked at each a few times', async (t) => {
  const supervisor = supervisorOf({});
  const records = Array.from({ length: 200 }, (_, index) => {
    const { spec } = parseDaemonConfig('start=sleep 1\n', `/x/d${index}.conf`, `d${index}`);
    assert.ok(spec);
    const record = newRecord('alice', spec);
    supervisor.register(record);
    supervisor.start(record);
    if (record.state.kind === 'running')
      supervisor.noteSpawned(record, record.state.run, 1000 + index);
    return record;
  });
  const looks = t.mock.method(supervisor.daemons, 'values');
  let done = false;
  const stopped = supervisor.stopAll().then(() => {
    done = true;
  });
  for (const record of records) {
    await nextTurn();
    assert.equal(done, false, 'not before every daemon stopped');
    const { state } = record;
    assert.equal(state.kind, 'stopping');
    if (state.kind === 'stopping')
      supervisor.noteExit(record, state.run, { code: null, signal: 'SIGTERM' }, true);
  }
  await stopped;
  assert.ok(records.every((record) => record.state.kind === 'stopped'));
  assert.ok(looks.mock.callCount() <= 4, `every daemon looked at ${looks.mock.callCount()} times`);
});

// A manager killed in the middle of its shutdown saved every daemon as wanted down, and
// said in why that it was stopped as if by its user.
test('a shutdown’s stop is saved as wanted before it, and why says who stopped it', () => {
  const notes: string[] = [];
  const supervisor = supervisorOf({ note: (_record, _kind, text) => notes.push(text) });
  const running = recordOf('start=sleep 1\n');
  supervisor.register(running);
  assert.ok(supervisor.start(running).ok);
  const held = recordOf('start=sleep 1\n', 'held');
  supervisor.register(held);
  notes.length = 0;
  void supervisor.stopAll();
  assert.equal(running.wanted, 'down');
  assert.equal(supervisor.savedWanted(running), 'up');
  assert.equal(supervisor.savedWanted(held), 'down');
  assert.ok(
    notes.every((text) => text.endsWith(': the manager is shutting down')),
    notes.join(),
  );
  // A stop its user asks for meanwhile is theirs: wanted down for good.
  supervisor.stop(running);
  assert.equal(supervisor.savedWanted(running), 'down');
});

// A review: the run of an account deleted and made again under its name while the
// manager ran was, while it stopped, the new account's to see and signal.
test('a daemon disowned while it runs stops as the old account’s and is forgotten after', async () => {
  const runs = new Runs();
  const forgotten: string[] = [];
  const notes: string[] = [];
  const supervisor = supervisorOf({
    processes: runs,
    forgotten: (record) => forgotten.push(record.id),
    note: (_record, _kind, text) => notes.push(text),
  });
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  const started = supervisor.start(record);
  assert.ok(started.ok && started.run !== undefined);
  notes.length = 0;
  supervisor.disown(record);
  assert.equal(record.state.kind, 'stopping');
  assert.equal(record.state.kind === 'stopping' && record.state.former, true);
  assert.equal(record.wanted, 'down');
  assert.equal((await supervisor.signal(record, 'SIGKILL')).ok, false);
  supervisor.noteExit(record, started.run, { code: null, signal: 'SIGKILL' }, true);
  assert.equal(record.lastExit, undefined);
  assert.deepEqual(forgotten, ['alice/web']);
  assert.equal(supervisor.daemons.has('alice/web'), false);
  // Only the SIGTERM of the stop asked for: nothing said of how the old run ended.
  assert.deepEqual(notes, ['stopping pid 0 (SIGTERM)']);
});

// The bench's stop of 10,000 daemons gave up on runs 5 s after their SIGKILL and released
// them: the keeper forgot them, quit, and what was left ran on unknown.
test('a run given up on after SIGKILL stays the keeper’s until it is empty', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const released: number[] = [];
  const runs = new (class extends Runs {
    override release(run: number): void {
      released.push(run);
    }
  })();
  const notes: string[] = [];
  const supervisor = supervisorOf({
    processes: runs,
    note: (_record, _kind, text) => notes.push(text),
  });
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  const started = supervisor.start(record);
  assert.ok(started.ok && started.run !== undefined);
  supervisor.noteSpawned(record, started.run, 777);
  supervisor.stop(record);
  // A deadline is judged after the loop's next poll: setImmediate, not mocked.
  t.mock.timers.tick(1000);
  await new Promise(setImmediate);
  assert.ok(runs.signals.includes(9), 'SIGKILL at the stop timeout');
  t.mock.timers.tick(5000);
  await new Promise(setImmediate);
  assert.equal(record.state.kind, 'stopped', 'no longer waited for');
  assert.deepEqual(released, [], 'not released while something of it may be left');
  // Said where dmctl looks, not in the log alone (outside review 18c, 6: `why` said
  // "stopped", and `stop --wait` succeeded saying nothing more).
  assert.match(
    notes.join('\n'),
    /processes of pid 777 still there 5 s after SIGKILL \(uninterruptible sleep, as on a hung file system\?\): stopped without them/,
  );
  assert.deepEqual(statusOf(record, Date.now()).unkilled, [777]);
  // Its end comes as its last process's exit with the run empty (an outside review saw
  // the mark stay for good), or as an `empty` report of its own.
  supervisor.noteExit(record, started.run, { code: null, signal: 'SIGKILL' }, true);
  assert.deepEqual(released, [started.run], 'released once the keeper says it is empty');
  assert.equal(statusOf(record, Date.now()).unkilled, undefined);
  assert.equal(notes.at(-1), "the processes of pid 777's run left after SIGKILL are gone");
});

// An outside review stopped the keeper (SIGSTOP) past a stop's timeout: 5 s after the
// SIGKILL was asked for, the run was given up on and the daemon said stopped, while it ran
// on until the keeper went on; the SIGKILL and the run's end came after that.
/** alice's `web`, started (pid 777, its program begun), then told to stop. */
function stoppedWeb(supervisor: Supervisor): { record: DaemonRecord; run: number } {
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  const started = supervisor.start(record);
  assert.ok(started.ok && started.run !== undefined);
  supervisor.noteSpawned(record, started.run, 777);
  supervisor.noteBegun(record, started.run);
  supervisor.stop(record);
  return { record, run: started.run };
}

/** The keeper's answer to a signal, as Runs gives it. */
type Answer = { reached: number; errno: number };

/**
 * alice's `web` (pid 777) whose stop timed out (mock timers on): its SIGKILL asked for,
 * the keeper's answer held until `answer` is called.
 */
async function killAsked(
  t: TestContext,
  host: Partial<SupervisorHost>,
): Promise<{
  supervisor: Supervisor;
  record: DaemonRecord;
  run: number;
  answer: (result: Answer) => void;
}> {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  let held: ((result: Answer) => void) | undefined;
  const runs = new (class extends Runs {
    override signal(run: number, signal: number) {
      if (signal !== 9) return super.signal(run, signal);
      this.signals.push(signal);
      return new Promise<Answer>((resolve) => {
        held = resolve;
      });
    }
  })();
  const supervisor = supervisorOf({ processes: runs, ...host });
  const { record, run } = stoppedWeb(supervisor);
  // A deadline is judged after the loop's next poll: setImmediate, not mocked.
  t.mock.timers.tick(1000);
  await new Promise(setImmediate);
  assert.ok(held !== undefined, 'SIGKILL asked for at the stop timeout');
  const answer = held;
  return { supervisor, record, run, answer };
}

test('a SIGKILL the keeper has not answered is waited for, said, and the give-up counts from its answer', async (t) => {
  const errors: string[] = [];
  const notes: string[] = [];
  const { supervisor, record, run, answer } = await killAsked(t, {
    log: { ...quiet, error: (text) => errors.push(text) },
    note: (_record, _kind, text) => notes.push(text),
  });
  t.mock.timers.tick(5000);
  await new Promise(setImmediate);
  assert.equal(record.state.kind, 'stopping', 'not given up on without the keeper’s answer');
  assert.match(errors.join('\n'), /dm-keeper, pid 4242\) has not answered .*kill -CONT 4242/);
  assert.doesNotMatch(errors.join('\n'), /still there/);
  t.mock.timers.tick(60_000);
  await new Promise(setImmediate);
  assert.equal(record.state.kind, 'stopping', 'waited for as long as the keeper is silent');
  answer({ reached: 1, errno: 0 });
  await new Promise(setImmediate);
  t.mock.timers.tick(4000);
  await new Promise(setImmediate);
  assert.equal(record.state.kind, 'stopping', 'the give-up counts from the answer');
  supervisor.noteExit(record, run, { code: null, signal: 'SIGKILL' }, true);
  assert.equal(record.state.kind, 'stopped');
  assert.deepEqual(notes, [
    'started, pid 777',
    'stopping pid 777 (SIGTERM)',
    notes[2],
    'still running after the stop timeout: SIGKILL (the keeper carried it out only after 1m5s)',
    'pid 777 killed by SIGKILL after 1m10s, while stopping',
    'stopped',
  ]);
  assert.match(notes[2] ?? '', /has not answered for 5 s the SIGKILL/);
});

// A keeper stopped before the stop began carried out neither signal: it was said as
// silent on the SIGKILL alone, as though the SIGTERM had reached the daemon.
test('a keeper silent since before the stop is said silent on its SIGTERM too', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const runs = new (class extends Runs {
    override signal(_run: number, signal: number) {
      this.signals.push(signal);
      return new Promise<{ reached: number; errno: number }>(() => {});
    }
  })();
  const errors: string[] = [];
  const supervisor = supervisorOf({
    processes: runs,
    log: { ...quiet, error: (text) => errors.push(text) },
  });
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  const started = supervisor.start(record);
  assert.ok(started.ok && started.run !== undefined);
  supervisor.noteSpawned(record, started.run, 777);
  supervisor.stop(record);
  t.mock.timers.tick(1000);
  await new Promise(setImmediate);
  t.mock.timers.tick(5000);
  await new Promise(setImmediate);
  assert.match(
    errors.join('\n'),
    /has not answered the stop's SIGTERM, nor for 5 s its SIGKILL: is it stopped \(kill -CONT 4242\)/,
  );
});

// An outside review put a program on a FUSE mount that answered slowly (its exec 28 s) or
// never: the run was `running` from its fork, uptime counting, while the keeper's child
// was blocked in its exec, and a `ready=` check counted its timeout from there.
test('a run is starting until its program begins, and its ready= check is watched only from then', () => {
  const watched: number[] = [];
  const supervisor = supervisorOf({ watchReady: (_record, run) => watched.push(run) });
  const plain = recordOf('start=sleep 1\n');
  const checked = recordOf('start=sleep 1\nready=tcp:127.0.0.1:1\n', 'api');
  for (const record of [plain, checked]) {
    supervisor.register(record);
    supervisor.start(record);
    assert.ok(record.state.kind === 'running');
    supervisor.noteSpawned(record, record.state.run, 4242);
    assert.ok(record.state.kind === 'running');
    assert.equal(record.state.starting, true, `${record.id}: starting while in its exec`);
    assert.equal(record.state.execPending, true);
    assert.equal(record.begunAt, undefined, `${record.id}: no uptime before its program`);
  }
  assert.deepEqual(watched, [], 'no ready= check of a program not begun');
  for (const record of [plain, checked]) {
    assert.ok(record.state.kind === 'running');
    supervisor.noteBegun(record, record.state.run, 5_000);
    assert.equal(record.begunAt, 5_000);
  }
  assert.deepEqual(plain.state, { kind: 'running', run: 1, pid: 4242, since: 5_000 });
  assert.deepEqual(checked.state, {
    kind: 'running',
    run: 2,
    pid: 4242,
    since: 5_000,
    starting: true,
  });
  assert.deepEqual(watched, [2], 'its ready= check, once its program began');
  for (const record of [plain, checked]) clearTimeout(record.timer);
});

// The keeper's word that the program began and the program's READY=1 come on two
// sockets: under load the READY=1 was read first, dropped, and the daemon killed at its
// ready_timeout.
test('a READY=1 read before the keeper says the program began is kept for that run', () => {
  const watched: number[] = [];
  const supervisor = supervisorOf({ watchReady: (_record, run) => watched.push(run) });
  const record = recordOf('start=sleep 1\nready=notify\n');
  supervisor.register(record);
  supervisor.start(record);
  assert.ok(record.state.kind === 'running');
  const first = record.state.run;
  supervisor.noteSpawned(record, first, 4242);
  supervisor.noteReady(record, first);
  assert.equal(record.state.starting, true, 'starting until its program began');
  supervisor.noteBegun(record, first, 5_000);
  assert.deepEqual(record.state, { kind: 'running', run: first, pid: 4242, since: 5_000 });
  assert.deepEqual(watched, [], 'ready already: no ready_timeout armed');
  // Kept for its run only: the next run waits for its own READY=1.
  supervisor.noteReady(record, first);
  supervisor.noteExit(record, first, { code: 0, signal: null }, true);
  supervisor.start(record);
  assert.ok(record.state.kind === 'running');
  const second = record.state.run;
  supervisor.noteSpawned(record, second, 4343);
  supervisor.noteBegun(record, second, 6_000);
  assert.equal(record.state.starting, true);
  assert.deepEqual(watched, [second]);
  clearTimeout(record.timer);
});

test('a run that ended in its exec, or soon after a late begin, is no good run: its back-off grows', async () => {
  const supervisor = supervisorOf({});
  const stuck = recordOf('start=sleep 1\n');
  const late = recordOf('start=sleep 1\n', 'late');
  for (const record of [stuck, late]) {
    supervisor.register(record);
    supervisor.start(record);
    assert.ok(record.state.kind === 'running');
    supervisor.noteSpawned(record, record.state.run, 4242);
  }
  await delay(20); // longer than stable-uptime, all of it in the exec
  assert.ok(late.state.kind === 'running');
  const begun = Date.now();
  supervisor.noteBegun(late, late.state.run, begun);
  supervisor.noteExit(late, late.state.run, { code: 1, signal: null }, true, begun + 1);
  assert.ok(stuck.state.kind === 'running');
  supervisor.noteExit(stuck, stuck.state.run, { code: null, signal: 'SIGKILL' }, true);
  for (const record of [stuck, late]) {
    assert.equal(record.state.kind, 'coolingdown', record.id);
    assert.equal(record.cooldownMs, 1000, record.id);
    clearTimeout(record.timer);
  }
});

test("a start goes into why at the keeper's time of the fork", () => {
  const stamps: (number | undefined)[] = [];
  const supervisor = supervisorOf({ note: (_record, _kind, _text, at) => stamps.push(at) });
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  supervisor.start(record);
  assert.ok(record.state.kind === 'running');
  supervisor.noteSpawned(record, record.state.run, 4242, 12_345);
  assert.deepEqual(stamps, [12_345]);
  clearTimeout(record.timer);
});

test('a program not begun after 10 s is said so in why, once, and its begin after it', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const notes: string[] = [];
  const supervisor = supervisorOf({ note: (_record, _kind, text) => notes.push(text) });
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  supervisor.start(record);
  assert.ok(record.state.kind === 'running');
  const { run } = record.state;
  supervisor.noteSpawned(record, run, 4242);
  t.mock.timers.tick(9_999);
  await new Promise(setImmediate);
  assert.deepEqual(notes, ['started, pid 4242']);
  t.mock.timers.tick(1);
  await new Promise(setImmediate);
  t.mock.timers.tick(60_000);
  await new Promise(setImmediate);
  supervisor.noteBegun(record, run);
  assert.deepEqual(notes, [
    'started, pid 4242',
    'its program has not begun 10 s after its process (pid 4242) was made (a file system that is slow or does not answer, where the program or its dir= is?): starting until it does',
    'its program began 1m10s after its spawn (pid 4242)',
  ]);
  assert.equal(record.state.kind === 'running' && record.state.starting === true, false);
});

// An outside review took runs over (kill -9, SIGUSR2) while their exec was stuck: nothing
// was said of the slow exec by the new manager, nor later that the program began.
test('a run taken over in its exec is said slow as its own would be, and its begin after it', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 100_000 });
  const notes: string[] = [];
  const supervisor = supervisorOf({
    note: (record, _kind, text) => notes.push(`${record.id}: ${text}`),
  });
  const early = recordOf('start=sleep 1\n', 'early');
  const late = recordOf('start=sleep 1\n', 'late');
  for (const record of [early, late]) supervisor.register(record);
  supervisor.adopt(early, { seq: 7, pid: 4242, spawnedAt: 98_000, exec: 'pending' }, undefined);
  supervisor.adopt(late, { seq: 8, pid: 4343, spawnedAt: 85_000, exec: 'pending' }, undefined);
  t.mock.timers.tick(0);
  await new Promise(setImmediate);
  assert.deepEqual(notes, [
    'alice/late: its program has not begun 15 s after its process (pid 4343) was made (a file system that is slow or does not answer, where the program or its dir= is?): starting until it does',
  ]);
  t.mock.timers.tick(7_999);
  await new Promise(setImmediate);
  assert.equal(notes.length, 1, 'not before 10 s from its spawn');
  t.mock.timers.tick(1);
  await new Promise(setImmediate);
  assert.match(
    notes[1] ?? '',
    /^alice\/early: its program has not begun 10 s after its process \(pid 4242\)/,
  );
  supervisor.noteBegun(early, 7);
  supervisor.noteBegun(late, 8);
  assert.deepEqual(notes.slice(2), [
    'alice/early: its program began 10s after its spawn (pid 4242)',
    'alice/late: its program began 23s after its spawn (pid 4343)',
  ]);
  for (const record of [early, late])
    assert.equal(record.state.kind === 'running' && record.state.starting === true, false);
});

test("a stop's answer waits for the keeper to carry out its SIGTERM, and no longer", async () => {
  let answer: (() => void) | undefined;
  const runs = new Runs();
  // The keeper answers SIGTERM only when told to; every other signal at once.
  runs.signal = async (_run: number, signal: number) => {
    if (signal === 15) await new Promise<void>((resolve) => (answer = resolve));
    return { reached: 1, errno: 0 };
  };
  const supervisor = supervisorOf({ processes: runs, stopTimeoutMs: () => 60_000 });
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  supervisor.start(record);
  assert.ok(record.state.kind === 'running');
  supervisor.noteSpawned(record, record.state.run, 4242);
  supervisor.stop(record);
  let over = false;
  const waited = supervisor.untilTermAnswered(record, 60_000).then(() => {
    over = true;
  });
  await delay(20);
  assert.equal(over, false, 'answered before the keeper carried out the SIGTERM');
  answer?.();
  await waited;
  const after = record.state as DaemonRecord['state'];
  assert.ok(after.kind === 'stopping' && after.termedAt !== undefined);
  clearTimeout(record.timer);
});

// An outside review (66a, F4, Low, 200 of 200): a task's clean end (restart=no, status 0)
// was logged as a warning, beside every failure.
test('a task’s clean end is said at info, a failure at warn', () => {
  const levels: string[] = [];
  const supervisor = supervisorOf({
    log: {
      ...quiet,
      info: (text) => levels.push(`info ${text}`),
      warn: (text) => levels.push(`warn ${text}`),
    },
  });
  for (const [name, code] of [
    ['clean', 0],
    ['failing', 1],
  ] as const) {
    const record = recordOf('start=true\nrestart=no\n', name);
    supervisor.register(record);
    const started = supervisor.start(record);
    assert.ok(started.ok && started.run !== undefined);
    supervisor.noteSpawned(record, started.run, 700 + code);
    supervisor.noteExit(record, started.run, { code, signal: null }, true);
  }
  assert.deepEqual(
    levels.filter((line) => line.includes('exited with status')),
    [
      'info alice/clean: pid 700 exited with status 0',
      'warn alice/failing: pid 701 exited with status 1',
    ],
  );
});

// An outside review (73a, F3: 4 of 13): `why` listed a run's end by SIGKILL before the
// SIGKILL, the end stamped by the keeper when it reaped, the SIGKILL when its answer came.
test("a stop's SIGKILL goes into why at the time it was asked for, before the end it caused", async (t) => {
  const stamps: [string, number][] = [];
  const { supervisor, record, run, answer } = await killAsked(t, {
    note: (_record, _kind, text, at) => stamps.push([text, at ?? Date.now()]),
  });
  const asked = Date.now();
  // The keeper kills and reaps at once; its answer is read 30 ms later (a busy manager).
  t.mock.timers.tick(30);
  answer({ reached: 1, errno: 0 });
  await new Promise(setImmediate);
  supervisor.noteExit(record, run, { code: null, signal: 'SIGKILL' }, true, asked + 1);
  const kill = stamps.find(([text]) => text.startsWith('still running after the stop timeout'));
  const end = stamps.find(([text]) => text.includes('killed by SIGKILL'));
  assert.ok(kill !== undefined && end !== undefined, JSON.stringify(stamps));
  assert.ok(kill[1] <= end[1], `SIGKILL said at ${kill[1]}, the end it caused at ${end[1]}`);
});

// The same, for a SIGKILL a manager before sent, its note lost with the history: said at
// about when that manager had its answer, and before the end, which came while none ran.
test('a SIGKILL taken over unsaid goes into why before the end it caused', () => {
  const stamps: [string, number][] = [];
  const supervisor = supervisorOf({
    note: (_record, _kind, text, at) => stamps.push([text, at ?? Date.now()]),
  });
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  const run = { seq: 7, pid: 9, alive: false, empty: true };
  // Answered 3 s ago (the deadline is 5 s after the answer), the end a moment later.
  const answeredAt = Date.now() - 3000;
  const ended = { exit: { code: null, signal: 'SIGKILL' as const }, at: answeredAt + 2 };
  supervisor.resumeStopping(record, run, answeredAt + 5000, 'stay-stopped', {
    killed: 'unsaid',
    ended,
  });
  const kill = stamps.findIndex(([text]) => text.startsWith('still running after the stop'));
  const end = stamps.findIndex(([text]) => text.includes('killed by SIGKILL'));
  assert.ok(kill !== -1 && end !== -1, JSON.stringify(stamps));
  assert.ok((stamps[kill]?.[1] ?? 0) <= ended.at, JSON.stringify(stamps));
});

// An outside review (74b, F2: 31 of 32 kills 5 ms to 1 s into a shutdown): a stop's SIGTERM
// carried out was saved with the next batch, up to a second later, and a kill -9 of the
// manager meanwhile had the next one send a second. It is saved at once.
test("a stop's SIGTERM carried out is saved at once", async () => {
  let saves = 0;
  const supervisor = supervisorOf({ saveSoon: () => saves++ });
  const { record } = stoppedWeb(supervisor);
  assert.equal(saves, 0, 'not before the keeper carried it out');
  await nextTurn();
  assert.ok(record.state.kind === 'stopping' && record.state.termedAt !== undefined);
  assert.equal(saves, 1);
  clearTimeout(record.timer);
});

// An outside review (76a, F2: 190-945 ms of a 1 s stop timeout): a stop taken over whose
// SIGTERM the manager before had not had carried out kept that manager's deadline.
test('a SIGTERM sent at a takeover gets its whole stop timeout from then', () => {
  const supervisor = supervisorOf({ stopTimeoutMs: () => 1000 });
  const record = recordOf('start=sleep 1\n');
  supervisor.register(record);
  const run = { seq: 7, pid: 9, alive: true, empty: false };
  const before = Date.now();
  // The manager before decided it 800 ms ago: 200 ms left of its deadline.
  supervisor.resumeStopping(record, run, before + 200, 'stay-stopped', {});
  assert.ok(record.state.kind === 'stopping');
  assert.ok(
    record.state.deadline >= before + 1000,
    `deadline ${record.state.deadline - before} ms on`,
  );
  clearTimeout(record.timer);
});
