import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { showLogIfFailed } from '../helpers/cli.ts';
import { counterRuns, lastWritten } from '../helpers/counter.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const GAP =
  /^--- \S+Z daemon-manager: (\d+) bytes of output dropped here \(cannot write: ENOSPC\)$/gm;

/**
 * Output dropped on a full disk is said where writing resumes, with its count: the count
 * goes from one manager to the next (an upgrade, a kill -9), so the line counts what
 * both dropped. An outside review: a gap that spanned a manager got no line, or one that
 * counted only what the last manager dropped.
 */
describe('the count of output dropped on a full disk, across managers', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const logDir = (): string => join(host.user('alice').home, '.daemon-manager/logs');
  const ballast = (): string => join(logDir(), 'ballast');
  const fillerLog = (): string => join(logDir(), 'filler.log');
  const full = (from: number): true | undefined =>
    /alice\/filler: log: cannot write \(ENOSPC\)/.test(host.managerLog.slice(from))
      ? true
      : undefined;
  let mounted = false;
  let unmountable = '';
  let filler = 0;

  /** What the log says was dropped, in all, and what is missing from it, in bytes. */
  function accounts(): { said: number; missing: number; gaps: number } {
    const text = readFileSync(fillerLog(), 'utf8');
    const said = [...text.matchAll(GAP)].reduce((sum, [, bytes]) => sum + Number(bytes), 0);
    const numbers = new Set(counterRuns(text).get(filler)?.numbers);
    const top = Math.max(...numbers);
    let missing = 0;
    for (let number = 1; number < top; number++)
      if (!numbers.has(number)) missing += `count ${filler} ${number}\n`.length;
    return { said, missing, gaps: text.match(GAP)?.length ?? 0 };
  }

  /** Waits until the filler wrote `more` lines past what it had. */
  async function writes(more: number): Promise<void> {
    const home = host.user('alice').home;
    const target = lastWritten(home, filler) + more;
    await waitFor(`the filler to write ${more} more lines`, () =>
      lastWritten(home, filler) >= target ? true : undefined,
    );
  }

  /** Frees the disk and waits until the log says what was dropped, and goes on. */
  async function freeAndCount(): Promise<{ said: number; missing: number; gaps: number }> {
    rmSync(ballast());
    const home = host.user('alice').home;
    const target = lastWritten(home, filler) + 50;
    await waitFor('lines logged again after the gap', () => {
      const numbers = counterRuns(readFileSync(fillerLog(), 'utf8')).get(filler)?.numbers ?? [];
      return Math.max(0, ...numbers) >= target ? true : undefined;
    });
    return accounts();
  }

  /** Full again: the ballast takes what is free; waits for the manager to say so. */
  async function fillAgain(): Promise<void> {
    const { bavail, bsize } = statfsSync(logDir());
    writeFileSync(ballast(), Buffer.alloc(Number(bavail) * Number(bsize), 120));
    const from = host.managerLog.length;
    await waitFor('the disk to fill again', () => full(from));
  }

  /**
   * The gaps said count what is missing, within a line per gap: a line cut by the full
   * disk is partly in the log, counted missing whole here when its number was cut, and
   * not at all when only its end was (a full run: 1 byte more said than missing, its
   * newline).
   */
  function assertSaid(said: number, missing: number, gaps: number): void {
    assert.ok(gaps >= 1, 'the gap is said');
    assert.ok(
      Math.abs(said - missing) < 40 * gaps,
      `said ${said} bytes dropped, ${missing} missing`,
    );
  }

  before(async () => {
    const alice = host.user('alice');
    host.mkdirAs(alice, logDir());
    try {
      execFileSync('mount', [
        '-t',
        'tmpfs',
        '-o',
        `size=256k,mode=0755,uid=${alice.uid},gid=${alice.gid}`,
        'dm-test-dropped',
        logDir(),
      ]);
      mounted = true;
    } catch (error) {
      unmountable = `cannot mount a small tmpfs here: ${(error as Error).message}`;
      return;
    }
    writeFileSync(ballast(), Buffer.alloc(248 * 1024, 120));
    host.writeMaster('[can_run_as]\n{alice}\n', 'log-max-size = 0');
    host.writeDaemon(
      'alice',
      'filler',
      `start=exec ${FIXTURES}/counter.sh ${alice.home} 1\noutput=log\n`,
    );
    await host.startManager();
    await waitFor('the disk to fill', () => full(0));
    const [status] = await host.status('alice');
    filler = status?.pid ?? 0;
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await host.stopManager();
    if (mounted)
      try {
        execFileSync('umount', [logDir()]);
      } catch {
        execFileSync('umount', ['-l', logDir()]);
      }
    await host.cleanup();
  });

  test('an upgrade in the middle of a gap: the line counts what both managers dropped', async (t) => {
    if (!mounted) return t.skip(unmountable);
    await writes(200);
    const from = host.managerLog.length;
    const old = host.managerPid();
    process.kill(old, 'SIGUSR2');
    await waitFor('the upgrade', () =>
      /upgrade done: /.test(host.managerLog.slice(from)) && host.managerPid() !== old
        ? true
        : undefined,
    );
    await writes(50);
    const { said, missing, gaps } = await freeAndCount();
    assertSaid(said, missing, gaps);
  });

  test('a kill -9 of the manager in the middle of a gap: the same, from its last save', async (t) => {
    if (!mounted) return t.skip(unmountable);
    const before = accounts();
    await fillAgain();
    await writes(200);
    // The filler pauses, so that what the manager saved last (each second while output
    // is dropped) is all it dropped: the count after the kill must be whole.
    process.kill(filler, 'SIGSTOP');
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const manager = host.managerProcess();
      const pid = host.managerPid();
      process.kill(pid, 'SIGKILL');
      await waitFor('the manager to go', () => (isAlive(pid) ? undefined : true));
      if (manager?.pid === pid && manager.exitCode === null)
        await new Promise((resolve) => manager.once('exit', resolve));
      await host.startManager();
    } finally {
      process.kill(filler, 'SIGCONT');
    }
    await writes(50);
    const now = await freeAndCount();
    const said = now.said - before.said;
    const missing = now.missing - before.missing;
    const gaps = now.gaps - before.gaps;
    assertSaid(said, missing, gaps);
  });

  test('a clean stop of the manager in the middle of a gap: said in the log of the next run', async (t) => {
    if (!mounted) return t.skip(unmountable);
    await fillAgain();
    await writes(200);
    const text = readFileSync(fillerLog(), 'utf8');
    const said = [...text.matchAll(GAP)].length;
    await host.stopManager();
    // What the stopped run wrote and could not log, counted: the stop's own lines too.
    const stopped = counterRuns(readFileSync(fillerLog(), 'utf8')).get(filler);
    const lastLogged = Math.max(0, ...(stopped?.numbers ?? []));
    const end = Number(
      readFileSync(join(host.user('alice').home, `${filler}.last`), 'utf8')
        .trim()
        .split('\n')
        .at(-1),
    );
    let missing = `count ${filler} end ${end}\n`.length;
    for (let number = lastLogged + 1; number <= end; number++)
      missing += `count ${filler} ${number}\n`.length;
    rmSync(ballast());
    await host.startManager();
    const gap = await waitFor('the gap said in the next run', () => {
      const lines = [...readFileSync(fillerLog(), 'utf8').matchAll(GAP)];
      return lines.length > said ? Number(lines.at(-1)?.[1]) : undefined;
    });
    assert.ok(
      // Its last lines as it stopped are counted from what it says it wrote: a line either way.
      Math.abs(gap - missing) < 40,
      `said ${gap} bytes dropped, ${missing} missing`,
    );
  });
});
