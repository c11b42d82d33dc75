import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const ROUNDS = 5;

/** Kills the manager with -9 and waits until it is gone. */
async function crash(manager: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => manager.once('exit', resolve));
  manager.kill('SIGKILL');
  await exited;
}

/**
 * The first review undid an answered `dmctl start` with a kill -9 right after it in 5 of
 * 5 rounds, and a `stop` in 1 of 5: the answer went out before the state was saved. An
 * answer now waits until the state behind it is on disk.
 */
describe('what dmctl answered survives a kill -9 of the manager right after', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const outcomes: string[] = [];

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'job', 'start=exec sleep 6400001\nautostart=no\n');
    let manager = await host.startManager();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [verb, expected] of [
        ['start', 'running'],
        ['stop', 'stopped'],
      ] as const) {
        const answer = await host.dmctl('alice', 'job', verb);
        assert.equal(answer.code, 0, answer.stderr);
        await crash(manager);
        manager = await host.startManager();
        const row = await host.waitForDaemon(
          'alice',
          'alice/job',
          (d) => d.state === 'running' || d.state === 'stopped',
          'to settle',
        );
        outcomes.push(`${verb}: ${row.state === expected ? 'kept' : `undone (${row.state})`}`);
      }
    }
  });
  after(() => host.cleanup());

  test(`an answered start and stop are kept, ${ROUNDS} rounds of each`, () => {
    assert.deepEqual(
      outcomes.filter((outcome) => outcome.includes('undone')),
      [],
      outcomes.join(', '),
    );
    assert.equal(outcomes.length, 2 * ROUNDS);
  });
});

/**
 * Kills the manager with -9 the moment its log says `line`: before the background save
 * (up to a second later) has written what it just did.
 */
async function crashOn(host: TestHost, manager: ChildProcess, line: RegExp): Promise<void> {
  const from = host.managerLog.length;
  const output = manager.stderr;
  assert.ok(output, "the manager's output is read");
  const exited = new Promise((resolve) => manager.once('exit', resolve));
  await new Promise<void>((resolve) => {
    const look = (): void => {
      if (!line.test(host.managerLog.slice(from))) return;
      manager.kill('SIGKILL');
      output.off('data', look);
      resolve();
    };
    output.on('data', look);
  });
  await exited;
}

/**
 * An outside review killed the manager (kill -9) within 100 ms of a daemon's exit: a
 * `restart=no` task then ran a second time in 10 kills of 20, and a cooldown under way was
 * lost (the daemon started at once, its respawn not counted) in 5 of 8. The manager had
 * let the keeper forget the ended run before its state said so; the next manager found
 * the run neither saved as ended nor in the keeper.
 */
describe('an exit the manager saw survives a kill -9 before it was saved', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let runs: string;

  before(() => {
    runs = `${host.user('alice').home}/task.runs`;
    host.writeMaster('[can_run_as]\n{alice}\n', 'restart-delay-max = 1h\n');
    // Its start is saved; it ends 0.3 s later, within the second before the next save.
    host.writeDaemon(
      'alice',
      'task',
      `start=echo ran >> ${runs}; sleep 0.3\nrestart=no\nautostart=no\n`,
    );
    host.writeDaemon(
      'alice',
      'crashy',
      'start=sleep 0.3; exit 1\nrestart_delay=30m\nautostart=no\n',
    );
  });
  after(() => host.cleanup());

  test(`a restart=no task killed around runs once, ${ROUNDS} rounds`, async () => {
    let manager = await host.startManager();
    for (let round = 1; round <= ROUNDS; round++) {
      const start = await host.dmctl('alice', 'task', 'start');
      assert.equal(start.code, 0, start.stderr);
      await crashOn(host, manager, /alice\/task: exited \(restart=no\); left down/);
      manager = await host.startManager();
      const row = await host.waitForDaemon(
        'alice',
        'alice/task',
        (d) => d.state !== 'running',
        'to settle',
      );
      const count = readFileSync(runs, 'utf8').split('\n').filter(Boolean).length;
      assert.equal(count, round, `round ${round}: the task ran ${count} times (${row.state})`);
    }
  });

  test('a cooldown begun just before the kill goes on, its respawn counted once', async () => {
    let manager = host.managerProcess();
    assert.ok(manager);
    const start = await host.dmctl('alice', 'crashy', 'start');
    assert.equal(start.code, 0, start.stderr);
    await crashOn(host, manager, /alice\/crashy: cooling down for/);
    manager = await host.startManager();
    const row = await host.waitForDaemon('alice', 'alice/crashy', () => true, 'to be listed');
    assert.equal(row.state, 'coolingdown', JSON.stringify(row));
    assert.equal(row.respawns, 1, JSON.stringify(row));
  });
});

/**
 * An outside review killed the new manager of an upgrade (kill -9) within a second of
 * its taking over, then started one again: in 7 of 9 rounds running daemons were killed
 * and started again, and a `restart=no` task that had ended ran a second time.
 */
