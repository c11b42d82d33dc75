import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { makeAccountAgain, writeDaemonAgain } from '../helpers/accounts.ts';
import { living } from '../helpers/census.ts';
import { showLogIfFailed } from '../helpers/cli.ts';
import { counterProblems, counterRuns, lastWritten } from '../helpers/counter.ts';
import { writeDeafDaemon } from '../helpers/deaf.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * The first review found survivors nobody supervised: after kill -9 of the manager, a
 * daemon whose file was deleted or broken, or whose user left [can_run_as], while the
 * manager was down was never loaded again, and ran on invisible to dmctl (with cgroups =
 * no, fixing its file started a second copy beside it). What no config claims is stopped.
 */
for (const cgroups of ['yes', 'no'])
  describe(`survivors that no config claims after a crash are stopped (cgroups = ${cgroups})`, {
    skip: !root && 'needs root',
  }, () => {
    const host = new TestHost();
    const base = 6_700_000 + randomInt(100_000) * 10;
    const sleeps = { keep: base, gone: base + 1, broken: base + 2, bob: base + 3 };
    const pids = new Map<string, number>();
    let restartLog = '';

    before(async () => {
      host.writeMaster('[can_run_as]\n{alice}\n{bob}\n', `cgroups = ${cgroups}`);
      host.writeDaemon('alice', 'keep', `start=exec sleep ${sleeps.keep}\n`);
      host.writeDaemon('alice', 'gone', `start=exec sleep ${sleeps.gone}\n`);
      host.writeDaemon('alice', 'broken', `start=exec sleep ${sleeps.broken}\n`);
      host.writeDaemon('bob', 'x', `start=exec sleep ${sleeps.bob}\n`);
      const manager = await host.startManager();
      for (const id of ['alice/keep', 'alice/gone', 'alice/broken', 'bob/x'])
        pids.set(id, (await host.waitForDaemon('root', id, (d) => d.pid > 0, 'to run')).pid);
      const exited = new Promise((resolve) => manager.once('exit', resolve));
      manager.kill('SIGKILL');
      await exited;

      // While no manager runs: a file deleted, one broken, a user no longer allowed. The
      // configs kept gone too: with its run's config kept, the broken one goes on with it
      // (see "a daemon whose file broke while no manager ran").
      rmSync(host.daemonFile('alice', 'gone'));
      host.writeDaemon('alice', 'broken', 'start=exec sleep 1\nautostart=maybe\n');
      rmSync(join(host.dir, 'state', 'configs'), { recursive: true, force: true });
      host.writeMaster('[can_run_as]\n{alice}\n', `cgroups = ${cgroups}`);
      const from = host.managerLog.length;
      await host.startManager();
      await waitFor(
        'the unclaimed survivors to be stopped',
        () =>
          ['alice/gone', 'alice/broken', 'bob/x'].every((id) => !isAlive(pids.get(id) ?? 0))
            ? true
            : undefined,
        { describe: () => host.managerLog.slice(from) },
      );
      restartLog = host.managerLog.slice(from);
    });
    after(() => host.cleanup());

    test('the daemon whose config is unchanged is taken over, not restarted', async () => {
      const row = await host.waitForDaemon('alice', 'alice/keep', (d) => d.pid > 0, 'to run');
      assert.equal(row.pid, pids.get('alice/keep'));
    });

    test('the log names each survivor it stopped', () => {
      for (const id of ['alice/gone', 'alice/broken', 'bob/x'])
        assert.match(
          restartLog,
          new RegExp(`${host.id(id)}: no config claims it any more.*stopping pid ${pids.get(id)}`),
        );
    });

    test('once its file is fixed, the daemon runs once', async () => {
      host.writeDaemon('alice', 'broken', `start=exec sleep ${sleeps.broken}\n`);
      assert.equal((await host.dmctl('alice', 'rescan')).code, 0);
      await host.waitForDaemon('alice', 'alice/broken', (d) => d.pid > 0, 'to run again');
      await waitFor('one copy of it', () =>
        living(`sleep ${sleeps.broken}`).length === 1 ? true : undefined,
      );
      assert.equal(living(`sleep ${sleeps.gone}`).length, 0);
      assert.equal(living(`sleep ${sleeps.bob}`).length, 0);
    });
  });

/**
 * An outside review: a daemon stopped because no config claims it any more lost all it
 * wrote while no manager ran (190-210 lines each): its pipe was emptied, not logged.
 * Under load, its last lines were lost (1 run in 7 with six busy loops beside it, and a
 * full run of the tests): its log was let go of as its run ended, before the pump had
 * read its pipe to the end.
 */
