import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { makeAccountAgain, writeDaemonAgain } from '../helpers/accounts.ts';
import { type ProcessEntry, processTable } from '../helpers/census.ts';
import { showLogIfFailed } from '../helpers/cli.ts';
import { writeDeafDaemon } from '../helpers/deaf.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * The runs whose command line has `marker`: not a fork of one caught before its exec (the
 * shell's `sleep`, which has its parent's command line for a moment: a full run, once).
 */
function runsOf(marker: string): ProcessEntry[] {
  const all = processTable().filter(
    (entry) => entry.command.includes(marker) && entry.state !== 'Z',
  );
  const pids = new Set(all.map((entry) => entry.pid));
  return all.filter((entry) => !pids.has(entry.ppid));
}

/** Once the manager saved the stop of a run no config claims (before, the one before's save had it). */
async function strayStopSaved(host: TestHost): Promise<void> {
  const stateFile = join(host.dir, 'state', 'state.json');
  await waitFor('the stray stop saved', () =>
    Object.keys(JSON.parse(readFileSync(stateFile, 'utf8')).strays ?? {}).length > 0
      ? true
      : undefined,
  );
}

/**
 * A kill -9 (of the keeper too, if `both`), the daemon's file deleted meanwhile; once the
 * next manager saved the stop, the file put back with no rescan, then a kill -9 again.
 */
function putBackWithNoRescan(both: boolean) {
  return async (host: TestHost, file: string): Promise<void> => {
    const text = readFileSync(file, 'utf8');
    const kill = async (): Promise<void> =>
      both ? await host.killManagerAndKeeper() : await host.killManager();
    await kill();
    rmSync(file);
    await host.startManager();
    await strayStopSaved(host);
    host.writeDaemon('alice', 'deaf', text);
    await kill();
    await host.startManager();
  };
}

/** A kill -9 of the manager and its keeper, the daemon's file deleted meanwhile. */
async function killBothDeleted(host: TestHost, file: string): Promise<void> {
  await host.killManagerAndKeeper();
  rmSync(file);
  await host.startManager();
}

/**
 * An outside review (35a): a stop under way (a daemon that ignores SIGTERM, a long
 * stop-timeout) was sent a second SIGTERM at each takeover, and a daemon may take a second
 * SIGTERM for "quit now", losing its clean shutdown. With its file deleted meanwhile, its
 * SIGKILL came a whole stop-timeout after the takeover, not at its own deadline. The
 * SIGTERM the keeper carried out is saved; the stop goes on to the deadline it had.
 */
const takeovers = {
  'two kill -9': async (host: TestHost) => {
    for (let time = 0; time < 2; time++) {
      await host.killManager();
      await host.startManager();
    }
  },
  'two upgrades': async (host: TestHost) => {
    await host.upgrade();
    await host.upgrade();
  },
  'a kill -9 of the manager and its keeper': async (host: TestHost) => {
    await host.killManagerAndKeeper();
    await host.startManager();
  },
  'a kill -9, its file deleted meanwhile': async (host: TestHost, file: string) => {
    await host.killManager();
    rmSync(file);
    await host.startManager();
  },
  'a kill -9 of the manager and its keeper, its file deleted meanwhile': killBothDeleted,
  // An outside review (45b, F6, 4 of 4): the survivors adopted from their cgroup, the
  // upgrade's new code took that cgroup for unknown and stopped it again.
  'a kill -9 of the manager and its keeper, its file deleted meanwhile, then an upgrade': async (
    host: TestHost,
    file: string,
  ) => {
    await killBothDeleted(host, file);
    await host.upgrade();
  },
  // An outside review (47a, F2): the stop of a run no config claimed, taken over after a
  // kill -9 of both, was begun again at the next: a second SIGTERM, a new deadline.
  'a kill -9 of the manager and its keeper, its file deleted meanwhile, then again': async (
    host: TestHost,
    file: string,
  ) => {
    await killBothDeleted(host, file);
    await strayStopSaved(host);
    await host.killManagerAndKeeper();
    await host.startManager();
  },
  // The next (47c, F1, F2): the file put back with no rescan, then a takeover (the keeper
  // on: the daemon started beside its run; killed too: a second SIGTERM, a new deadline).
  'a kill -9, its file deleted meanwhile, put back with no rescan, then again':
    putBackWithNoRescan(false),
  'a kill -9 of the manager and its keeper, its file deleted meanwhile, put back with no rescan, then again':
    putBackWithNoRescan(true),
  // The same review (47a, F1): its file put back meanwhile, the run its daemon's again.
  'a kill -9 of the manager and its keeper, its file deleted meanwhile and put back, then again':
    async (host: TestHost, file: string) => {
      const text = readFileSync(file, 'utf8');
      await killBothDeleted(host, file);
      const from = host.managerLog.length;
      host.writeDaemon('alice', 'deaf', text);
      assert.equal((await host.dmctl('alice', 'rescan')).code, 0);
      await waitFor('the run its daemon’s again', () =>
        host.managerLog.slice(from).includes('alice/deaf: its run before') ? true : undefined,
      );
      await host.killManagerAndKeeper();
      await host.startManager();
    },
};

