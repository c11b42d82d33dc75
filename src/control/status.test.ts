import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DaemonSpec, parseDaemonConfig } from '../config/daemon.ts';
import type { DaemonStatus } from '../protocol/messages.ts';
import { formatStatusTable } from '../protocol/status-table.ts';
import { type DaemonRecord, newRecord } from '../supervisor/state.ts';
import { brokenStatus, statusOf } from './status.ts';

const NOW = 1_700_000_000_000;
const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

function specOf(text: string): DaemonSpec {
  const { spec, problems } = parseDaemonConfig(text, 'wordpress.conf', 'wordpress');
  assert.ok(spec, JSON.stringify(problems));
  return spec;
}

const SPEC = specOf('start=exec ./wp\nuser=www-data\noutput=log\n');

/** A record of david/wordpress with the given fields changed. */
function record(changes: Partial<DaemonRecord>, spec: DaemonSpec = SPEC): DaemonRecord {
  return { ...newRecord('david', spec), ...changes };
}

/** The status of a freshly loaded, stopped david/wordpress. */
const STOPPED: DaemonStatus = {
  id: 'david/wordpress',
  user: 'david',
  name: 'wordpress',
  state: 'stopped',
  wanted: 'down',
  pid: 0,
  respawns: 0,
  cooldown: 0,
  cooldownStep: 0,
  uptime: 0,
  total: 0,
  runAs: 'www-data',
  output: 'log',
  restart: 'always',
};