describe('what a survivor no config claims wrote while no manager ran', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('reaches its log, up to its last line as it stops', async () => {
    const home = host.user('alice').home;
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'talker',
      `start=exec ${FIXTURES}/counter.sh ${home} 1\noutput=log\n`,
    );
    const manager = await host.startManager();
    const { pid } = await host.waitForDaemon('alice', 'alice/talker', (d) => d.pid > 0, 'to run');
    const exited = new Promise((resolve) => manager.once('exit', resolve));
    manager.kill('SIGKILL');
    await exited;
    const before = lastWritten(home, pid);
    await waitFor('100 lines written while no manager runs', () =>
      lastWritten(home, pid) >= before + 100 ? true : undefined,
    );
    rmSync(host.daemonFile('alice', 'talker'));
    await host.startManager();
    await waitFor('the survivor to be stopped', () => (isAlive(pid) ? undefined : true));
    const log = join(home, '.daemon-manager/logs/talker.log');
    const run = await waitFor('its last line in its log', () => {
      const found = counterRuns(readFileSync(log, 'utf8')).get(pid);
      return found?.end === undefined ? undefined : found;
    });
    assert.deepEqual(counterProblems(run), []);
    assert.ok(run.numbers.length >= before + 100, `${run.numbers.length} lines logged`);
  });
});

/**
 * An outside review (20c, 9): those last lines lost the daemon's `log_timestamps`: its
 * file deleted, the defaults were used for them.
 */
describe('what a survivor no config claims wrote, with log_timestamps', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('is logged with its time stamps, as its config said', async () => {
    const home = host.user('alice').home;
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'stamped',
      `start=exec ${FIXTURES}/counter.sh ${home} 1\noutput=log\nlog_timestamps=yes\n`,
    );
    await host.startManager();
    const { pid } = await host.waitForDaemon('alice', 'alice/stamped', (d) => d.pid > 0, 'to run');
    // Its config kept (written in the background after the start): killed before, the
    // next manager has no config of it, and its lines are logged bare (seen under load).
    const copies = join(host.dir, 'state', 'configs', `${host.user('alice').name}.json`);
    await waitFor('its config kept', () =>
      existsSync(copies) && readFileSync(copies, 'utf8').includes('stamped') ? true : undefined,
    );
    await host.killManager();
    const before = lastWritten(home, pid);
    await waitFor('100 lines written while no manager runs', () =>
      lastWritten(home, pid) >= before + 100 ? true : undefined,
    );
    rmSync(host.daemonFile('alice', 'stamped'));
    await host.startManager();
    await waitFor('the survivor to be stopped', () => (isAlive(pid) ? undefined : true));
    const log = join(home, '.daemon-manager/logs/stamped.log');
    const lines = await waitFor('its last line in its log', () => {
      const text = readFileSync(log, 'utf8');
      return counterRuns(text).get(pid)?.end === undefined
        ? undefined
        : text.split('\n').filter((line) => line.includes(`count ${pid} `));
    });
    assert.ok(lines.length >= before + 100, `${lines.length} lines logged`);
    const bare = lines.filter((line) => line.startsWith('count '));
    assert.deepEqual(bare.slice(0, 3), [], `${bare.length} lines without a time stamp`);
  });
});

/** A daemon of `short` that says, line after line, the uid it runs as. */
const TALKER = 'start=while :; do echo "written by uid $(id -u)"; sleep 0.1; done\noutput=log\n';

/**
 * An outside review: an account deleted and made again under its name (another uid)
 * while no manager ran got, in a log made in its new home, what the old account's
 * survivor wrote. That output is the old account's: it is dropped, and the manager's log
 * says so; a daemon of the same name the new account has is its own, started afresh.
 */