describe('a stop under way, taken over', { skip: !root && 'needs root' }, () => {
  for (const [how, takeOver] of Object.entries(takeovers)) {
    const host = new TestHost();
    afterEach(showLogIfFailed(() => host.managerLog));

    test(`after ${how}: one SIGTERM, its SIGKILL at its own deadline`, async (t) => {
      t.after(() => host.cleanup());
      host.writeMaster('[can_run_as]\n{alice}\n', 'stop-timeout = 10s');
      const { file, terms } = writeDeafDaemon(host);
      host.writeDaemon('alice', 'marker', 'start=exec sleep 6800391\nautostart=no\n');
      await host.startManager();
      const { pid } = await host.waitForDaemon('alice', 'alice/deaf', (d) => d.pid > 0, 'to run');
      assert.equal((await host.dmctl('alice', 'deaf', 'stop')).code, 0);
      const stateFile = join(host.dir, 'state', 'state.json');
      const savedStop = () =>
        JSON.parse(readFileSync(stateFile, 'utf8')).daemons[host.id('alice/deaf')];
      // Saved by the time the stop is answered: a kill right after the answer sent a second
      // SIGTERM (an outside review, 37a, F2: 4 of 6).
      const before = savedStop();
      assert.notEqual(before?.termedAt, undefined, 'its SIGTERM carried out, saved');
      await waitFor('its SIGTERM', () => (existsSync(terms) ? true : undefined));
      const from = host.managerLog.length;
      await takeOver(host, file);
      if (existsSync(file)) {
        // A start of another daemon, saved: the save is the new manager's.
        assert.equal((await host.dmctl('alice', 'marker', 'start')).code, 0);
        const saved = await waitFor('a save by the new manager', () => {
          const daemons = JSON.parse(readFileSync(stateFile, 'utf8')).daemons;
          return daemons[host.id('alice/marker')]?.state === 'running' ? daemons : undefined;
        });
        const after = saved[host.id('alice/deaf')];
        assert.equal(after.state, 'stopping', 'stopping still');
        assert.equal(after.deadline, before.deadline, 'its deadline is the one it had');
      } else
        assert.match(
          host.managerLog.slice(from),
          new RegExp(
            `alice/deaf: (no config claims it any more .*; its stop goes on \\(pid ${pid}|processes in \\S+ survive from a manager that is gone \\(no config claims it\\); their stop goes on)`,
          ),
        );
      await waitFor('its SIGKILL', () => (isAlive(pid) ? undefined : true), {
        describe: () => host.managerLog.slice(from),
      });
      assert.equal(readFileSync(terms, 'utf8'), 'TERM\n', 'one SIGTERM');
      // Put back, its file is a daemon anew: it starts as autostart says, once its old run is gone.
      if (how.includes('put back'))
        await host.waitForDaemon('alice', 'alice/deaf', (d) => d.pid > 0 && d.pid !== pid, 'anew');
      else if (existsSync(file)) {
        const row = await host.waitForDaemon(
          'alice',
          'alice/deaf',
          (d) => d.state === 'stopped',
          'stopped',
        );
        assert.equal(row.wanted, 'down');
      }
    });
  }
});

