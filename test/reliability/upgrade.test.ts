import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { readWhen, waitForDeath } from '../helpers/cli.ts';
import { counterProblems, counterRuns, highestCount, lastWritten } from '../helpers/counter.ts';
import { type CommandResult, FIXTURES, TestHost } from '../helpers/host.ts';
import { copyInstall, type InstallCopy } from '../helpers/install.ts';
import { isAlive, liveGroupMembers } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const COUNTERS = ['alice/one', 'alice/two', 'bob/three'] as const;
/** Lines per burst: alice/one writes as fast as it can, so its pipe is rarely empty. */
const BURST: Record<string, number> = { 'alice/one': 500, 'alice/two': 5, 'bob/three': 200 };
/** bob/three stamps its lines: those the handover writes itself must be stamped too. */
const STAMPED = 'bob/three';
const ALL = [...COUNTERS, 'bob/quiet'] as const;

/** Runs `dmctl status` as root again and again until stopped; keeps every result. */
interface Answer extends CommandResult {
  readonly askedAt: number;
  readonly answeredAt: number;
}

/** Runs `dmctl status` as root in three loops until stopped; keeps every result. */
function keepAsking(host: TestHost): { results: Answer[]; stop: () => Promise<void> } {
  const results: Answer[] = [];
  let asking = true;
  const loop = async (): Promise<void> => {
    while (asking) {
      const askedAt = Date.now();
      const result = await host.dmctl('root', 'status');
      results.push({ ...result, askedAt, answeredAt: Date.now() });
    }
  };
  const loops = [loop(), loop(), loop()];
  return {
    results,
    stop: async () => {
      asking = false;
      await Promise.all(loops);
    },
  };
}