describe('the survivor of an account made again under its name while no manager ran', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  /**
   * Starts the daemon `name` of `short`, kills the manager, deletes the file and makes
   * the account again; the old run's pid, and the new account's uid and home.
   */
  async function crashAndMakeAgain(
    short: string,
    name: string,
  ): Promise<{ pid: number; uid: number; home: string }> {
    host.writeDaemon(short, name, TALKER);
    const manager = await host.startManager();
    const { pid } = await host.waitForDaemon(short, `${short}/${name}`, (d) => d.pid > 0, 'to run');
    const exited = new Promise((resolve) => manager.once('exit', resolve));
    manager.kill('SIGKILL');
    await exited;
    rmSync(host.daemonFile(short, name));
    return { pid, ...makeAccountAgain(host, short) };
  }

  test('has its output dropped, never written into the new account’s log', async () => {
    host.writeMaster('[can_run_as]\n{carl}\n');
    const { pid, home } = await crashAndMakeAgain('carl', 'talker');
    const from = host.managerLog.length;
    await host.startManager();
    await waitFor('the survivor to be stopped', () => (isAlive(pid) ? undefined : true));
    await waitFor(
      'the manager to say the old account’s output is dropped',
      () =>
        /carl\/talker: .*output.* dropped/.test(host.managerLog.slice(from)) ? true : undefined,
      { describe: () => host.managerLog.slice(from) },
    );
    const log = join(home, '.daemon-manager/logs/talker.log');
    const written = existsSync(log) ? readFileSync(log, 'utf8') : '';
    assert.doesNotMatch(written, /written by uid/);
  });

  test('is stopped, not taken over, by a daemon of the same name the new account has', async () => {
    await host.stopManager();
    host.writeMaster('[can_run_as]\n{carl}\n{dave}\n');
    const old = host.user('dave');
    const { pid, uid, home } = await crashAndMakeAgain('dave', 'same');
    writeDaemonAgain({ uid, home }, 'same', TALKER);
    await host.startManager();
    await waitFor('the old account’s run to be stopped', () => (isAlive(pid) ? undefined : true));
    const row = await host.waitForDaemon(
      'root',
      'dave/same',
      (d) => d.pid > 0 && d.pid !== pid,
      'to run anew',
    );
    const log = join(home, '.daemon-manager/logs/same.log');
    await waitFor('the new run’s lines in the new log', () =>
      existsSync(log) && readFileSync(log, 'utf8').includes(`written by uid ${uid}`)
        ? true
        : undefined,
    );
    assert.ok(row.pid > 0);
    // The control socket the keeper kept was the old account's: the new one gets its own.
    const control = join(host.dir, 'run', `${old.name}.sock`);
    await waitFor('a control socket of the new account', () =>
      existsSync(control) && lstatSync(control).uid === uid ? true : undefined,
    );
    assert.doesNotMatch(readFileSync(log, 'utf8'), new RegExp(`written by uid ${old.uid}\\b`));
  });
});

/**
 * An outside review (19c, 2): a manager started after a kill -9 while a user's daemon
 * directory, or their whole home, could not be read stopped their daemons as if no config
 * claimed them any more, and with the home unreadable what they wrote since the kill was
 * lost. A SIGHUP at such a moment leaves them running: so does a start now. They go on with
 * the config they ran with until the directory can be read again.
 */
/**
 * How a user's files are out of reach when the manager starts, and how they come back:
 * their daemon directory or their home unreadable (a mode being fixed), the home moved
 * away (nothing at its path: an automount not there yet), or an empty file system over it
 * (the bare mount point of a home not mounted yet).
 */
const OUT_OF_REACH = {
  daemons: {
    what: 'daemon directory cannot be read',
    away: (home: string): (() => void) => {
      const dir = join(home, '.daemon-manager/daemons');
      const mode = statSync(dir).mode & 0o7777;
      chmodSync(dir, 0);
      return () => chmodSync(dir, mode);
    },
  },
  home: {
    what: 'home cannot be read',
    away: (home: string): (() => void) => {
      const mode = statSync(home).mode & 0o7777;
      chmodSync(home, 0);
      return () => chmodSync(home, mode);
    },
  },
  moved: {
    what: 'home is not there',
    away: (home: string): (() => void) => {
      renameSync(home, `${home}.away`);
      return () => renameSync(`${home}.away`, home);
    },
  },
  mounted: {
    what: 'home is an empty mount',
    away: (home: string): (() => void) => {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'dm-test-empty', home]);
      return () => execFileSync('umount', [home]);
    },
  },
} as const;

/**
 * Outside reviews 19c (2) and 20c (1, 7): a manager started after a kill -9 while a user's
 * files were out of reach stopped their daemons as if no config claimed them any more, and
 * their output since the kill was lost; once the files were back, the logs waited for a
 * rescan (the daemon blocked on its full pipe meanwhile). A SIGHUP at such a moment leaves
 * them running: so does a start now. They go on with the config they ran with, their logs
 * are opened once the files are back, without a rescan.
 */