describe('statusOf', () => {
  const cases: { name: string; record: DaemonRecord; expected: DaemonStatus }[] = [
    {
      name: 'a daemon never started is stopped with everything zero',
      record: record({}),
      expected: STOPPED,
    },
    {
      // An outside review, in a crash storm: `running`, pid 0, its uptime ticking.
      name: 'a daemon whose spawn the keeper has not made yet is starting, with no uptime',
      record: record({
        wanted: 'up',
        state: { kind: 'running', run: 7, pid: 0, since: NOW - 3 * SECOND },
        startedAt: NOW - HOUR,
        begunAt: NOW - 3 * SECOND,
      }),
      expected: { ...STOPPED, state: 'starting', wanted: 'up' },
    },
    {
      // An outside review: a program on a slow FUSE mount, its exec 28 s long, was
      // `running` all along, uptime counting, and one that never began for good.
      name: 'a daemon whose process is made and whose program has not begun is starting, with its pid and no uptime',
      record: record({
        wanted: 'up',
        state: {
          kind: 'running',
          run: 7,
          pid: 9609,
          since: NOW - 51 * SECOND,
          starting: true,
          execPending: true,
        },
        startedAt: NOW - 51 * SECOND,
      }),
      expected: { ...STOPPED, state: 'starting', wanted: 'up', pid: 9609, total: 51 },
    },
    {
      name: 'a running daemon shows its pid, time since spawn and since start',
      record: record({
        wanted: 'up',
        state: { kind: 'running', run: 1, pid: 27012, since: NOW - 46_632 * SECOND },
        respawns: 33,
        startedAt: NOW - (3 * 7 + 3) * DAY - 5 * HOUR,
        begunAt: NOW - 46_632 * SECOND,
      }),
      expected: {
        ...STOPPED,
        state: 'running',
        wanted: 'up',
        pid: 27012,
        respawns: 33,
        uptime: 46_632,
        total: 24 * 86_400 + 5 * 3600,
      },
    },
    {
      name: 'a running daemon has no cooldown left, and its back-off step in whole seconds',
      record: record({
        wanted: 'up',
        state: { kind: 'running', run: 1, pid: 4242, since: NOW - 1_500 },
        cooldownMs: 20_999,
        startedAt: NOW - 100 * SECOND,
        begunAt: NOW - 1_500,
      }),
      expected: {
        ...STOPPED,
        state: 'running',
        wanted: 'up',
        pid: 4242,
        cooldownStep: 20,
        uptime: 1,
        total: 100,
      },
    },
    {
      name: 'a stopping daemon shows its process group and keeps counting',
      record: record({
        wanted: 'down',
        state: {
          kind: 'stopping',
          run: 1,
          pid: 27012,
          mainAlive: true,
          empty: false,
          deadline: NOW + 10 * SECOND,
          killed: false,
          afterwards: 'stay-stopped',
        },
        startedAt: NOW - 60 * SECOND,
        begunAt: NOW - 42 * SECOND,
      }),
      expected: { ...STOPPED, state: 'stopping', pid: 27012, uptime: 42, total: 60 },
    },
    {
      name: 'a cooling-down daemon shows the seconds left, rounded up, and no pid, uptime or total',
      record: record({
        wanted: 'up',
        state: { kind: 'coolingdown', until: NOW + 7_500 },
        respawns: 2,
        cooldownMs: 20_000,
        startedAt: NOW - 30 * SECOND,
        begunAt: NOW - 2 * SECOND,
        lastExit: { code: 1, signal: null },
      }),
      expected: {
        ...STOPPED,
        state: 'coolingdown',
        wanted: 'up',
        respawns: 2,
        cooldown: 8,
        cooldownStep: 20,
        lastExit: 'exit status 1',
        lastExitCode: 1,
      },
    },
    {
      name: 'a cooling-down daemon whose timer is late shows a cooldown of 0, not less',
      record: record({
        wanted: 'up',
        state: { kind: 'coolingdown', until: NOW - 1_500 },
        startedAt: NOW - 30 * SECOND,
      }),
      expected: { ...STOPPED, state: 'coolingdown', wanted: 'up' },
    },
    {
      name: 'a daemon stopped after running shows no uptime or total, and how it ended',
      record: record({
        respawns: 5,
        cooldownMs: 10_000,
        startedAt: NOW - DAY,
        begunAt: NOW - HOUR,
        lastExit: { code: null, signal: 'SIGKILL' },
      }),
      expected: {
        ...STOPPED,
        respawns: 5,
        cooldownStep: 10,
        lastExit: 'killed by SIGKILL',
        lastExitSignal: 'SIGKILL',
      },
    },
    {
      name: 'a daemon that could not be started shows the spawn error',
      record: record({ lastExit: { code: null, signal: null, error: 'spawn /bin/sh EACCES' } }),
      expected: { ...STOPPED, lastExit: 'spawn /bin/sh EACCES' },
    },
    {
      name: 'a daemon that exited 0 says so',
      record: record({ lastExit: { code: 0, signal: null } }),
      expected: { ...STOPPED, lastExit: 'exit status 0', lastExitCode: 0 },
    },
    {
      name: 'times in the future (clock stepped back) show as 0',
      record: record({
        state: { kind: 'running', run: 1, pid: 7, since: NOW + HOUR },
        startedAt: NOW + HOUR,
        begunAt: NOW + HOUR,
      }),
      expected: { ...STOPPED, state: 'running', pid: 7 },
    },
    {
      name: 'a daemon without user= runs as its owner, and may discard output',
      record: record({}, specOf('start=exec ./wp\n')),
      expected: { ...STOPPED, runAs: 'david', output: 'discard' },
    },
  ];
  for (const { name, record, expected } of cases) {
    test(name, () => {
      assert.deepEqual(statusOf(record, NOW), expected);
    });
  }

  test('the running daemon of the original documentation prints its exact row', () => {
    const running = record({
      wanted: 'up',
      state: { kind: 'running', run: 1, pid: 27012, since: NOW - 46_632 * SECOND },
      respawns: 33,
      startedAt: NOW - 24 * DAY - 5 * HOUR,
      begunAt: NOW - 46_632 * SECOND,
    });
    assert.equal(
      formatStatusTable([statusOf(running, NOW)]).split('\n')[1],
      'david/wordpress                running          27012       33       0s   12h57m     3w3d www-data -',
    );
  });

  const PROBLEM = '/home/david/.daemon-manager/daemons/wordpress.conf:2: error: bad';

  // Its run-as the owner, as for a file never accepted: what the file asks (a `user=root`
  // refused) is nobody's run, and a script of root's looking for daemons that run as root
  // found a user's refused file (an outside review, 48b, F2).
  test('a stopped daemon whose config is now broken shows as broken, with the problem', () => {
    assert.deepEqual(statusOf(record({}), NOW, PROBLEM), {
      ...STOPPED,
      state: 'broken',
      runAs: 'david',
      problem: PROBLEM,
    });
  });

  test('a running daemon whose config broke still shows running, with the problem', () => {
    const running = record({
      wanted: 'up',
      state: { kind: 'running', run: 1, pid: 7, since: NOW },
    });
    const row = statusOf(running, NOW, PROBLEM);
    assert.equal(row.state, 'running');
    assert.equal(row.problem, PROBLEM);
  });
});

