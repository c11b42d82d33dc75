import assert from 'node:assert/strict';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { counterProblems, counterRuns, lastWritten } from '../helpers/counter.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * A review found a daemon's output lost for good after its log was deleted, its config
 * changed and a rescan: the pump still had its pipe attached (to /dev/null) when the new
 * log was attached. Every change of how a daemon is logged moves its pipe over.
 */
describe('a change of how a daemon is logged moves its output over', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const logOf = (name: string): string =>
    join(host.user('alice').home, `.daemon-manager/logs/${name}.log`);
  const says = (name: string, text: string): Promise<true> =>
    waitFor(`${name}'s log to say ${text}`, () =>
      existsSync(logOf(name)) && readFileSync(logOf(name), 'utf8').includes(text)
        ? true
        : undefined,
    );
  const writer = (mark: string, extra = ''): string =>
    `start=echo ${mark}; exec sleep 6900101\noutput=log\n${extra}`;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', writer('first-run'));
    host.writeDaemon('alice', 'quiet', 'start=echo unheard; exec sleep 6900102\n');
    await host.startManager();
    await says('web', 'first-run');
  });
  after(() => host.cleanup());

  test('log deleted, config changed, rescan: the next run is logged', async () => {
    assert.equal((await host.dmctl('alice', 'web', 'stop')).code, 0);
    rmSync(logOf('web'));
    host.writeDaemon('alice', 'web', writer('second-run', 'log_timestamps=yes\n'));
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    assert.doesNotMatch(host.managerLog, /attached already/);
    assert.equal((await host.dmctl('alice', 'web', 'start')).code, 0);
    await says('web', 'second-run');
  });

  test('output=discard changed to output=log: the next run is logged', async () => {
    host.writeDaemon('alice', 'quiet', writer('now-heard'));
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    await says('quiet', 'now-heard');
    assert.doesNotMatch(host.managerLog, /attached already/);
  });
});

/**
 * An outside review, with a full disk and without: a SIGHUP that changed log-max-size
 * emptied every running daemon's pipe into /dev/null until its log was attached again
 * (whole writes lost, no word said); a log renamed by a logrotate (then SIGUSR1) or
 * deleted by its owner while the daemon was stopped got the next run's output, the
 * manager having held the file open since it was loaded.
 */