for (const [kind, { what, away }] of Object.entries(OUT_OF_REACH))
  describe(`a user whose ${what} when the manager starts after a kill -9`, {
    skip: !root && 'needs root',
  }, () => {
    const host = new TestHost();
    let back: (() => void) | undefined;
    after(async () => {
      back?.();
      await host.cleanup();
    });

    test(`keeps their daemon running, then logs every line it wrote (${kind})`, async () => {
      const user = host.user('alice');
      const counts = join(host.dir, 'counts');
      mkdirSync(counts);
      chownSync(counts, user.uid, user.gid);
      host.writeMaster('[can_run_as]\n{alice}\n');
      host.writeDaemon(
        'alice',
        'talker',
        `start=exec ${FIXTURES}/counter.sh ${counts} 1\noutput=log\n`,
      );
      await host.startManager();
      const { pid } = await host.waitForDaemon('alice', 'alice/talker', (d) => d.pid > 0, 'to run');
      await host.killManager();
      back = away(user.home);
      const from = host.managerLog.length;
      const before = lastWritten(counts, pid);
      await host.startManager();
      const said = host.managerLog.slice(from);
      assert.match(
        said,
        new RegExp(`${user.name}: .* could not be read whole .*: 1 daemons go on`),
      );
      assert.doesNotMatch(said, /no config claims it/);
      const row = await host.waitForDaemon('root', 'alice/talker', (d) => d.pid > 0, 'to run');
      assert.equal(row.pid, pid);
      assert.ok(isAlive(pid));
      assert.match((await host.dmctl('alice', 'why', 'talker')).stdout, /as last read/);
      await waitFor('100 lines written while its files are out of reach', () =>
        lastWritten(counts, pid) >= before + 100 ? true : undefined,
      );
      back();
      back = undefined;
      // No rescan: its log is opened once its files are back, and what waited is written.
      const log = join(user.home, '.daemon-manager/logs/talker.log');
      const written = lastWritten(counts, pid);
      await waitFor(
        'the lines written meanwhile in its log, without a rescan',
        () => {
          let text = '';
          try {
            text = readFileSync(log, 'utf8');
          } catch {
            return undefined;
          }
          return (counterRuns(text).get(pid)?.numbers.length ?? 0) >= written ? true : undefined;
        },
        { timeoutMs: 30_000 },
      );
      assert.equal((await host.dmctl('alice', 'stop', 'talker', '--wait=20')).code, 0);
      assert.equal(isAlive(pid), false);
      const run = await waitFor('its last line in its log', () => {
        const found = counterRuns(readFileSync(log, 'utf8')).get(pid);
        return found?.end === undefined ? undefined : found;
      });
      assert.deepEqual(counterProblems(run), []);
      assert.ok(run.numbers.length >= before + 100, `${run.numbers.length} lines logged`);
      assert.doesNotMatch(host.managerLog.slice(from), /config changed/);
    });
  });

/**
 * An outside review (20b, 6): the manager and its keeper killed, their daemons too, and
 * the state directory lost (a tmp cleaner, a reinstall): the next manager counted its runs
 * from 1 again, found the empty cgroups the old keeper left under those numbers (EEXIST),
 * and ran every daemon without a cgroup, said only in its log.
 */
describe('run cgroups left by a keeper whose state directory was lost', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('are made anew: the daemon runs in a cgroup of its own', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6700071\n');
    await host.startManager();
    const { pid } = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    const keeper = host.keeperPid();
    await host.killManager();
    process.kill(keeper, 'SIGKILL');
    process.kill(pid, 'SIGKILL');
    await waitFor('the daemon and its keeper to die', () =>
      isAlive(pid) || isAlive(keeper) ? undefined : true,
    );
    rmSync(join(host.dir, 'state'), { recursive: true, force: true });
    const from = host.managerLog.length;
    await host.startManager();
    const again = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    const unified = readFileSync(`/proc/${again.pid}/cgroup`, 'utf8')
      .split('\n')
      .find((line) => line.startsWith('0::'));
    assert.match(unified ?? '', new RegExp(`/${host.user('alice').name}/web/\\d+$`));
    assert.doesNotMatch(host.managerLog.slice(from), /cannot make cgroup/);
  });
});

/**
 * An outside review (20c, 4): a daemon running on its last good config, its file broken
 * since, taken over after a kill -9: with its directory readable, all it wrote from the
 * takeover on was read and dropped; with the directory unreadable, it was stopped.
 */
for (const readable of [true, false])
  describe(`a daemon whose file broke, taken over after a kill -9 (its directory ${readable ? 'readable' : 'unreadable'})`, {
    skip: !root && 'needs root',
  }, () => {
    const host = new TestHost();
    after(() => host.cleanup());

    test('goes on with its last good config, every line in its log', async () => {
      const user = host.user('alice');
      const counts = join(host.dir, 'counts');
      mkdirSync(counts);
      chownSync(counts, user.uid, user.gid);
      host.writeMaster('[can_run_as]\n{alice}\n');
      const good = `start=exec ${FIXTURES}/counter.sh ${counts} 1\noutput=log\n`;
      host.writeDaemon('alice', 'talker', good);
      await host.startManager();
      const { pid } = await host.waitForDaemon('alice', 'alice/talker', (d) => d.pid > 0, 'to run');
      host.writeDaemon('alice', 'talker', `${good}output=x\n`);
      assert.equal((await host.dmctl('alice', 'rescan')).code, 1, 'the broken file refused');
      await host.killManager();
      const dir = join(user.home, '.daemon-manager/daemons');
      if (!readable) chmodSync(dir, 0);
      const from = host.managerLog.length;
      await host.startManager();
      assert.doesNotMatch(host.managerLog.slice(from), /no config claims it/);
      const row = await host.waitForDaemon('root', 'alice/talker', (d) => d.pid > 0, 'to run');
      assert.equal(row.pid, pid);
      const taken = lastWritten(counts, pid);
      await waitFor('100 lines written after the takeover', () =>
        lastWritten(counts, pid) >= taken + 100 ? true : undefined,
      );
      const log = join(user.home, '.daemon-manager/logs/talker.log');
      // With its directory readable, its log is written from the takeover on, as it goes.
      if (readable)
        await waitFor('the lines written since the takeover in its log', () =>
          (counterRuns(readFileSync(log, 'utf8')).get(pid)?.numbers.length ?? 0) >= taken + 100
            ? true
            : undefined,
        );
      if (!readable) chmodSync(dir, 0o755);
      host.writeDaemon('alice', 'talker', good);
      assert.equal((await host.dmctl('alice', 'rescan')).code, 0);
      assert.equal((await host.dmctl('alice', 'stop', 'talker', '--wait=20')).code, 0);
      const run = await waitFor('its last line in its log', () => {
        const found = counterRuns(readFileSync(log, 'utf8')).get(pid);
        return found?.end === undefined ? undefined : found;
      });
      assert.deepEqual(counterProblems(run), []);
      assert.ok(run.numbers.length >= taken + 100, `${run.numbers.length} lines logged`);
    });
  });

