import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const LINES = 2_000_000;
const BANNER = /^--- /;
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

/** Size of a file, 0 while it does not exist. */
function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

describe('a manager killed with -9 while a daemon writes: no restart, no line lost', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let log = '';
  let stampedLog = '';
  let pidBefore = 0;
  const kills: number[] = [];

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n', 'log-max-size = 0');
    // Numbered lines as fast as the pipe takes them, then it stays up: a restart would
    // write the numbers again, a lost chunk leaves a gap.
    host.writeDaemon(
      'alice',
      'counter',
      `start=awk 'BEGIN { for (i = 1; i <= ${LINES}; i++) print i }'; exec sleep 6300001\n` +
        'output=log\n',
    );
    // The same with time stamps: the copy path, whose chunk is in the journal while it is
    // written (an outside review found up to 366 lines twice and a torn one).
    host.writeDaemon(
      'alice',
      'stamped',
      `start=awk 'BEGIN { for (i = 1; i <= ${LINES}; i++) print i }'; exec sleep 6300002\n` +
        'output=log\nlog_timestamps=yes\n',
    );
    log = join(host.user('alice').home, '.daemon-manager/logs/counter.log');
    stampedLog = join(host.user('alice').home, '.daemon-manager/logs/stamped.log');
    let manager = await host.startManager();
    pidBefore = (await host.waitForDaemon('alice', 'alice/counter', (d) => d.pid > 0, 'to run'))
      .pid;
    // Kills while the numbers flow, each at a point the log has reached.
    for (const bytes of [1_000_000, 3_000_000, 6_000_000, 9_000_000, 12_000_000]) {
      await waitFor(
        `the log to pass ${bytes} bytes`,
        () => (sizeOf(log) > bytes ? true : undefined),
        {
          describe: () => `${sizeOf(log)} bytes; the manager said:\n${host.managerLog}`,
        },
      );
      kills.push(sizeOf(log));
      const exited = new Promise((resolve) => manager.once('exit', resolve));
      manager.kill('SIGKILL');
      await exited;
      manager = await host.startManager();
    }
    for (const path of [log, stampedLog])
      await waitFor(
        `the last number to reach ${path}`,
        () => (readFileSync(path, 'utf8').endsWith(`${LINES}\n`) ? true : undefined),
        { timeoutMs: 120_000 },
      );
  });
  after(() => host.cleanup());

  test('the daemon was taken over, never started again', async () => {
    const row = (await host.status('alice')).find((daemon) => daemon.pid === pidBefore);
    assert.equal(row?.pid, pidBefore);
    assert.equal(row?.respawns, 0);
  });

  test('every number is in the log once, in order', () => {
    const lines = readFileSync(log, 'utf8').split('\n').slice(0, -1);
    const numbers = lines.filter((line) => !BANNER.test(line));
    assert.equal(lines.length - numbers.length, 1, 'one start banner');
    const wrong = numbers.findIndex((line, index) => line !== String(index + 1));
    assert.equal(wrong, -1, `line ${wrong + 1} reads ${numbers[wrong]} (killed at ${kills})`);
    assert.equal(numbers.length, LINES);
  });

  test('with time stamps too: every number once, in order, each line whole with one stamp', () => {
    const lines = readFileSync(stampedLog, 'utf8').split('\n').slice(0, -1);
    const unstamped = lines.map((line) => line.replace(STAMP, ''));
    const numbers = unstamped.filter((line) => !BANNER.test(line));
    assert.equal(lines.length - numbers.length, 1, 'one start banner');
    const torn = lines.filter(
      (line) => !STAMP.test(line) || !/^(\d+|--- .*)$/.test(line.replace(STAMP, '')),
    );
    assert.deepEqual(torn.slice(0, 3), [], 'every line whole, with one stamp');
    const wrong = numbers.findIndex((line, index) => line !== String(index + 1));
    assert.equal(wrong, -1, `line ${wrong + 1} reads ${numbers[wrong]} (killed at ${kills})`);
    assert.equal(numbers.length, LINES);
  });
});