describe('the log a daemon writes is the one at its path, and no reload loses a line', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const logOf = (name: string): string =>
    join(host.user('alice').home, `.daemon-manager/logs/${name}.log`);
  const states = (): string => join(host.user('alice').home, 'counts');

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n', 'log-max-size = 50M\n');
    mkdirSync(states());
    chownSync(states(), host.user('alice').uid, host.user('alice').gid);
    host.writeDaemon(
      'alice',
      'count',
      `start=exec ${FIXTURES}/counter.sh ${states()} 500\noutput=log\n`,
    );
    host.writeDaemon(
      'alice',
      'later',
      'start=echo later-run; exec sleep 6900103\noutput=log\nautostart=no\n',
    );
    host.writeDaemon(
      'alice',
      'steady',
      'start=while :; do echo tick; sleep 0.05; done\noutput=log\n',
    );
    // Lines of 3,022 bytes, each written in two pieces 50 ms apart, rotated at 30K.
    host.writeDaemon(
      'alice',
      'pieces',
      [
        "start=A=$(printf '%3000s' '' | tr ' ' a); n=0; while [ $n -lt 40 ]; do n=$((n + 1)); printf 'HEAD%05d-%s' $n \"$A\"; sleep 0.05; printf -- '-TAIL%05d\\n' $n; done; exec sleep 6900104",
        'output=log',
        'log_max_size=30K',
        'log_keep=9',
        '',
      ].join('\n'),
    );
    await host.startManager();
  });
  after(() => host.cleanup());

  test('SIGHUPs that change log-max-size lose no line of a running daemon', async () => {
    const running = await host.waitForDaemon('alice', 'alice/count', (d) => d.pid > 0, 'to run');
    for (const size of ['60M', '50M', '60M', '50M', '60M', '50M', '60M', '50M']) {
      host.writeMaster('[can_run_as]\n{alice}\n', `log-max-size = ${size}\n`);
      const from = host.managerLog.length;
      process.kill(host.managerPid(), 'SIGHUP');
      await waitFor('the reload', () =>
        /SIGHUP: reloading/.test(host.managerLog.slice(from)) &&
        lastWritten(states(), running.pid) > 0
          ? true
          : undefined,
      );
      // Lines written after the reload, before the next one.
      const reached = lastWritten(states(), running.pid) + 50;
      await waitFor('200 more lines', () =>
        lastWritten(states(), running.pid) >= reached ? true : undefined,
      );
    }
    assert.equal((await host.dmctl('alice', 'count', 'stop')).code, 0);
    await host.waitForDaemon('alice', 'alice/count', (d) => d.state === 'stopped', 'to stop');
    const run = await waitFor('its end line in the log', () => {
      const found = counterRuns(readFileSync(logOf('count'), 'utf8')).get(running.pid);
      return found?.end === undefined ? undefined : found;
    });
    assert.deepEqual(counterProblems(run), []);
  });

  test('a log renamed (then SIGUSR1) or deleted while its daemon is stopped: the next run writes a new one', async () => {
    renameSync(logOf('later'), `${logOf('later')}.rot`);
    process.kill(host.managerPid(), 'SIGUSR1');
    assert.equal((await host.dmctl('alice', 'later', 'start')).code, 0);
    await waitFor('later.log to be made again, with the run', () =>
      existsSync(logOf('later')) && readFileSync(logOf('later'), 'utf8').includes('later-run')
        ? true
        : undefined,
    );
    assert.doesNotMatch(readFileSync(`${logOf('later')}.rot`, 'utf8'), /later-run/);
    assert.equal((await host.dmctl('alice', 'later', 'stop')).code, 0);
    rmSync(logOf('later'));
    assert.equal((await host.dmctl('alice', 'later', 'start')).code, 0);
    await waitFor('later.log to be made again after its deletion', () =>
      existsSync(logOf('later')) && readFileSync(logOf('later'), 'utf8').includes('later-run')
        ? true
        : undefined,
    );
  });

  test('a log its owner empties goes on from its new end, with no hole of NULs', async () => {
    const ticks = (): number => (readFileSync(logOf('steady'), 'utf8').match(/tick/g) ?? []).length;
    await waitFor('ticks in the log', () =>
      existsSync(logOf('steady')) && ticks() > 3 ? true : undefined,
    );
    writeFileSync(logOf('steady'), '');
    await waitFor('ticks again after the log was emptied', () => (ticks() > 3 ? true : undefined));
    assert.doesNotMatch(
      readFileSync(logOf('steady'), 'utf8'),
      /\0/,
      'NULs where the log was emptied',
    );
  });

  test('rotation ends a short line written in two pieces in the file it began in', async () => {
    await waitFor('the 40th line', () =>
      existsSync(logOf('pieces')) && readFileSync(logOf('pieces'), 'utf8').includes('TAIL00040')
        ? true
        : undefined,
    );
    const files = [
      logOf('pieces'),
      ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => `${logOf('pieces')}.${n}`),
    ];
    const present = files.filter((file) => existsSync(file));
    const lines = present.flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      assert.ok(text.endsWith('\n'), `${file} ends in the middle of a line`);
      return text.split('\n').filter((line) => line.startsWith('HEAD'));
    });
    assert.ok(present.length >= 3, 'it rotated');
    for (const line of lines) assert.match(line, /HEAD(\d{5})-a{3000}-TAIL\1$/, line.slice(0, 40));
    assert.equal(lines.length, 40);
  });
});

/**
 * An outside review (51b, F5, 2 of 2): a logrotate that moved a daemon's log away and made
 * a new one root's (a wrong `create`), then SIGUSR1: the log could not be opened again, and
 * the daemon's output was dropped with nothing in `why`. It is said there, and its end.
 */
describe('a log made root’s by a logrotate, then SIGUSR1', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('says in why that output is dropped, and when the log is written again', async () => {
    const alice = host.user('alice');
    const log = join(alice.home, '.daemon-manager/logs/steady.log');
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'steady',
      'start=while :; do echo tick; sleep 0.05; done\noutput=log\n',
    );
    await host.startManager();
    await waitFor('its log', () =>
      existsSync(log) && readFileSync(log, 'utf8').includes('tick') ? true : undefined,
    );
    renameSync(log, `${log}.1`);
    writeFileSync(log, '', { mode: 0o600 });
    process.kill(host.managerPid(), 'SIGUSR1');
    const why = async (text: string): Promise<true> =>
      waitFor(`why to say ${text}`, async () =>
        (await host.dmctl('alice', 'steady', 'why')).stdout.includes(text) ? true : undefined,
      );
    await why('its log cannot be written');
    chownSync(log, alice.uid, alice.gid);
    await why('its log is written again');
    await waitFor('the gap said in the log', () =>
      /bytes of output dropped here/.test(readFileSync(log, 'utf8')) ? true : undefined,
    );
  });
});
