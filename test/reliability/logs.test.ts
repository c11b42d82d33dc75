import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { counterProblems, counterRuns, highestCount, lastWritten } from '../helpers/counter.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const BANNER = / daemon-manager: starting /;

/** A counting daemon with output=log and any extra config lines. */
const counter = (host: TestHost, short: string, burst: number, extra = ''): string =>
  `start=exec ${FIXTURES}/counter.sh ${host.user(short).home} ${burst}\noutput=log\n${extra}`;

/** Stops a daemon with dmctl (its counter writes its end line) and waits until it is stopped. */
async function stopDaemon(host: TestHost, short: string, name: string): Promise<void> {
  const stop = await host.dmctl(short, name, 'stop');
  assert.equal(stop.code, 0, stop.stderr);
  await host.waitForDaemon(short, `${short}/${name}`, (d) => d.state === 'stopped', 'to stop');
}

/** The longest line the counter writes. */
const LINE = 40;

describe('log rotation by size', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const logOf = (name: string): string =>
    join(host.user('alice').home, `.daemon-manager/logs/${name}.log`);
  /** The kept files of a log, oldest first, read whole. */
  const kept = (name: string, keep: number): string[] => {
    const paths = [];
    for (let index = keep; index >= 1; index--) paths.push(`${logOf(name)}.${index}`);
    return [...paths, logOf(name)].filter(existsSync).map((path) => readFileSync(path, 'utf8'));
  };

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n', 'log-max-size = 8K\nlog-keep = 4');
    host.writeDaemon('alice', 'small', counter(host, 'alice', 20, 'log_max_size=4K\nlog_keep=2\n'));
    host.writeDaemon('alice', 'bounded', counter(host, 'alice', 20));
    // 3 MB without a newline (a progress bar with \r, a binary dump), then an end mark.
    host.writeDaemon(
      'alice',
      'flat',
      `start=head -c 3000000 /dev/zero | tr '\\0' a; echo; echo flat-done; exec sleep 6900001\noutput=log\n`,
    );
    await host.startManager();
  });
  after(() => host.cleanup());

  test('output without newlines rotates too: no file passes its size', async () => {
    await waitFor('the end mark', () =>
      existsSync(logOf('flat')) && /^flat-done$/m.test(readFileSync(logOf('flat'), 'utf8'))
        ? true
        : undefined,
    );
    for (const path of [logOf('flat'), ...[1, 2, 3, 4].map((index) => `${logOf('flat')}.${index}`)])
      if (existsSync(path))
        assert.ok(statSync(path).size <= 8192 + 4096, `${path}: ${statSync(path).size} bytes`);
    assert.ok(!existsSync(`${logOf('flat')}.5`), 'log-keep = 4');
  });

  for (const [name, maxBytes, keep, how] of [
    ['small', 4096, 2, "the daemon's log_max_size and log_keep"],
    ['bounded', 8192, 4, "the master's log-max-size and log-keep"],
  ] as const)
    test(`rotation keeps ${how}: ${keep} old files, none too big, no line lost`, async () => {
      // Until the oldest kept file has lost the first lines: rotation has dropped files.
      await waitFor(`${name} to rotate past ${keep} files`, () => {
        if (!existsSync(`${logOf(name)}.${keep}`)) return undefined;
        const oldest = counterRuns(readFileSync(`${logOf(name)}.${keep}`, 'utf8'));
        const first = [...oldest.values()][0]?.numbers[0] ?? 1;
        return first > 1 ? true : undefined;
      });
      await stopDaemon(host, 'alice', name);
      assert.ok(!existsSync(`${logOf(name)}.${keep + 1}`), `no ${name}.log.${keep + 1}`);
      // A line begun in a file ends in it: a file may pass its size by that line's end.
      const most = maxBytes + LINE;
      for (let index = 1; index <= keep; index++) {
        const size = statSync(`${logOf(name)}.${index}`).size;
        assert.ok(size > 0 && size <= most, `${name}.log.${index}: ${size} bytes`);
      }
      assert.ok(statSync(logOf(name)).size <= most);
      const text = kept(name, keep).join('');
      const runs = [...counterRuns(text).values()];
      assert.equal(runs.length, 1, 'one run');
      const [run] = runs;
      assert.ok(run);
      assert.ok(run.end !== undefined, 'the end line is kept');
      assert.deepEqual(counterProblems(run, run.numbers[0]), []);
    });
});