/**
 * An outside review (21a, 1-3): with no configs as last read (none saved yet, or the file
 * damaged), daemons taken over unread were stopped and never came back once the directory
 * could be read, until a rescan; a file edited meanwhile was applied by a restart nobody
 * asked for (with the directory readable, it waits for a rescan); `why` went on saying the
 * file could not be read.
 */
describe('a daemon directory unreadable at a takeover, then readable again', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('with no configs as last read: the daemon comes back without a rescan', async () => {
    const user = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6700081\n');
    await host.startManager();
    const { pid } = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    await host.killManager();
    const dir = join(user.home, '.daemon-manager/daemons');
    chmodSync(dir, 0);
    rmSync(join(host.dir, 'state/configs'), { recursive: true, force: true });
    await host.startManager();
    await waitFor('the old run to be stopped', () => (isAlive(pid) ? undefined : true));
    chmodSync(dir, 0o755);
    const again = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run again');
    assert.notEqual(again.pid, pid);
  });

  test('a file edited meanwhile is taken, not applied by a restart; why says it is read again', async () => {
    const user = host.user('alice');
    const { pid } = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    await host.killManager();
    const dir = join(user.home, '.daemon-manager/daemons');
    chmodSync(dir, 0);
    await host.startManager();
    host.writeDaemon('alice', 'web', 'start=exec sleep 6700081\numask=027\n');
    chmodSync(dir, 0o755);
    const why = await waitFor('the file read again, its change taken', async () => {
      const text = (await host.dmctl('alice', 'web', 'why')).stdout;
      return /changed while it could not be read/.test(text) ? text : undefined;
    });
    assert.match(why, /can be read again/);
    assert.equal((await host.status('alice')).find((d) => d.name === 'web')?.pid, pid);
    assert.doesNotMatch(host.managerLog, /web: config changed; restarting/);
  });
});

/**
 * An outside review (50a, F3): a start's copy of a changed file was written at most every
 * 10 s. A second restart within them, then a kill -9 of the manager with the directory
 * unreadable at the takeover: the takeover took the copy before for the run's config, and
 * the respawn after a crash ran the config the user had replaced (with the keeper killed
 * too, the run was stopped at once and the old config started).
 */
describe('restarts that applied changed files, then a kill -9 with the directory unreadable', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  for (const [what, kill] of [
    ['the manager', () => host.killManager()],
    ['the manager and its keeper', () => host.killManagerAndKeeper()],
  ] as const)
    test(`(${what} killed): the run and its respawn have the config last applied`, async () => {
      const user = host.user('alice');
      host.writeMaster('[can_run_as]\n{alice}\n');
      host.writeDaemon('alice', 'web', 'start=exec sleep 6700091\n');
      await host.startManager();
      await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
      for (const seconds of [6700092, 6700093]) {
        host.writeDaemon('alice', 'web', `start=exec sleep ${seconds}\n`);
        assert.equal((await host.dmctl('alice', 'web', 'restart')).code, 0);
      }
      const { pid } = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /6700093/);
      await kill();
      const dir = join(user.home, '.daemon-manager/daemons');
      chmodSync(dir, 0);
      try {
        await host.startManager();
        const taken = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
        if (taken.pid === pid) process.kill(pid, 'SIGKILL');
        const again = await host.waitForDaemon(
          'alice',
          'alice/web',
          (d) => d.pid > 0 && d.pid !== pid,
          'to run again',
        );
        assert.match(readFileSync(`/proc/${again.pid}/cmdline`, 'utf8'), /6700093/);
        assert.doesNotMatch(
          (await host.dmctl('alice', 'web', 'why')).stdout,
          /changed before this manager took it over/,
        );
      } finally {
        chmodSync(dir, 0o755);
        await host.stopManager();
      }
    });
});

