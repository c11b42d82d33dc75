import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { living } from '../helpers/census.ts';
import { readWhen, spawnCollecting } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive, processState } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const SLEEP = `sleep ${8_000_000 + randomInt(1_000_000) * 100}`;

/** The start time (clock ticks after boot) of a process, field 22 of /proc/PID/stat. */
function startTimeOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

describe('state.json at start', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const stateDir = join(host.dir, 'state');
  const stateFile = join(stateDir, 'state.json');
  const id = (): string => host.id('alice/web');

  before(() => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', `start=exec ${SLEEP}\n`);
    mkdirSync(stateDir, { mode: 0o700 });
  });
  after(() => host.cleanup());

  test('a saved pid now used by an unrelated process is never signalled', async () => {
    const out = join(host.dir, 'bystander.out');
    // In a process group of its own, as the daemon's would be: a kill(-pgid) reaches it too.
    const bystander = spawnCollecting([`${FIXTURES}/bystander.sh`, out]);
    try {
      await readWhen(out, (text) => text === 'ready\n');
      const pid = bystander.child.pid ?? 0;
      const saved = {
        version: 1,
        clean: false,
        daemons: {
          [id()]: {
            wanted: 'up',
            pid,
            startTime: startTimeOf(pid) + 1,
            spawnedAt: Date.now() - 60_000,
            startedAt: Date.now() - 60_000,
            respawns: 2,
            cooldownMs: 0,
          },
        },
      };
      writeFileSync(stateFile, JSON.stringify(saved), { mode: 0o600 });
      await host.startManager();
      const web = await host.waitForDaemon(
        'root',
        'alice/web',
        (d) => d.state === 'running',
        'to run',
      );
      assert.notEqual(web.pid, pid);
      assert.equal(web.respawns, 2, 'the saved respawn count is kept');
      assert.equal(living(SLEEP).length, 1);
      assert.ok(isAlive(pid), 'the unrelated process lives');
      assert.notEqual(processState(pid), 'T', 'and is not stopped');
      assert.equal(readFileSync(out, 'utf8'), 'ready\n', 'and got no signal');
      assert.doesNotMatch(host.managerLog, new RegExp(`process group ${pid} survives`));
    } finally {
      await bystander.stop();
      await host.stopManager();
    }
  });

  const CORRUPT: readonly [string, string, RegExp][] = [
    [
      'a truncated state.json',
      '{"version":1,"clean":false,"daemons":{"x/y":{"wan',
      /is not valid JSON/,
    ],
    ['an empty state.json', '', /is not valid JSON/],
    ['a state.json of binary garbage', '\u0000\u00ff\u0001garbage\u0000', /is not valid JSON/],
    [
      'a state.json of another shape',
      '{"version":1,"clean":false,"daemons":[1,2]}',
      /daemon "0" is malformed/,
    ],
    [
      'a state.json of an unknown version',
      '{"version":99,"clean":true,"daemons":{}}',
      /unknown version 99/,
    ],
  ];
  for (const [what, content, reason] of CORRUPT)
    test(`${what} is set aside, said in the log, and the daemons run`, async () => {
      writeFileSync(stateFile, content, { mode: 0o600 });
      rmSync(`${stateFile}.copy`, { force: true });
      const from = host.managerLog.length;
      try {
        await host.startManager();
        await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
        const log = host.managerLog.slice(from);
        assert.match(log, reason);
        assert.ok(
          log.includes(`${stateFile} `) &&
            log.includes(`set aside as ${stateFile}.corrupt, starting afresh`),
          log,
        );
        assert.equal(readFileSync(`${stateFile}.corrupt`, 'utf8'), content);
        const rewritten = JSON.parse(readFileSync(stateFile, 'utf8'));
        assert.equal(rewritten.daemons[id()]?.wanted, 'up', 'a sound state is saved again');
        assert.equal(living(SLEEP).length, 1);
      } finally {
        await host.stopManager();
      }
    });

  // An outside review (36a) damaged state.json while the manager was down: a stop under
  // way was undone (the daemon shown running, wanted up), an ended `restart=no` task ran
  // again. The copy written after each save is used.
  // Or missing (the next, 43b, F1, F2: deleted, or set aside by a manager that could not
  // save another on a full disk): every stop was undone, with the copy there.
  for (const damage of ['damaged', 'missing'] as const)
    test(`a ${damage} state.json is replaced by its copy: a stop is kept`, async () => {
      await host.startManager();
      try {
        await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
        assert.equal((await host.dmctl('alice', 'web', 'stop', '--wait=10')).code, 0);
        await waitFor('the stop in the copy of the state', () => {
          const copy = JSON.parse(readFileSync(`${stateFile}.copy`, 'utf8'));
          return copy.daemons[id()]?.wanted === 'down' ? true : undefined;
        });
        await host.killManager();
        if (damage === 'missing') rmSync(stateFile);
        else
          writeFileSync(stateFile, '{"version":1,"clean":false,"daemons":{"x/y":{"wan', {
            mode: 0o600,
          });
        const from = host.managerLog.length;
        await host.startManager();
        const row = await host.waitForDaemon('root', 'alice/web', () => true, 'to be loaded');
        assert.equal(row.state, 'stopped', JSON.stringify(row));
        assert.match(
          host.managerLog.slice(from),
          damage === 'missing'
            ? /state\.json is missing; using its copy/
            : /is not valid JSON \(truncated\?\); set aside as \S+state\.json\.corrupt; using its copy/,
        );
        assert.equal(living(SLEEP).length, 0);
        assert.equal((await host.dmctl('alice', 'web', 'start')).code, 0);
      } finally {
        await host.stopManager();
      }
    });

  test('a state.json deleted while the keeper ran on is said: what was stopped by hand is not known', async () => {
    await host.startManager();
    try {
      await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
      const manager = host.managerProcess();
      const exited = new Promise((resolve) => manager?.once('exit', resolve));
      manager?.kill('SIGKILL');
      await exited;
      rmSync(stateFile, { force: true });
      rmSync(`${stateFile}.copy`, { force: true });
      const from = host.managerLog.length;
      await host.startManager();
      await host.waitForDaemon('root', 'alice/web', (d) => d.state === 'running', 'to run');
      assert.match(
        host.managerLog.slice(from),
        /no saved state \(\S+state\.json is missing\) though the keeper kept 1 runs: daemons stopped before are started again/,
      );
    } finally {
      await host.stopManager();
    }
  });

  test('a state.json lost in a crash of the manager and its keeper still leaves no second copy of a survivor', async (t) => {
    const first = await host.startManager();
    if (/no cgroups: daemons tracked by process group/.test(host.managerLog)) {
      // Without cgroups only the state file names survivors: nothing can be asked of this.
      t.skip('cgroups are not available here');
      await host.stopManager();
      return;
    }
    const was = await host.waitForDaemon(
      'root',
      'alice/web',
      (d) => d.state === 'running',
      'to run',
    );
    const exited = new Promise((resolve) => first.once('exit', resolve));
    // With its keeper alive the daemon would simply be taken over (see crash.test.ts): here
    // the keeper goes too, so only the daemon's cgroup can name the survivor.
    const keeper = host.keeperPid();
    first.kill('SIGKILL');
    process.kill(keeper, 'SIGKILL');
    await exited;
    await waitFor('the keeper to die', () => (isAlive(keeper) ? undefined : true));
    writeFileSync(stateFile, '{"version":1,"cle', { mode: 0o600 });
    try {
      await host.startManager();
      const is = await host.waitForDaemon(
        'root',
        'alice/web',
        (d) => d.state === 'running' && d.pid !== was.pid,
        'to run anew',
      );
      assert.ok(!isAlive(was.pid), 'the survivor is gone');
      assert.deepEqual(
        living(SLEEP).map((entry) => entry.pid),
        [is.pid],
      );
    } finally {
      await host.stopManager();
    }
    assert.ok(existsSync(`${stateFile}.corrupt`));
  });
});
