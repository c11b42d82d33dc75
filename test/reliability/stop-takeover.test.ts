import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

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
  'a kill -9 of the manager and its keeper, its file deleted meanwhile': async (
    host: TestHost,
    file: string,
  ) => {
    await host.killManagerAndKeeper();
    rmSync(file);
    await host.startManager();
  },
};

describe('a stop under way, taken over', { skip: !root && 'needs root' }, () => {
  for (const [how, takeOver] of Object.entries(takeovers)) {
    const host = new TestHost();
    afterEach(showLogIfFailed(() => host.managerLog));

    test(`after ${how}: one SIGTERM, its SIGKILL at its own deadline`, async (t) => {
      t.after(() => host.cleanup());
      const alice = host.user('alice');
      host.writeMaster('[can_run_as]\n{alice}\n', 'stop-timeout = 10s');
      const marks = join(alice.home, 'marks');
      host.mkdirAs(alice, marks);
      const terms = join(marks, 'terms');
      const file = host.writeDaemon(
        'alice',
        'deaf',
        `start=exec sh -c 'trap "echo TERM >> ${terms}" TERM; while :; do sleep 0.2; done'\n`,
      );
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
      if (existsSync(file)) {
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