// A review saw "exit status null" for every daemon whose keeper had been killed.
test('a run that ended unseen (its keeper died) says it ended, not "exit status null"', () => {
  const ended = record({
    wanted: 'up',
    state: { kind: 'running', run: 2, pid: 8, since: NOW },
    lastExit: { code: null, signal: null },
  });
  assert.equal(statusOf(ended, NOW).lastExit, 'ended');
});

describe('brokenStatus', () => {
  test('a daemon known only by its broken file is broken, down, with nothing running', () => {
    assert.deepEqual(
      brokenStatus({
        id: 'david/blog',
        owner: 'david',
        name: 'blog',
        file: '/h/blog.conf',
        problem: '/h/blog.conf:1: error: x',
      }),
      {
        id: 'david/blog',
        user: 'david',
        name: 'blog',
        state: 'broken',
        wanted: 'down',
        pid: 0,
        respawns: 0,
        cooldown: 0,
        cooldownStep: 0,
        uptime: 0,
        total: 0,
        runAs: 'david',
        output: 'discard',
        problem: '/h/blog.conf:1: error: x',
      },
    );
  });
});

describe('statusOf: sd_notify and health', () => {
  const running = { kind: 'running', run: 7, pid: 4242, since: NOW - HOUR } as const;
  const checked = specOf(
    'start=exec ./wp\nuser=www-data\nhealth=tcp:127.0.0.1:80\nhealth_retries=3\n',
  );

  test('STATUS= and RELOADING=1 of the current run show; those of an older run do not', () => {
    const now = statusOf(
      record({ state: running, notified: { run: 7, status: 'busy', phase: 'reloading' } }),
      NOW,
    );
    assert.deepEqual([now.state, now.status], ['reloading', 'busy']);
    const old = statusOf(record({ state: running, notified: { run: 6, status: 'old' } }), NOW);
    assert.deepEqual([old.state, old.status], ['running', undefined]);
  });

  test('health shows unchecked, failing N/M or healthy, with the unhealthy count', () => {
    const at = (health: DaemonRecord['health'], unhealthy = 0): DaemonStatus =>
      statusOf(record({ state: running, health, unhealthy }, checked), NOW);
    assert.deepEqual(
      [at({ run: 7, failures: 0, checked: false }).health, at(undefined).unhealthy],
      ['unchecked', 0],
    );
    const failing = at({ run: 7, failures: 2, checked: true }, 1);
    assert.deepEqual([failing.health, failing.unhealthy], ['failing 2/3', 1]);
    assert.equal(at({ run: 7, failures: 0, checked: true }).health, 'healthy');
    assert.equal(statusOf(record({ state: running }), NOW).unhealthy, undefined);
  });

  test('the table has a status column only when a daemon has something in it', () => {
    const plain = formatStatusTable([statusOf(record({ state: running }), NOW)]);
    assert.doesNotMatch(plain.split('\n')[0] ?? '', /status/);
    const noted = formatStatusTable([
      statusOf(
        record(
          { state: running, unhealthy: 2, health: { run: 7, failures: 1, checked: true } },
          checked,
        ),
        NOW,
      ),
    ]);
    assert.match(noted.split('\n')[0] ?? '', /last-exit +status$/);
    assert.match(noted.split('\n')[1] ?? '', /failing 1\/3; 2 unhealthy$/);
  });
});