describe('logs across logrotate, restarts and with timestamps', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const home = (): string => host.user('alice').home;
  const logOf = (name: string): string => join(home(), `.daemon-manager/logs/${name}.log`);
  const read = (path: string): string => (existsSync(path) ? readFileSync(path, 'utf8') : '');

  before(async () => {
    // A daemon that ran a second is respawned at once after a kill.
    host.writeMaster('[can_run_as]\n{alice}\n', 'log-max-size = 0\nstable-uptime = 1s');
    host.writeDaemon('alice', 'rotated', counter(host, 'alice', 200));
    host.writeDaemon('alice', 'stamped', counter(host, 'alice', 5, 'log_timestamps=yes\n'));
    host.writeDaemon('alice', 'restarted', counter(host, 'alice', 20));
    await host.startManager();
    for (const name of ['rotated', 'stamped', 'restarted'])
      await host.waitForDaemon('alice', `alice/${name}`, (d) => d.state === 'running', 'to run');
  });
  after(() => host.cleanup());

  test('after an external move and SIGUSR1 the manager writes a fresh log, no line lost', async () => {
    const log = logOf('rotated');
    const moved: string[] = [];
    // logrotate's create mode, several times while the daemon writes as fast as it can.
    for (let round = 1; round <= 20; round++) {
      await waitFor(`rotated.log to get lines (round ${round})`, () =>
        highestCount(read(log)) > 0 ? true : undefined,
      );
      renameSync(log, `${log}.old${round}`);
      moved.push(`${log}.old${round}`);
      process.kill(host.managerPid(), 'SIGUSR1');
      await waitFor(`a fresh rotated.log (round ${round})`, () =>
        existsSync(log) ? true : undefined,
      );
    }
    await waitFor('the fresh rotated.log to get lines', () =>
      highestCount(read(log)) > 0 ? true : undefined,
    );
    await stopDaemon(host, 'alice', 'rotated');
    assert.equal(statSync(log).uid, host.user('alice').uid, 'the fresh log is the owner’s');
    const text = [...moved, log].map(read).join('');
    const runs = [...counterRuns(text).values()];
    assert.equal(runs.length, 1);
    assert.ok(runs[0]?.end !== undefined, 'the end line is there');
    assert.deepEqual(
      runs.flatMap((run) => counterProblems(run)),
      [],
    );
    assert.doesNotMatch(host.managerLog, /rotated: log: /, 'no log error was reported');
  });

  test('log_timestamps=yes prefixes every line with the time', async () => {
    const log = logOf('stamped');
    await waitFor('stamped.log to get 100 lines', () =>
      highestCount(read(log)) >= 100 ? true : undefined,
    );
    await stopDaemon(host, 'alice', 'stamped');
    const lines = read(log).split('\n').slice(0, -1);
    const unstamped = lines.filter(
      (line) => !BANNER.test(line) && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S/.test(line),
    );
    assert.deepEqual(unstamped, []);
    const runs = [...counterRuns(read(log)).values()];
    assert.equal(runs.length, 1);
    assert.deepEqual(
      runs.flatMap((run) => counterProblems(run)),
      [],
    );
  });

  test('output is captured across restarts and respawns, each line once', async () => {
    const id = 'alice/restarted';
    const log = logOf('restarted');
    const enough = async (lines: number): Promise<void> => {
      const { pid } = await host.waitForDaemon('alice', id, (d) => d.state === 'running', 'to run');
      await waitFor(`run ${pid} to write ${lines} lines`, () =>
        (counterRuns(read(log)).get(pid)?.numbers.length ?? 0) >= lines ? true : undefined,
      );
    };
    const killed: number[] = [];
    for (const how of ['restart', 'restart', 'kill', 'restart'] as const) {
      await enough(50);
      const before = await host.waitForDaemon('alice', id, (d) => d.uptime >= 1, 'to run 1s');
      if (how === 'restart') {
        const restart = await host.dmctl('alice', 'restarted', 'restart');
        assert.equal(restart.code, 0, restart.stderr);
      } else {
        process.kill(before.pid, 'SIGKILL');
        killed.push(before.pid);
      }
      await host.waitForDaemon(
        'alice',
        id,
        (d) => d.state === 'running' && d.pid !== before.pid,
        `to run again after ${how}`,
      );
    }
    await enough(50);
    await stopDaemon(host, 'alice', 'restarted');

    const text = read(log);
    const runs = [...counterRuns(text).values()];
    assert.equal(runs.length, 5, 'five runs');
    assert.deepEqual(
      runs.flatMap((run) => counterProblems(run)),
      [],
    );
    for (const run of runs) {
      if (killed.includes(run.pid)) {
        const last = lastWritten(home(), run.pid);
        const count = run.numbers.length;
        assert.ok(
          count === last || count === last + 1,
          `killed run: ${count} lines, wrote ${last}`,
        );
      } else assert.ok(run.end !== undefined, `run ${run.pid} logged its end`);
    }
  });

  test("each run's lines lie between its own banner and the next", () => {
    const text = read(logOf('restarted'));
    const runs = [...counterRuns(text).values()];
    const lines = text.split('\n');
    const banners = lines.flatMap((line, index) => (BANNER.test(line) ? [index] : []));
    assert.equal(banners.length, 5, 'one banner per run');
    runs.forEach((run, index) => {
      const from = banners[index] ?? 0;
      const to = banners[index + 1] ?? lines.length;
      const misplaced = lines.filter(
        (line, at) => line.startsWith(`count ${run.pid} `) && (at < from || at > to),
      );
      assert.deepEqual(misplaced, [], `run ${index + 1} (pid ${run.pid}) outside its banners`);
    });
  });
});
