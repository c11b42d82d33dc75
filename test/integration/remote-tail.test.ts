import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  cleanUp,
  type Spawned,
  showLogIfFailed,
  spawnCollecting,
  spawnDmctl,
} from '../helpers/cli.ts';
import { counterProblems, counterRuns, highestCount } from '../helpers/counter.ts';
import { DMCTL, FIXTURES, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * An outside review: `dmctl ID tail` of someone else's daemon (read through the manager)
 * lost, at every rotation, the lines between where it was in the old file and its end
 * (47,330 of 60,000 lines); the owner's own tail, and the files, had them all.
 */
describe('tail through the manager across rotations', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const logOf = (name: string): string =>
    join(host.user('alice').home, `.daemon-manager/logs/${name}.log`);
  const counter = (burst: number, extra: string): string =>
    `start=exec ${FIXTURES}/counter.sh ${host.user('alice').home} ${burst}\noutput=log\n${extra}`;

  before(async () => {
    host.user('alice');
    host.user('desk');
    host.writeMaster(
      '[can_run_as]\n{alice}\n[manages]\n{desk}: {alice}\n',
      'log-max-size = 0\nlog-keep = 200',
    );
    // About 1,000 lines between two rotations, a few rotations a second.
    host.writeDaemon('alice', 'fast', counter(100, 'log_max_size=16K\n'));
    host.writeDaemon('alice', 'moved', counter(20, ''));
    await host.startManager();
    for (const name of ['fast', 'moved'])
      await host.waitForDaemon('root', `alice/${name}`, (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  /** The counter's lines the tail showed: from its first, every one once, in order. */
  const assertWhole = (tail: Spawned): void => {
    const runs = [...counterRuns(tail.output()).values()];
    assert.equal(runs.length, 1, `one run of the counter: ${tail.output().slice(0, 400)}`);
    const [run] = runs;
    assert.ok(run);
    assert.deepEqual(counterProblems(run, run.numbers[0]), []);
    assert.doesNotMatch(tail.output(), /dmctl:/);
  };

  /** Waits until the tail has shown the counter's line `number`. */
  const waitForLine = (tail: Spawned, number: number): Promise<true> =>
    waitFor(
      `the tail to show line ${number}`,
      () => (highestCount(tail.output()) >= number ? true : undefined),
      { timeoutMs: 120_000, describe: () => tail.output().slice(-400) },
    );

  /** Follows `fast` for 30,000 lines (some 30 rotations) and checks what it showed. */
  const followRotations = async (tail: Spawned): Promise<void> => {
    try {
      const first = await waitFor('the tail’s first lines', () => {
        const shown = highestCount(tail.output());
        return shown > 0 ? shown : undefined;
      });
      await waitForLine(tail, first + 30_000);
      assert.ok(existsSync(`${logOf('fast')}.20`), 'it rotated at least 20 times');
      assertWhole(tail);
    } finally {
      await tail.stop();
    }
  };

  test('a user who manages the owner gets every line once, in order', async () => {
    await followRotations(spawnDmctl(host, 'desk', host.id('alice/fast'), 'tail'));
  });

  test('root gets every line once, in order', async () => {
    await followRotations(
      spawnCollecting([DMCTL, '--config', host.configFile, host.id('alice/fast'), 'tail']),
    );
  });

  // An outside review (64b, F4): a tail through the manager ended at 10 of 26 `kill -9`s
  // of the manager ("the manager closed the connection before it answered").
  test('a tail goes on across kills of the manager, every line once, in order', async () => {
    const log = logOf('fast');
    const tail = spawnCollecting([
      DMCTL,
      '--config',
      host.configFile,
      host.id('alice/fast'),
      'tail',
    ]);
    try {
      await waitFor('the tail’s first lines', () =>
        highestCount(tail.output()) > 0 ? true : undefined,
      );
      for (let round = 1; round <= 6; round++) {
        const shown = highestCount(tail.output());
        await waitForLine(tail, shown + 2_000);
        await host.killManager();
        await host.startManager();
      }
      await waitForLine(tail, highestCount(readFileSync(log, 'utf8')));
      assertWhole(tail);
    } finally {
      await tail.stop();
    }
  });

  test('a log renamed by a logrotate (then SIGUSR1) is read to its end first', async () => {
    const log = logOf('moved');
    const tail = spawnDmctl(host, 'desk', host.id('alice/moved'), 'tail');
    try {
      await waitFor('the tail’s first lines', () =>
        highestCount(tail.output()) > 0 ? true : undefined,
      );
      // As a logrotate does; the tail catches up after every second one (the manager
      // knows where the last four renamed files went, not every one before).
      for (let round = 1; round <= 4; round++) {
        const moved = `${log}-2026120${round}`;
        renameSync(log, moved);
        // Written on after the rename (some 30 KB: a second or so, the tail's polls find
        // it renamed and not reopened yet), until the manager reopens it.
        const size = statSync(moved).size;
        await waitFor(`${moved} to grow`, () =>
          statSync(moved).size > size + 30_000 ? true : undefined,
        );
        process.kill(host.managerPid(), 'SIGUSR1');
        await waitFor(`a new ${log}`, () =>
          existsSync(log) && highestCount(readFileSync(log, 'utf8')) > 0 ? true : undefined,
        );
        if (round % 2 === 0) await waitForLine(tail, highestCount(readFileSync(moved, 'utf8')));
      }
      await waitForLine(tail, highestCount(readFileSync(log, 'utf8')));
      assertWhole(tail);
    } finally {
      await tail.stop();
    }
  });
});

/**
 * An outside review (52a, F4, 5 of 5): with `log_keep=1` and several rotations a second,
 * `dmctl ID tail` through the manager skipped whole files without saying so. ext4 gave
 * the new log the inode number of the file the rotation had just deleted, and the reader,
 * at the end of that file, read on in the new one as if it were the same. At that rate a
 * reader that polls falls behind and lines are lost; each loss is said.
 */
describe('tail through the manager with log_keep=1 and fast rotation', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  before(async () => {
    host.user('alice');
    host.user('desk');
    host.writeMaster('[can_run_as]\n{alice}\n[manages]\n{desk}: {alice}\n');
    host.writeDaemon(
      'alice',
      'fast',
      `start=exec ${FIXTURES}/counter.sh ${host.user('alice').home} 100\noutput=log\nlog_max_size=16K\nlog_keep=1\n`,
    );
    await host.startManager();
    await host.waitForDaemon('root', 'alice/fast', (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('says each run of lines it could not show', async () => {
    const tail = spawnDmctl(host, 'desk', host.id('alice/fast'), 'tail');
    try {
      const first = await waitFor('the tail’s first lines', () => {
        const shown = highestCount(tail.output());
        return shown > 0 ? shown : undefined;
      });
      await waitFor(
        'the tail to show 40,000 more lines',
        () => (highestCount(tail.output()) >= first + 40_000 ? true : undefined),
        { timeoutMs: 120_000, describe: () => tail.output().slice(-400) },
      );
    } finally {
      await tail.stop();
    }
    // Every gap in the numbers comes after a word of it.
    const unsaid: string[] = [];
    let last: number | undefined;
    let said = false;
    for (const line of tail.output().split('\n')) {
      if (line.startsWith('dmctl: the log was rotated away')) said = true;
      const number = /^count \d+ (\d+)$/.exec(line)?.[1];
      if (number === undefined) continue;
      if (last !== undefined && Number(number) !== last + 1 && !said)
        unsaid.push(`${last} then ${number}`);
      last = Number(number);
      said = false;
    }
    assert.deepEqual(unsaid, []);
  });
});

/**
 * An outside review (56b, F5, Low, 2 of 2): a line longer than a rotation waits for (4 KiB
 * past `log_max_size`) was split between two files, and a tail through the manager began
 * with its rest at the top of the new file, where the README promises whole lines.
 */
describe('tail through the manager of a file that begins with the rest of a line', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('starts with the first whole line', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    // 14,000 bytes in one line: cut at 12 KiB by the rotation, its rest begins the next file.
    const write =
      "import sys, time; sys.stdout.write('L' * 14000 + '\\n' + ''.join('after ' + str(n) + '\\n' for n in range(10))); sys.stdout.flush(); time.sleep(6800396)";
    host.writeDaemon(
      'alice',
      'long',
      `start=exec python3 -c "${write}"\noutput=log\nlog_max_size=8K\n`,
    );
    await host.startManager();
    const log = join(host.user('alice').home, '.daemon-manager/logs/long.log');
    await waitFor('the lines after it in the log', () =>
      existsSync(log) && readFileSync(log, 'utf8').includes('after 9\n') ? true : undefined,
    );
    assert.match(readFileSync(log, 'utf8'), /^L+\n/, 'the log begins with the rest of the line');
    const tail = spawnCollecting([
      DMCTL,
      '--config',
      host.configFile,
      host.id('alice/long'),
      'tail',
    ]);
    try {
      await waitFor('the tail to show the last line', () =>
        tail.output().includes('after 9\n') ? true : undefined,
      );
    } finally {
      await tail.stop();
    }
    assert.match(tail.output(), /^after 0\n/, tail.output().slice(0, 200));
  });
});

/**
 * An outside review (60b, F1, Medium: after 30 of 30 gaps, and as the first line of 3
 * tails of 6): a tail through the manager that fell behind a log rotated past `log_keep`
 * said the gap, then showed the rest of the line cut at the top of the log it went on
 * with as a line of its own, and the start of a line whose end was lost as a whole one.
 */
describe('tail through the manager that falls behind a log rotated past log_keep', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('shows whole lines only, on each side of every gap', async () => {
    const alice = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n');
    // Lines of 10-30 KB that say their own length, ten a second: each cut by a rotation
    // at `log_max_size=8K`, some ten rotations a second.
    const script = join(alice.home, 'long-lines.py');
    writeFileSync(
      script,
      [
        'import random, sys, time',
        'n = 0',
        'while True:',
        '    n += 1',
        '    length = random.randint(10000, 30000)',
        "    head = 'L%d %d ' % (n, length)",
        "    sys.stdout.write(head + 'x' * (length - len(head)) + '\\n')",
        '    sys.stdout.flush()',
        '    time.sleep(0.1)',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    host.writeDaemon(
      'alice',
      'long',
      `start=exec python3 ${script}\noutput=log\nlog_max_size=8K\nlog_keep=2\n`,
    );
    await host.startManager();
    const tail = spawnCollecting([
      DMCTL,
      '--config',
      host.configFile,
      host.id('alice/long'),
      'tail',
    ]);
    const pid = tail.child.pid as number;
    const gaps = (): number => tail.output().split('lines are missing here').length - 1;
    try {
      await waitFor('the tail to show lines', () =>
        /^L\d+ /m.test(tail.output()) ? true : undefined,
      );
      // Held while the log rotates past log_keep: the file it reads is gone, a gap.
      for (let round = 1; round <= 3; round++) {
        process.kill(pid, 'SIGSTOP');
        await new Promise((resolve) => setTimeout(resolve, 1500));
        process.kill(pid, 'SIGCONT');
        const shown = tail.output().length;
        await waitFor(`gap ${round} said, and lines after it`, () =>
          gaps() >= round && /^L\d+ /m.test(tail.output().slice(shown)) ? true : undefined,
        );
      }
    } finally {
      await tail.stop();
    }
    const lines = tail
      .output()
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('dmctl: '));
    // The last one may still wait for its newline when the tail stopped.
    const cut = lines.slice(0, -1).filter((line) => {
      const said = /^L\d+ (\d+) x+$/.exec(line);
      return said === null || Number(said[1]) !== line.length;
    });
    assert.deepEqual(
      cut.map((line) => `${line.slice(0, 30)}... (${line.length} bytes)`),
      [],
      'lines shown cut',
    );
  });
});

/**
 * An outside review (62b, F1, Medium, 10 of 10 line sizes): a tail through the manager
 * began with the whole lines of the log's last 64 KiB only (13 lines of 5 KB, none of
 * lines over 64 KiB), where the owner's `tail` shows the last 50.
 */
describe('tail through the manager of a log of long lines', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('starts with the last 50 whole lines', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    const write =
      "import sys, time; sys.stdout.write(''.join('L%d '.ljust(5000, 'x') % n + '\\n' for n in range(120))); sys.stdout.flush(); time.sleep(6800409)";
    host.writeDaemon('alice', 'long', `start=exec python3 -c "${write}"\noutput=log\n`);
    await host.startManager();
    const log = join(host.user('alice').home, '.daemon-manager/logs/long.log');
    await waitFor('the last line in the log', () =>
      existsSync(log) && readFileSync(log, 'utf8').includes('L119 ') ? true : undefined,
    );
    const tail = spawnCollecting([
      DMCTL,
      '--config',
      host.configFile,
      host.id('alice/long'),
      'tail',
    ]);
    try {
      await waitFor('the tail to show the last line', () =>
        tail.output().includes('L119 ') ? true : undefined,
      );
    } finally {
      await tail.stop();
    }
    const shown = tail
      .output()
      .split('\n')
      .filter((line) => line.startsWith('L'));
    assert.equal(shown.length, 50, tail.output().slice(0, 200));
    assert.match(shown[0] ?? '', /^L70 /);
  });
});
