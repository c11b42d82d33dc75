import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, commandOf, readWhen, showLogIfFailed, spawnDmctl } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { livePidsOfUid } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const COMMAND = 'echo out-line; echo err-line >&2; exec sleep 100000';

describe('daemon logs', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const host = new TestHost();
  const logFile = (): string => join(host.user('alice').home, '.daemon-manager/logs/chatty.log');
  const banners = (text: string): string[] =>
    text.split('\n').filter((line) => line.includes(`starting ${host.id('alice/chatty')}`));
  const runs = (count: number): Promise<string> =>
    readWhen(
      logFile(),
      (text) => banners(text).length === count && text.split('err-line\n').length - 1 === count,
      `${count} runs of alice/chatty in its log`,
    );

  before(async () => {
    host.user('web');
    host.writeMaster('[can_run_as]\n{alice}: {web}\n');
    host.writeDaemon(
      'alice',
      'chatty',
      `start=${COMMAND}\noutput=log\nuser=${host.user('web').name}\n`,
    );
    host.writeDaemon('alice', 'mute', 'start=echo nobody hears this; exec sleep 100000\n');
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/chatty', (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test("the daemon's stdout and stderr land in its log", async () => {
    const text = await runs(1);
    assert.match(text, /^out-line$/m);
    assert.match(text, /^err-line$/m);
  });

  test('each start writes a banner naming the time, the id, the run-as user and the command', async () => {
    const [first] = banners(await runs(1));
    const web = host.user('web').name;
    assert.match(first ?? '', /\d{4}-\d\d-\d\d.\d\d:\d\d:\d\d/, 'the time');
    assert.ok(first?.includes(host.id('alice/chatty')), 'the id');
    assert.ok(first?.includes(` ${web}`), 'the run-as user');
    assert.ok(first?.endsWith(COMMAND), 'the command');
    const restart = await host.dmctl('alice', 'chatty', 'restart');
    assert.equal(restart.code, 0, restart.stderr);
    const text = await runs(2);
    assert.ok(text.startsWith(first ?? '-'), 'the log is appended to, not truncated');
    const second = banners(text)[1] ?? '';
    assert.ok(second.endsWith(COMMAND));
    assert.ok(text.indexOf(second) > text.indexOf('err-line'), 'after the first run');
  });

  test("the log file is owned by the daemon's owner, not its run-as user", () => {
    const stats = statSync(logFile());
    assert.equal(stats.uid, host.user('alice').uid);
    assert.equal(stats.mode & 0o002, 0, 'not world-writable');
  });

  test('log with stdout piped prints the whole log', async () => {
    const expected = await readWhen(logFile(), (text) => banners(text).length >= 1);
    const result = await host.dmctl('alice', 'chatty', 'log');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, expected);
  });

  test('tail prints the end of the log and follows it', async () => {
    const tail = spawnDmctl(host, 'alice', 'chatty', 'tail');
    try {
      const before = banners(readFileSync(logFile(), 'utf8')).length;
      await waitFor(
        'dmctl tail to print the log',
        () => (tail.output().includes('err-line') ? true : undefined),
        { describe: tail.output },
      );
      assert.ok(tail.output().includes(host.id('alice/chatty')), tail.output());
      const restart = await host.dmctl('alice', 'chatty', 'restart');
      assert.equal(restart.code, 0, restart.stderr);
      const newest = banners(await runs(before + 1)).at(-1) ?? '';
      await waitFor(
        'dmctl tail to follow the log to the newest banner',
        () => (tail.output().includes(newest) ? true : undefined),
        { describe: tail.output },
      );
    } finally {
      await tail.stop();
    }
    await waitFor('the tail under dmctl tail to end', () =>
      livePidsOfUid(host.user('alice').uid).some((pid) => commandOf(pid) === 'tail')
        ? undefined
        : true,
    );
  });

  test('log of a daemon with output=discard says there is no log', async () => {
    const result = await host.dmctl('alice', 'mute', 'log');
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /output=discard/);
  });
});