/**
 * An outside review (36a, F4, High): after a takeover, a run no config claimed (its file
 * deleted) was being stopped unseen, and its file put back started a second copy beside
 * it at once, until its SIGKILL. The run's stop is the daemon's again: shown, and waited for.
 */
describe('a daemon loaded again while its unclaimed run is being stopped', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));

  test('shows that run stopping, and starts once it is gone: never two copies', async (t) => {
    t.after(() => host.cleanup());
    host.writeMaster('[can_run_as]\n{alice}\n', 'stop-timeout = 8s');
    const text = `start=exec sh -c 'trap "" TERM; while :; do sleep 0.2; done' deaf-6903700\n`;
    const file = host.writeDaemon('alice', 'deaf', text);
    await host.startManager();
    const { pid } = await host.waitForDaemon('alice', 'alice/deaf', (d) => d.pid > 0, 'to run');
    await host.killManager();
    rmSync(file);
    const from = host.managerLog.length;
    await host.startManager();
    assert.match(host.managerLog.slice(from), /alice\/deaf: no config claims it any more/);
    host.writeDaemon('alice', 'deaf', text);
    assert.equal((await host.dmctl('alice', 'rescan')).code, 0);
    const row = await host.waitForDaemon('alice', 'alice/deaf', () => true, 'to be shown');
    assert.equal(row.state, 'stopping');
    assert.equal(row.pid, pid);
    assert.equal(runsOf('deaf-6903700').length, 1, 'one copy');
    const next = await host.waitForDaemon(
      'alice',
      'alice/deaf',
      (d) => d.state === 'running' && d.pid > 0 && d.pid !== pid,
      'to start once its old run is gone',
    );
    assert.ok(!isAlive(pid), 'the old run is gone');
    assert.equal(
      runsOf('deaf-6903700')
        .map((found) => found.pid)
        .join(),
      String(next.pid),
    );
  });
});

/**
 * An outside review (36a, F2): the stop of the run of an account deleted and made again
 * under its name, under way when the manager was killed, began again at the takeover: a
 * second SIGTERM, and the admin's stop-timeout from then.
 */
