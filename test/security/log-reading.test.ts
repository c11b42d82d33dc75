import assert from 'node:assert/strict';
import { readFileSync, renameSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed, spawnCollecting } from '../helpers/cli.ts';
import { DMCTL, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

/** The raw ESC, BEL and CSI in what a terminal received (dmctl's own escapes are text). */
const rawEscapes = (text: string): string[] =>
  ['\u001b', '\u0007', '\u009b'].filter((character) => text.includes(character));

/**
 * A review found that root's `dmctl log` and `tail` of a user's daemon opened the log's
 * path as root (a link planted there was followed, to any file root can read), and that
 * `tail` passed the escape sequences a daemon wrote straight to the reader's terminal.
 */
describe('reading another user’s log cannot be turned against the reader', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const secret = 'root-only secret 7b1c';
  const logOf = (name: string): string =>
    join(host.user('mallory').home, `.daemon-manager/logs/${name}.log`);
  /** dmctl as root on a pseudo-terminal (util-linux `script`), as an admin at a shell. */
  const onTerminal = (...args: string[]) =>
    spawnCollecting([
      'script',
      '-qec',
      [DMCTL, '--config', host.configFile, ...args].join(' '),
      '/dev/null',
    ]);

  before(async () => {
    host.user('mallory');
    host.writeMaster('[can_run_as]\n{mallory}\n');
    host.writeDaemon(
      'mallory',
      'paint',
      "start=printf 'before\\033[2J\\033]0;owned\\007after\\n'; exec sleep 5000101\noutput=log\n",
    );
    host.writeDaemon('mallory', 'leak', 'start=echo started; exec sleep 5000102\noutput=log\n');
    writeFileSync(join(host.dir, 'secret'), `${secret}\n`, { mode: 0o600 });
    await host.startManager();
    for (const name of ['paint', 'leak'])
      await host.waitForDaemon('root', `mallory/${name}`, (d) => d.state === 'running', 'to run');
    await waitFor('the escapes in the log', () =>
      readFileSync(logOf('paint'), 'utf8').includes('after') ? true : undefined,
    );
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('tail on root’s terminal shows a daemon’s escape sequences, never sends them', async () => {
    const tail = onTerminal(host.id('mallory/paint'), 'tail');
    try {
      await waitFor(
        'tail to show the line',
        () => (tail.output().includes('after') ? true : undefined),
        { describe: tail.output },
      );
      assert.match(tail.output(), /before\\x1b\[2J\\x1b\]0;owned\\x07after/);
      assert.deepEqual(rawEscapes(tail.output()), []);
    } finally {
      await tail.stop();
    }
  });

  // A later review: PAGER=cat, or a pipe into tail, passed them to root's terminal.
  test('root’s log shows them escaped too, with any pager and piped', async () => {
    for (const command of [
      `env PAGER=cat ${DMCTL} --config ${host.configFile} ${host.id('mallory/paint')} log`,
      `${DMCTL} --config ${host.configFile} ${host.id('mallory/paint')} log | tail -1`,
    ]) {
      const shown = spawnCollecting(['script', '-qec', command, '/dev/null']);
      try {
        await waitFor('dmctl log to end', () => (shown.child.exitCode === null ? undefined : true));
        assert.match(shown.output(), /before\\x1b\[2J\\x1b\]0;owned\\x07after/, command);
        assert.deepEqual(rawEscapes(shown.output()), [], command);
      } finally {
        await shown.stop();
      }
    }
  });

  // A review's `dmctl ID log | head -1` as root read a 200 GB sparse log to its end.
  test('root’s log of a huge log stops once its reader has what it wanted', async () => {
    const log = logOf('paint');
    truncateSync(log, 4 * 1024 ** 3);
    const reader = spawnCollecting([
      'sh',
      '-c',
      `${DMCTL} --config ${host.configFile} ${host.id('mallory/paint')} log | head -c 5`,
    ]);
    try {
      await waitFor('dmctl log | head to end', () =>
        reader.child.exitCode === null ? undefined : true,
      );
      assert.equal(reader.output(), '--- 2', 'the start of its first banner');
    } finally {
      await reader.stop();
    }
  });

  test('a link mallory plants in place of her log gives root’s log and tail nothing', async () => {
    const log = logOf('leak');
    renameSync(log, `${log}.moved`);
    symlinkSync(join(host.dir, 'secret'), log);
    const read = await host.dmctl('root', host.id('mallory/leak'), 'log');
    assert.ok(!`${read.stdout}${read.stderr}`.includes(secret), `${read.stdout}${read.stderr}`);
    assert.notEqual(read.code, 0);
    assert.match(read.stderr, /refused|cannot open/);
    const tail = onTerminal(host.id('mallory/leak'), 'tail');
    try {
      await waitFor('tail to end', () => (tail.child.exitCode === null ? undefined : true), {
        describe: tail.output,
      });
      assert.ok(!tail.output().includes(secret), tail.output());
    } finally {
      await tail.stop();
    }
  });
});