/**
 * An outside review (20b, 5): a stop under way whose main process had ended (the rest of
 * its run still stopping) when the manager was killed -9: the next manager said that end
 * again, twice in `why`.
 */
describe('a stop under way taken over after its main process ended', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('does not say that end again', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'stubborn',
      `start=exec sh -c "(trap '' TERM; exec sleep 6700091) & exec sleep 6700092"\nstop_timeout=60s\n`,
    );
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/stubborn', (d) => d.pid > 0, 'to run');
    assert.equal((await host.dmctl('alice', 'stubborn', 'stop')).code, 0);
    const ended = /killed by SIGTERM.*while stopping/g;
    await waitFor('its main process to end', async () =>
      (await host.dmctl('alice', 'stubborn', 'why')).stdout.match(ended) ? true : undefined,
    );
    // Killed once the state says so (saves are batched).
    await waitFor('the state to save that end', () =>
      readFileSync(join(host.dir, 'state/state.json'), 'utf8').includes('"mainGone":true')
        ? true
        : undefined,
    );
    await host.killManager();
    const from = host.managerLog.length;
    await host.startManager();
    await waitFor('the stop taken over', async () =>
      (await host.status('alice')).find((d) => d.name === 'stubborn')?.state === 'stopping'
        ? true
        : undefined,
    );
    // (The history is saved apart, batched: a kill -9 may leave it a line short, never long.)
    const why = (await host.dmctl('alice', 'stubborn', 'why')).stdout;
    assert.ok((why.match(ended)?.length ?? 0) <= 1, why);
    assert.doesNotMatch(host.managerLog.slice(from), /killed by SIGTERM/);
  });
});

/**
 * An outside review (22a, F7): a file broken while no manager ran, its daemon running on
 * a config never saved: its run was stopped at the takeover "for its file deleted, or its
 * user no longer allowed", and `why` never said it was stopped. Another (32b, F4): a file
 * refused for its mode (world-writable) had its run stopped the same way, the config it
 * was started with kept at hand in the state directory.
 */