describe('upgrade by SIGUSR2', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const host = new TestHost();
  const marker = `upgraded-code-${randomBytes(4).toString('hex')}`;
  let install: InstallCopy;
  let managerPid = 0;
  let before_: Map<string, DaemonStatus>;
  let after_: Map<string, DaemonStatus>;
  /** The manager's log from the SIGUSR2 on. */
  let logSinceUpgrade = '';
  /** How far each counter had got when SIGUSR2 was sent. */
  const countAtUpgrade = new Map<string, number>();
  let answers: Answer[] = [];
  /** When SIGUSR2 was sent, and when the new code said it runs. */
  let upgradeSent = 0;
  let upgradeDone = 0;

  const split = (id: string): [string, string] => id.split('/') as [string, string];
  const logOf = (id: string): string =>
    join(host.user(split(id)[0]).home, `.daemon-manager/logs/${split(id)[1]}.log`);
  const readLog = (id: string): string => readFileSync(logOf(id), 'utf8');
  const byId = (rows: DaemonStatus[]): Map<string, DaemonStatus> =>
    new Map(rows.map((row) => [row.id, row]));

  before(async () => {
    install = copyInstall(join(host.dir, 'install'));
    // A daemon that ran a second is stable: a kill -9 after the upgrade is respawned at once.
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n', 'stable-uptime = 1s');
    for (const id of COUNTERS) {
      const [short, daemon] = split(id);
      host.writeDaemon(
        short,
        daemon,
        `start=exec ${FIXTURES}/counter.sh ${host.user(short).home} ${BURST[id]}\noutput=log\n${
          id === STAMPED ? 'log_timestamps=yes\n' : ''
        }`,
      );
    }
    host.writeDaemon('bob', 'quiet', 'start=exec sleep 100000\n');
    await host.startManager([], install.daemonManager);
    managerPid = host.managerPid();
    // Uptimes of 2s or more tell an adopted daemon (uptime kept) from a restarted one.
    for (const id of ALL)
      await host.waitForDaemon(
        'root',
        id,
        (d) => d.state === 'running' && d.uptime >= 2,
        'to run 2s',
      );
    for (const id of COUNTERS)
      await waitFor(`${id} to write 20 lines`, () =>
        highestCount(readLog(id)) >= 20 ? true : undefined,
      );
    before_ = byId(await host.status('root'));

    // The new version: the same code, plus a line on stderr at start-up.
    const code = readFileSync(install.bundle, 'utf8');
    writeFileSync(`${install.bundle}.new`, `process.stderr.write('${marker}\\n');\n${code}`);
    renameSync(`${install.bundle}.new`, install.bundle);

    const asking = keepAsking(host);
    try {
      const from = host.managerLog.length;
      for (const id of COUNTERS) countAtUpgrade.set(id, highestCount(readLog(id)));
      upgradeSent = Date.now();
      process.kill(managerPid, 'SIGUSR2');
      await waitFor(
        'the upgraded manager to say it runs',
        () => {
          // The new one says it runs; the old one says so too, as it leaves.
          const at = host.managerLog.indexOf(marker);
          const since = at === -1 ? '' : host.managerLog.slice(at);
          return / running, pid /.test(since) && /upgrade done: /.test(since) ? true : undefined;
        },
        { describe: () => host.managerLog.slice(from) },
      );
      upgradeDone = Date.now();
      logSinceUpgrade = host.managerLog.slice(from);
      const asked = asking.results.length;
      await waitFor('three more answers after the upgrade', () =>
        asking.results.length >= asked + 3 ? true : undefined,
      );
    } finally {
      await asking.stop();
      answers = asking.results;
    }
    after_ = byId(await host.status('root'));
  });
  after(() => host.cleanup());

  test('the new code from disk takes over in a new process; the old one exits', async () => {
    assert.ok(logSinceUpgrade.includes(marker), logSinceUpgrade);
    const successor = host.managerPid();
    assert.notEqual(successor, managerPid);
    assert.match(
      logSinceUpgrade,
      new RegExp(`upgrade done: the manager runs as pid ${successor} now`),
    );
    assert.match(logSinceUpgrade, new RegExp(` running, pid ${successor}\\b`));
    assert.ok(isAlive(successor));
    // It leaves 100 ms after its last line, once its log is written out: wait for that.
    await waitForDeath(managerPid, 'the old manager');
  });

  test('every daemon keeps its pid, its respawns and its uptime', () => {
    for (const id of ALL.map((id) => host.id(id))) {
      const was = before_.get(id);
      const is = after_.get(id);
      assert.ok(was && is, `${id} listed before and after`);
      assert.equal(is.state, 'running', id);
      assert.equal(is.pid, was.pid, `${id} pid`);
      assert.ok(isAlive(is.pid), `${id} pid ${is.pid} alive`);
      assert.equal(is.respawns, was.respawns, `${id} respawns`);
      assert.ok(is.uptime >= was.uptime, `${id} uptime ${was.uptime}s then ${is.uptime}s`);
    }
  });

  test('no daemon is started again by the upgrade', () => {
    assert.doesNotMatch(logSinceUpgrade, /: started, pid /);
    for (const id of ALL)
      assert.match(
        logSinceUpgrade,
        new RegExp(`${host.id(id)}: pid \\d+ taken over from the keeper`),
      );
    for (const id of COUNTERS)
      assert.equal(
        readLog(id).split(`starting ${host.id(id)} `).length - 1,
        1,
        `${id}: one banner`,
      );
  });

  test('dmctl status is answered before, during and after the upgrade', () => {
    const during = answers.filter(
      (answer) => answer.askedAt <= upgradeSent && answer.answeredAt >= upgradeSent,
    );
    assert.ok(during.length > 0, 'a call was in flight when SIGUSR2 came');
    assert.ok(
      answers.some((answer) => answer.askedAt >= upgradeDone),
      'calls after it',
    );
    const failed = answers.filter((answer) => answer.code !== 0);
    assert.deepEqual(failed, [], `${failed.length} of ${answers.length} calls failed`);
  });

  test('a daemon killed with -9 after the upgrade is respawned with a new pid', async () => {
    const id = 'alice/two';
    const was = after_.get(host.id(id));
    assert.ok(was);
    process.kill(was.pid, 'SIGKILL');
    const is = await host.waitForDaemon(
      'root',
      id,
      (d) => d.state === 'running' && d.pid !== was.pid,
      'to be respawned after its kill -9',
    );
    assert.equal(is.respawns, was.respawns + 1);
    assert.ok(isAlive(is.pid));
    // The new run's first line comes after the killed run's last in the daemon's one pipe:
    // once it is in the log, so is everything the killed run wrote.
    await waitFor('the new run in the log', () =>
      counterRuns(readLog(id)).has(is.pid) ? true : undefined,
    );
    const killed = counterRuns(readLog(id)).get(was.pid);
    assert.ok(killed, 'the killed run is in the log');
    const last = lastWritten(host.user('alice').home, was.pid);
    assert.ok(
      killed.numbers.length === last || killed.numbers.length === last + 1,
      `the log has ${killed.numbers.length} of its lines; it wrote ${last} or ${last + 1}`,
    );
  });

  test('output goes on reaching the logs after the upgrade, every line once', async () => {
    for (const id of COUNTERS) {
      const reached = (countAtUpgrade.get(id) ?? 0) + 50;
      await waitFor(`${id} to write past line ${reached}`, () =>
        [...counterRuns(readLog(id)).values()].some((run) => run.numbers.length >= reached)
          ? true
          : undefined,
      );
    }
    for (const id of COUNTERS) {
      const [short, daemon] = split(id);
      const stop = await host.dmctl(short, daemon, 'stop');
      assert.equal(stop.code, 0, stop.stderr);
      await host.waitForDaemon('root', id, (d) => d.state === 'stopped', 'to stop');
    }
    for (const id of COUNTERS) {
      const runs = [...counterRuns(readLog(id)).values()];
      assert.ok(runs.length >= 1, `${id}: a run in the log`);
      assert.deepEqual(
        runs.flatMap((run) => counterProblems(run)),
        [],
        id,
      );
      const last = runs.at(-1);
      assert.ok(last?.end !== undefined, `${id}: its last run logged its end line`);
    }
    const unstamped = readLog(STAMPED)
      .split('\n')
      .slice(0, -1)
      .filter((line) => !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S|^--- /.test(line));
    assert.deepEqual(unstamped, [], `${STAMPED}: every line stamped`);
  });
});