describe('a kill -9 of the manager right after an upgrade', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const running = (d: { state: string; pid: number }): boolean =>
    d.state === 'running' && d.pid > 0;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n{carol}\n', 'stop-timeout = 5s');
    host.writeDaemon('bob', 'b1', 'start=exec sleep 6400200\n');
    // Others' daemons, loaded in the same start: the new manager's start takes a while.
    for (const short of ['bob', 'carol'])
      for (let index = 0; index < 40; index++)
        host.writeDaemon(short, `s${index}`, `start=exec sleep ${6400300 + index}\n`);
    host.writeDaemon(
      'alice',
      'rdy',
      'start=exec sleep 6400201\nready=exec:test -e /nonexistent\nready_timeout=10m\n',
    );
    host.writeDaemon(
      'alice',
      'slowstop',
      'start=exec sh -c \'trap "" TERM; while :; do sleep 1; done\'\nstop_timeout=3s\n',
    );
    // Writing all the time, into their logs through the keeper's pipes.
    for (const name of ['c1', 'c2', 'c3'])
      host.writeDaemon(
        'alice',
        name,
        `start=exec sh -c 'i=0; while :; do i=$((i+1)); echo ${name} $i; sleep 0.01; done'\noutput=log\n`,
      );
    host.writeDaemon('alice', 'task', 'start=echo ran >> $HOME/task-runs\nrestart=no\n');
    host.writeDaemon('alice', 'crashy', 'start=exit 3\n');
  });
  after(() => host.cleanup());

  test(`restarts nothing and runs no task again, ${ROUNDS} rounds`, async () => {
    await host.startManager();
    const runs = (): number =>
      readFileSync(`${host.user('alice').home}/task-runs`, 'utf8').split('\n').length - 1;
    await host.waitForDaemon('alice', 'alice/task', (d) => d.state === 'exited', 'to end');
    // Every user's running daemons: a state saved half-way through a start lacked some.
    const pids = (): Promise<string[]> =>
      waitFor('every daemon to run', async () => {
        const rows = (await host.status('root')).filter(
          (d) => d.name !== 'crashy' && d.name !== 'task',
        );
        return rows.length === 86 && rows.every((d) => d.pid > 0)
          ? rows.map((d) => `${d.id} ${d.pid}`)
          : undefined;
      });
    for (const name of ['c1', 'c2', 'c3'])
      await host.waitForDaemon('alice', `alice/${name}`, running, 'to run');
    const before_ = await pids();
    for (let round = 0; round < ROUNDS; round++) {
      const from = host.managerLog.length;
      const old = host.managerPid();
      const output = host.managerProcess()?.stderr;
      assert.ok(output, "the manager's output is read");
      // Killed the moment it says it runs (it has told the old one it is done).
      await new Promise<void>((resolve) => {
        const look = (): void => {
          const pid = new RegExp(`running, pid (?!${old}\\b)(\\d+)`).exec(
            host.managerLog.slice(from),
          )?.[1];
          if (pid === undefined) return;
          output.off('data', look);
          process.kill(Number(pid), 'SIGKILL');
          resolve();
        };
        output.on('data', look);
        process.kill(old, 'SIGUSR2');
      });
      await waitFor('the old manager to exit', () => (isAlive(old) ? undefined : true));
      await host.startManager();
      for (const name of ['c1', 'c2', 'c3'])
        await host.waitForDaemon('alice', `alice/${name}`, running, 'to run');
      assert.deepEqual(await pids(), before_, `round ${round}: no daemon restarted`);
      const task = await host.waitForDaemon('alice', 'alice/task', () => true, 'known');
      assert.equal(task.state, 'exited', `round ${round}`);
      assert.equal(runs(), 1, `round ${round}: the task ran once`);
    }
  });
});

/** Sends `request` on a user's control socket once connected; resolves with the socket. */
function ask(path: string, request: object): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('error', reject);
    socket.once('connect', () =>
      socket.write(`${JSON.stringify(request)}\n`, () => resolve(socket)),
    );
  });
}

/**
 * While the manager is down its keeper holds the control sockets, so dmctl connects, sends
 * its request and waits; after 30 s it gives up and says so. A review found the next
 * manager carried out such a request all the same, a stop the user had been told failed.
 * A request whose client has gone is now dropped; one whose client still waits is done.
 */
describe('a request its client gave up on while the manager was down', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('is not carried out by the next manager; a waiting one is', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'abandoned', 'start=exec sleep 6400002\n');
    host.writeDaemon('alice', 'awaited', 'start=exec sleep 6400003\n');
    const manager = await host.startManager();
    const running = (d: { state: string }): boolean => d.state === 'running';
    for (const name of ['abandoned', 'awaited'])
      await host.waitForDaemon('alice', `alice/${name}`, running, 'to run');
    await crash(manager);

    const socket = join(host.dir, 'run', `${host.user('alice').name}.sock`);
    const givenUp = await ask(socket, { command: 'stop', id: 'abandoned' });
    givenUp.destroy();
    const waiting = await ask(socket, { command: 'stop', id: 'awaited' });
    let reply = '';
    waiting.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
    const answered = new Promise((resolve) => waiting.once('end', resolve));

    const from = host.managerLog.length;
    await host.startManager();
    await answered;
    assert.match(reply, /"ok":true/);
    await waitFor('the abandoned request to be dropped', () =>
      /alice's stop not carried out: the client closed its connection/.test(
        host.managerLog.slice(from),
      )
        ? true
        : undefined,
    );
    await host.waitForDaemon('alice', 'alice/awaited', (d) => d.state === 'stopped', 'stopped');
    const rows = await host.status('alice');
    assert.equal(rows.find((row) => row.id.endsWith('/abandoned'))?.state, 'running');
  });

  test('a client that shuts down its side after its request still gets the answer', async () => {
    // An outside review: `stop` was done, and the client read nothing (8 of 8).
    const socket = join(host.dir, 'run', `${host.user('alice').name}.sock`);
    const halfClosed = await ask(socket, { command: 'stop', id: 'abandoned' });
    let reply = '';
    halfClosed.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
    const answered = new Promise((resolve) => halfClosed.once('close', resolve));
    halfClosed.end();
    await answered;
    assert.match(reply, /"ok":true/);
    const rows = await host.status('alice');
    assert.equal(rows.find((row) => row.id.endsWith('/abandoned'))?.state, 'stopped');
  });
});