describe('a daemon whose file broke while no manager ran', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  /** alice's `web` runs, its file is changed by `change` while no manager runs; its pid. */
  async function brokenWhileDown(sleep: number, change: () => void): Promise<number> {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', `start=exec sleep ${sleep}\n`);
    await host.startManager();
    const { pid } = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    const copies = join(host.dir, 'state', 'configs', `${host.user('alice').name}.json`);
    await waitFor('its config kept', () =>
      existsSync(copies) && readFileSync(copies, 'utf8').includes(String(sleep)) ? true : undefined,
    );
    await host.killManager();
    change();
    return pid;
  }

  for (const [what, change] of [
    ['broken', () => host.writeDaemon('alice', 'web', 'start=exec sleep 6700402\noutput=x\n')],
    ['refused for its mode', () => chmodSync(host.daemonFile('alice', 'web'), 0o666)],
  ] as const)
    test(`${what}: goes on with the config its run was started with, said in the log and why`, async () => {
      const pid = await brokenWhileDown(6_700_401, change);
      const from = host.managerLog.length;
      await host.startManager();
      const row = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to go on');
      assert.equal(row.pid, pid, 'taken over, not stopped');
      assert.match(
        host.managerLog.slice(from),
        /alice\/web: its config file cannot be used now .*: it goes on with the config it was started with/,
      );
      assert.match(
        (await host.dmctl('alice', 'web', 'why')).stdout,
        /its config file cannot be used now/,
      );
      // Its respawn runs that config too.
      process.kill(pid, 'SIGKILL');
      const again = await host.waitForDaemon(
        'alice',
        'alice/web',
        (d) => d.state === 'running' && d.pid !== pid,
        'to respawn',
      );
      assert.match(readFileSync(`/proc/${again.pid}/cmdline`, 'utf8'), /6700401/);
      await host.stopManager();
      chmodSync(host.daemonFile('alice', 'web'), 0o644);
    });

  // An outside review (34a, F2): a daemon cooling down (no run) whose file was made
  // world-writable was left broken, wanted down, by the takeover, where a manager that runs
  // goes on with its config.
  test('cooling down, refused for its mode: goes on with its config as last read', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'flaky', "start=exec sh -c 'sleep 0.2; exit 1'\n");
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/flaky', (d) => d.state === 'coolingdown', 'to cool');
    const copies = join(host.dir, 'state', 'configs', `${host.user('alice').name}.json`);
    await waitFor('its config kept, and its cooldown saved', () =>
      existsSync(copies) &&
      readFileSync(copies, 'utf8').includes('flaky') &&
      /"state":"coolingdown"/.test(readFileSync(join(host.dir, 'state', 'state.json'), 'utf8'))
        ? true
        : undefined,
    );
    await host.killManager();
    chmodSync(host.daemonFile('alice', 'flaky'), 0o666);
    const from = host.managerLog.length;
    await host.startManager();
    assert.match(
      host.managerLog.slice(from),
      /alice\/flaky: its config file cannot be used now .*: it goes on with its config as last read/,
    );
    await waitFor('a respawn with it', () =>
      /alice\/flaky: started, pid/.test(host.managerLog.slice(from)) ? true : undefined,
    );
    await host.stopManager();
    rmSync(host.daemonFile('alice', 'flaky'));
  });

  // An outside review (35a, F1): a daemon its owner was stopping, its main process gone
  // and the rest of its run still there, its file made world-writable before a kill -9: the
  // takeover stopped it as claimed by no config ("not saved"), and the fix of its file
  // started it, its owner's stop forgotten.
  test('being stopped by its owner, refused for its mode: its stop goes on, and it stays stopped', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'halting',
      `start=exec sh -c '(trap "" TERM; exec sleep 6700404) & wait'\nstop_timeout=4s\n`,
    );
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/halting', (d) => d.pid > 0, 'to run');
    const copies = join(host.dir, 'state', 'configs', `${host.user('alice').name}.json`);
    await waitFor('its config kept', () =>
      existsSync(copies) && readFileSync(copies, 'utf8').includes('6700404') ? true : undefined,
    );
    const stopped = host.dmctl('alice', 'halting', 'stop');
    await host.waitForDaemon(
      'alice',
      'alice/halting',
      (d) => d.state === 'stopping',
      'to be stopping',
    );
    await waitFor('its stop saved', () =>
      /"state":"stopping"/.test(readFileSync(join(host.dir, 'state', 'state.json'), 'utf8'))
        ? true
        : undefined,
    );
    await host.killManager();
    await stopped;
    chmodSync(host.daemonFile('alice', 'halting'), 0o666);
    const from = host.managerLog.length;
    await host.startManager();
    assert.match(
      host.managerLog.slice(from),
      /alice\/halting: its config file cannot be used now .*: it goes on with the config it was started with/,
    );
    await host.waitForDaemon('alice', 'alice/halting', (d) => d.state !== 'stopping', 'to stop');
    chmodSync(host.daemonFile('alice', 'halting'), 0o644);
    await host.dmctl('alice', 'rescan');
    const row = (await host.status('alice')).find((d) => d.name === 'halting');
    assert.equal(row?.wanted, 'down');
    assert.equal(row?.state, 'stopped');
    await host.stopManager();
    rmSync(host.daemonFile('alice', 'halting'));
  });

  test('its config not kept: is stopped at the takeover for its broken file, said in the log and why', async () => {
    const pid = await brokenWhileDown(6_700_403, () => {
      host.writeDaemon('alice', 'web', 'start=exec sleep 6700403\noutput=x\n');
      rmSync(join(host.dir, 'state', 'configs'), { recursive: true });
    });
    const from = host.managerLog.length;
    await host.startManager();
    await waitFor('its run to be stopped', () => (isAlive(pid) ? undefined : true));
    assert.match(
      host.managerLog.slice(from),
      /alice\/web: no config claims it any more \(its file is broken now, and the config it ran with was not saved: .*output/,
    );
    assert.match(
      (await host.dmctl('alice', 'web', 'why')).stdout,
      /its run is stopped at the takeover: no config claims it \(its file is broken now/,
    );
  });
});

/**
 * An outside review (22c, 7): a survivor no config claims whose log could not be opened
 * had what it wrote while no manager ran dropped, and only the failed open was said.
 */
describe('what a survivor no config claims wrote, its log not to be opened', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('is dropped, and how much is said', async () => {
    const home = host.user('alice').home;
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'talker',
      `start=exec ${FIXTURES}/counter.sh ${home} 1\noutput=log\n`,
    );
    await host.startManager();
    const { pid } = await host.waitForDaemon('alice', 'alice/talker', (d) => d.pid > 0, 'to run');
    await host.killManager();
    const before = lastWritten(home, pid);
    await waitFor('lines written while no manager runs', () =>
      lastWritten(home, pid) >= before + 20 ? true : undefined,
    );
    rmSync(host.daemonFile('alice', 'talker'));
    // Its owner (and the manager, as its owner) cannot open it now.
    chmodSync(join(home, '.daemon-manager/logs/talker.log'), 0);
    const from = host.managerLog.length;
    await host.startManager();
    await waitFor('the survivor to be stopped', () => (isAlive(pid) ? undefined : true));
    await waitFor('what is dropped to be said', () =>
      /alice\/talker: its output is dropped \(\d+ bytes waiting in its pipe, and what it writes as it stops\): cannot open log file/.test(
        host.managerLog.slice(from),
      )
        ? true
        : undefined,
    );
  });
});

/**
 * An outside review (31a, F3): a SIGTERM of the manager while it stopped survivors no config
 * claims: it exited without waiting for them, and the keeper killed them as it quit, a
 * second into a stop of 6 s, in the middle of their own clean shutdown.
 */