// With the keeper killed too, an outside review (39a, F8) saw the old run's SIGKILL in the
// new account's `why`.
for (const keeper of [false, true])
  describe(`the stop of an old account's run, taken over${keeper ? ', the keeper killed too' : ''}`, {
    skip: !root && 'needs root',
  }, () => {
    const host = new TestHost();
    afterEach(showLogIfFailed(() => host.managerLog));

    test(`goes on: one SIGTERM, its SIGKILL at its deadline${keeper ? ' (the keeper killed too), nothing of it in why' : ''}`, async (t) => {
      t.after(() => host.cleanup());
      host.writeMaster('[can_run_as]\n{ida}\n', 'stop-timeout = 8s');
      const terms = mkdtempSync('/tmp/dm-terms-');
      chmodSync(terms, 0o777);
      t.after(() => rmSync(terms, { recursive: true, force: true }));
      const text = `start=exec sh -c 'trap "echo TERM >> ${terms}/terms" TERM; while :; do sleep 0.2; done'\n`;
      host.writeDaemon('ida', 'talker', text);
      await host.startManager();
      const { pid } = await host.waitForDaemon('root', 'ida/talker', (d) => d.pid > 0, 'to run');
      const again = makeAccountAgain(host, 'ida');
      writeDaemonAgain(again, 'talker', 'start=exec sleep 6903800\n');
      process.kill(host.managerPid(), 'SIGHUP');
      const stateFile = join(host.dir, 'state', 'state.json');
      await waitFor("the old run's stop, its SIGTERM carried out, saved", () => {
        const saved = JSON.parse(readFileSync(stateFile, 'utf8')).daemons[host.id('ida/talker')];
        return saved?.state === 'stopping' && saved.termedAt !== undefined ? saved : undefined;
      });
      if (keeper) await host.killManagerAndKeeper();
      else await host.killManager();
      const from = host.managerLog.length;
      await host.startManager();
      assert.match(
        host.managerLog.slice(from),
        keeper
          ? /survives from a previous manager/
          : /ran for the account that had this name before/,
      );
      await waitFor('its SIGKILL', () => (isAlive(pid) ? undefined : true));
      assert.equal(readFileSync(join(terms, 'terms'), 'utf8'), 'TERM\n', 'one SIGTERM');
      await host.waitForDaemon(
        'root',
        'ida/talker',
        (d) => d.pid > 0 && d.pid !== pid,
        'to run anew',
      );
      const why = await host.dmctl('ida', 'talker', 'why');
      assert.doesNotMatch(why.stdout, /SIGKILL|SIGTERM/, why.stdout);
    });
  });

/**
 * An outside review (77b, F1, 9 of 16 kills 0-3 ms after the SIGTERM): a `dmctl stop` whose
 * SIGTERM had gone out, the manager killed before its next save: the next manager took the
 * run for running and wanted up (a daemon that ignores SIGTERM never killed, one that ends
 * at it respawned), and `why` said nothing of the stop. The SIGTERM goes out once the stop
 * is saved; the manager is killed here as soon as the daemon has it.
 */
for (const cgroups of ['yes', 'no'] as const)
  describe(`a stop whose SIGTERM went out, the manager killed at once${cgroups === 'no' ? ', cgroups = no' : ''}`, {
    skip: !root && 'needs root',
  }, () => {
    const host = new TestHost();
    afterEach(showLogIfFailed(() => host.managerLog));

    test('goes on under the next manager: stopped, wanted down, said in why', async (t) => {
      t.after(() => host.cleanup());
      host.writeMaster(
        '[can_run_as]\n{alice}\n',
        `stop-timeout = 3s\n${cgroups === 'no' ? 'cgroups = no\n' : ''}`,
      );
      const { marks, terms } = writeDeafDaemon(host, true);
      await host.startManager();
      const { pid } = await host.waitForDaemon('alice', 'alice/deaf', (d) => d.pid > 0, 'to run');
      const manager = host.managerPid();
      const termed = new Promise<void>((resolve) => {
        const watcher = watch(marks, () => {
          if (!existsSync(terms)) return;
          process.kill(manager, 'SIGKILL');
          watcher.close();
          resolve();
        });
      });
      const stop = host.dmctl('alice', 'deaf', 'stop');
      await termed;
      // Cut off unanswered, its fate said unknown, not failed (an outside review, 78a, F2).
      const { code, stderr } = await stop;
      if (code !== 0) assert.match(stderr, /whether the stop was carried out is not known/);
      await waitFor('the manager to die', () => (isAlive(manager) ? undefined : true));
      await host.startManager();
      const row = await host.waitForDaemon(
        'alice',
        'alice/deaf',
        (d) => d.state === 'stopped',
        'stopped',
      );
      assert.equal(row.wanted, 'down', host.managerLog);
      assert.ok(!isAlive(pid), 'its process is gone');
      const why = (await host.dmctl('alice', 'deaf', 'why')).stdout;
      assert.match(why, /ran dmctl stop/, why);
      assert.match(why, new RegExp(`stopping pid ${pid} \\(SIGTERM\\)`), why);
    });
  });
