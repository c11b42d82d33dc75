import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { counterRuns, highestCount, lastWritten } from '../helpers/counter.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const FULL = /alice\/filler: log: cannot write \(ENOSPC\)/;
const warnings = (log: string): number => log.split(FULL).length - 1;

describe('a full disk under one log', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const logDir = (): string => join(host.user('alice').home, '.daemon-manager/logs');
  const ballast = (): string => join(logDir(), 'ballast');
  const read = (path: string): string => readFileSync(path, 'utf8');
  const fillerLog = (): string => join(logDir(), 'filler.log');
  const otherLog = (): string => join(host.user('bob').home, '.daemon-manager/logs/other.log');
  let mounted = false;
  let unmountable = '';
  /** The filler's pid, and how far its log and its writing had got, when the disk filled. */
  let filler = 0;
  let loggedWhenFull = 0;
  let writtenWhenFull = 0;

  before(async () => {
    const alice = host.user('alice');
    host.mkdirAs(alice, logDir());
    try {
      // 64 KiB, 56 of them taken by a ballast file: the log fills the rest in a second.
      execFileSync('mount', [
        '-t',
        'tmpfs',
        '-o',
        `size=64k,mode=0755,uid=${alice.uid},gid=${alice.gid}`,
        'dm-test-full',
        logDir(),
      ]);
      mounted = true;
    } catch (error) {
      unmountable = `cannot mount a small tmpfs here: ${(error as Error).message}`;
      return;
    }
    writeFileSync(ballast(), Buffer.alloc(56 * 1024, 120));
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n', 'log-max-size = 0');
    const counter = (short: string): string =>
      `start=exec ${FIXTURES}/counter.sh ${host.user(short).home} 5\noutput=log\n`;
    host.writeDaemon('alice', 'filler', counter('alice'));
    host.writeDaemon('bob', 'other', counter('bob'));
    await host.startManager();
    await waitFor('the manager to report the full disk', () =>
      warnings(host.managerLog) > 0 ? true : undefined,
    );
    const [status] = (await host.status('alice')).filter((d) => d.name === 'filler');
    filler = status?.pid ?? 0;
    // The write that hit the limit may have left half a line: only whole lines count.
    const text = read(fillerLog());
    loggedWhenFull = highestCount(text.slice(0, text.lastIndexOf('\n') + 1));
    writtenWhenFull = lastWritten(alice.home, filler);
  });
  after(async () => {
    // The manager holds the log open: it goes first, then the mount, then the rest.
    await host.stopManager();
    if (mounted)
      try {
        execFileSync('umount', [logDir()]);
      } catch {
        execFileSync('umount', ['-l', logDir()]);
      }
    await host.cleanup();
  });

  test('the writing daemon keeps running and writing; the manager warns once', async (t) => {
    if (!mounted) return t.skip(unmountable);
    await waitFor('the filler to write 200 more lines', () =>
      lastWritten(host.user('alice').home, filler) >= writtenWhenFull + 200 ? true : undefined,
    );
    const [status] = (await host.status('alice')).filter((d) => d.name === 'filler');
    assert.equal(status?.state, 'running');
    assert.equal(status?.pid, filler, 'the same process');
    assert.equal(status?.respawns, 0);
    assert.ok(isAlive(filler));
    assert.equal(warnings(host.managerLog), 1, 'one warning for the episode');
  });

  test("the manager answers and other users' daemons and logs go on", async (t) => {
    if (!mounted) return t.skip(unmountable);
    const from = highestCount(read(otherLog()));
    await waitFor("bob's daemon to log 100 more lines", () =>
      highestCount(read(otherLog())) >= from + 100 ? true : undefined,
    );
    const [other] = await host.status('bob');
    assert.equal(other?.state, 'running');
    assert.equal(other?.respawns, 0);
    assert.ok(isAlive(host.managerPid()));
  });

  test('once space is freed, lines reach the log again', async (t) => {
    if (!mounted) return t.skip(unmountable);
    // While full, a chunk that fits in the last page still goes in: a few lines of the
    // full spell may be logged. Lines written once space is back must all be.
    const writtenWhenFreed = lastWritten(host.user('alice').home, filler);
    rmSync(ballast());
    await waitFor(
      'the filler log to get 100 lines written after the space was freed',
      () => (highestCount(read(fillerLog())) > writtenWhenFreed + 100 ? true : undefined),
      { describe: () => `last logged ${highestCount(read(fillerLog()))}` },
    );
    const [run] = [...counterRuns(read(fillerLog())).values()];
    assert.ok(run);
    assert.ok(run.numbers.includes(loggedWhenFull), 'what was logged before stays');
    const resumed = run.numbers.findIndex((number) => number > writtenWhenFreed + 1);
    const after = run.numbers.slice(resumed);
    assert.ok(
      after.every((number, index) => number === (after[0] ?? 0) + index),
      `every line after the space was back, once: ${JSON.stringify(after.slice(0, 20))}`,
    );
    // A line cut by the full disk ends there ("count 12 4"): none is joined to a piece of
    // another ("count 12 4count 12 97"), and none starts with the rest of a dropped one.
    const lines = read(fillerLog()).split('\n');
    const joined = lines.filter(
      (line) =>
        !line.startsWith('--- ') && // the manager's banner before a run
        (line.lastIndexOf('count') > 0 || !'count '.startsWith(line.slice(0, 6))),
    );
    assert.deepEqual(joined.slice(0, 5), [], 'lines joined across the gap');
  });
});