describe('a survivor no config claims, being stopped as the manager gets SIGTERM', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('is given the rest of its stop before the manager exits', async () => {
    const alice = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n', 'stop-timeout = 60s');
    const marks = join(alice.home, 'marks');
    host.mkdirAs(alice, marks);
    // A clean shutdown that takes its time: said as it begins, and as it ends.
    host.writeDaemon(
      'alice',
      'slow',
      `start=exec sh -c 'trap "echo > ${marks}/term; sleep 2; echo > ${marks}/done; exit 0" TERM; while :; do sleep 0.2; done'\n`,
    );
    await host.startManager();
    const { pid } = await host.waitForDaemon('alice', 'alice/slow', (d) => d.pid > 0, 'to run');
    await host.killManager();
    rmSync(host.daemonFile('alice', 'slow'));
    const manager = await host.startManager();
    await waitFor('the survivor to be told to stop', () =>
      existsSync(join(marks, 'term')) ? true : undefined,
    );
    const from = host.managerLog.length;
    const exited = new Promise((resolve) => manager.once('exit', resolve));
    manager.kill('SIGTERM');
    await exited;
    assert.ok(existsSync(join(marks, 'done')), 'its shutdown ran to its end');
    assert.ok(!isAlive(pid));
    assert.match(
      host.managerLog.slice(from),
      /alice\/slow: the last of its processes no daemon wants is gone/,
    );
  });
});

/**
 * An outside review (32a, F1): each takeover (a kill -9 and a new manager, an upgrade) sent
 * a survivor being stopped a new SIGTERM and began its stop-timeout again: one that ignores
 * SIGTERM ran on 21 s with a stop-timeout of 5 s, never killed while the manager was taken
 * over every few seconds.
 */
describe('a survivor no config claims, being stopped at a takeover', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('has its stop go on: no second SIGTERM, SIGKILL when the first stop said', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n', 'stop-timeout = 6s');
    const { terms } = writeDeafDaemon(host);
    await host.startManager();
    const { pid } = await host.waitForDaemon('alice', 'alice/deaf', (d) => d.pid > 0, 'to run');
    await host.killManager();
    rmSync(host.daemonFile('alice', 'deaf'));
    await host.startManager();
    await waitFor('its SIGTERM', () => (existsSync(terms) ? true : undefined));
    // Saved with its SIGTERM carried out: saved `unsent` before, a kill then has the next
    // manager send it (a second time at worst, never none: an outside review, 75b, F4).
    await waitFor('its stop saved, its SIGTERM carried out', () => {
      const text = readFileSync(join(host.dir, 'state', 'state.json'), 'utf8');
      return text.includes('"strays"') && !text.includes('"unsent"') ? true : undefined;
    });
    await host.killManager();
    const from = host.managerLog.length;
    await host.startManager();
    assert.match(
      host.managerLog.slice(from),
      new RegExp(`alice/deaf: no config claims it any more .*; its stop goes on \\(pid ${pid}`),
    );
    await waitFor('its SIGKILL', () => (isAlive(pid) ? undefined : true));
    assert.equal(readFileSync(terms, 'utf8'), 'TERM\n', 'one SIGTERM');
    assert.match(
      host.managerLog.slice(from),
      /alice\/deaf: run \d+, which no daemon wants, still runs/,
    );
  });
});

/**
 * Found hunting an outside review's finding (33a, F1): with the manager and its keeper
 * killed, what survived in the cgroup of a daemon whose file was deleted meanwhile (or
 * whose user was no longer allowed) was claimed by nothing and ran on unseen, past the
 * manager's SIGTERM.
 */
describe('survivors no config claims, their keeper killed too', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('are stopped at the takeover, and said', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n');
    host.writeDaemon('alice', 'gone', 'start=exec sleep 6700501\n');
    host.writeDaemon('bob', 'out', 'start=exec sleep 6700502\n');
    await host.startManager();
    const gone = await host.waitForDaemon('alice', 'alice/gone', (d) => d.pid > 0, 'to run');
    const out = await host.waitForDaemon('bob', 'bob/out', (d) => d.pid > 0, 'to run');
    await host.killManagerAndKeeper();
    rmSync(host.daemonFile('alice', 'gone'));
    host.writeMaster('[can_run_as]\n{alice}\n');
    const from = host.managerLog.length;
    await host.startManager();
    await waitFor('both survivors to be stopped', () =>
      isAlive(gone.pid) || isAlive(out.pid) ? undefined : true,
    );
    for (const id of ['alice/gone', 'bob/out'])
      assert.match(
        host.managerLog.slice(from),
        new RegExp(
          `${host.id(id)}: processes in \\S+ survive from a manager that is gone \\(no config claims it\\); stopping them`,
        ),
      );
  });
});