describe('an upgrade while a daemon is being stopped', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const ready = (): string => join(host.user('alice').home, 'stubborn.ready');

  before(async () => {
    const install = copyInstall(join(host.dir, 'install'));
    host.writeMaster('[can_run_as]\n{alice}\n');
    // It ignores SIGTERM: only the SIGKILL after stop_timeout ends it.
    host.writeDaemon(
      'alice',
      'stubborn',
      `start=exec ${FIXTURES}/trap-term.sh ${ready()}\nstop_timeout=3s\n`,
    );
    await host.startManager([], install.daemonManager);
  });
  after(() => host.cleanup());

  test('the stop goes on after the upgrade and ends with the daemon stopped', async () => {
    await readWhen(ready(), (text) => text === 'ready\n');
    const running = await host.waitForDaemon(
      'alice',
      'alice/stubborn',
      (d) => d.state === 'running',
      'to run',
    );
    const stop = await host.dmctl('alice', 'stubborn', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await host.waitForDaemon(
      'alice',
      'alice/stubborn',
      (d) => d.state === 'stopping',
      'to be stopping',
    );
    const from = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGUSR2');
    await waitFor('the upgraded manager to say it runs', () =>
      / running, pid /.test(host.managerLog.slice(from)) ? true : undefined,
    );
    const stopped = await host.waitForDaemon(
      'alice',
      'alice/stubborn',
      (d) => d.state === 'stopped',
      'to end stopped',
    );
    assert.equal(stopped.wanted, 'down');
    await waitForDeath(running.pid, 'the stubborn daemon');
    assert.deepEqual(liveGroupMembers(running.pid), []);
  });
});

/**
 * A review broke a running daemon's file, then upgraded: the new code stopped the daemon
 * as if its file were gone, though a broken file never makes a daemon vanish here.
 */
describe('an upgrade, and a restart after kill -9, with a daemon whose file is broken', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let install: InstallCopy;

  before(async () => {
    install = copyInstall(join(host.dir, 'install'));
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6900401\n');
    await host.startManager([], install.daemonManager);
  });
  after(() => host.cleanup());

  test('the daemon runs on, with the same pid, its file still said to be broken', async () => {
    const running = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6900401\nautostart=perhaps\n');
    await host.dmctl('alice', 'rescan');
    const from = host.managerLog.length;
    const old = host.managerPid();
    process.kill(old, 'SIGUSR2');
    await waitFor('the upgraded manager to say it runs', () =>
      / running, pid /.test(host.managerLog.slice(from)) ? true : undefined,
    );
    // The old one holds the state directory's lock until its log is written out: the
    // start after the kill below came sooner once, and was refused.
    await waitForDeath(old, 'the old manager');
    const after_ = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to be there');
    assert.equal(after_.pid, running.pid);
    assert.equal(after_.state, 'running');
    assert.match(after_.problem ?? '', /autostart/);
    assert.doesNotMatch(host.managerLog.slice(from), /no config claims it/);
    assert.ok(isAlive(running.pid));

    // The same after a crash of the manager: the next one takes the daemon over.
    const keeper = host.keeperPid();
    process.kill(host.managerPid(), 'SIGKILL');
    await waitForDeath(host.managerPid(), 'the killed manager');
    const again = host.managerLog.length;
    await host.startManager([], install.daemonManager);
    assert.equal(host.keeperPid(), keeper);
    const taken = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to be there');
    assert.equal(taken.pid, running.pid);
    assert.doesNotMatch(host.managerLog.slice(again), /no config claims it/);
  });
});
