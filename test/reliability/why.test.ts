import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { DaemonWhy } from '../../src/protocol/messages.ts';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * `dmctl why`: who did what to a daemon, seen by its owner, kept across an upgrade and a
 * kill -9 of the manager, as are a task's `exited` state and a cooldown under way.
 */
describe('dmctl why, and what survives the manager', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const why = async (short: string, ...args: string[]): Promise<string> => {
    const result = await host.dmctl(short, ...args);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  };
  const stopLine = (): RegExp => new RegExp(`${host.user('bob').name} ran dmctl stop\\n`);

  before(async () => {
    for (const short of ['alice', 'bob', 'carol']) host.user(short);
    host.writeMaster(
      '[can_run_as]\n{alice}\n{bob}\n{carol}\n[manages]\n{bob}: {alice}\n',
      'cooldown-step = 30s\ncooldown-max = 60s',
    );
    host.writeDaemon('alice', 'svc', 'start=exec sleep 6300400\n');
    host.writeDaemon('alice', 'task', 'start=exit 0\nrestart=no\n');
    host.writeDaemon('alice', 'job', 'start=exit 4\nrestart=no\n');
    host.writeDaemon('alice', 'crashy', 'start=exit 3\n');
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('the owner sees who stopped their daemon, in either order of id and command', async () => {
    await host.waitForDaemon('alice', 'alice/svc', (d) => d.state === 'running', 'to run');
    const stop = await host.dmctl('bob', host.id('alice/svc'), 'stop', '--wait');
    assert.equal(stop.code, 0, stop.stderr);
    const text = await why('alice', 'svc', 'why');
    assert.match(text, new RegExp(`^${host.id('alice/svc')}: stopped \\(wanted down\\)`));
    assert.match(text, stopLine());
    assert.match(text, /killed by SIGTERM after .*, while stopping\n.*stopped\n$/);
    assert.equal(await why('alice', 'why', 'svc'), text);
    const json = JSON.parse(await why('alice', '--json', 'svc', 'why')) as DaemonWhy;
    assert.equal(json.status.state, 'stopped');
    assert.ok(json.events.some((event) => event.kind === 'command' && event.text.includes('stop')));
  });

  test("another user's history is refused as their status is", async () => {
    const whyRefused = await host.dmctl('carol', host.id('alice/svc'), 'why');
    const statusRefused = await host.dmctl('carol', host.id('alice/svc'), 'status');
    assert.equal(whyRefused.code, 1);
    assert.equal(whyRefused.stdout, '');
    assert.equal(whyRefused.stderr, statusRefused.stderr);
    assert.doesNotMatch(whyRefused.stderr, /ran dmctl/);
  });

  test('a file that never loaded takes its history with it when it goes', async () => {
    const file = host.writeDaemon('carol', 'brk', 'start=sleep 1\noutput=nope\n');
    await host.dmctl('carol', 'rescan');
    const history = (): string => readFileSync(join(host.dir, 'state/history.json'), 'utf8');
    await waitFor('its history to be saved', () =>
      history().includes(host.id('carol/brk')) ? true : undefined,
    );
    rmSync(file);
    const rescan = await host.dmctl('carol', 'rescan');
    assert.match(rescan.stdout, new RegExp(`removed: ${host.id('carol/brk')}`));
    // The history is saved within a second of the state.
    await waitFor('its history to be gone from the file', () =>
      history().includes(host.id('carol/brk')) ? undefined : true,
    );
  });

  test('tasks that ended, a cooldown and the history survive an upgrade and a kill -9', async () => {
    await host.waitForDaemon('alice', 'alice/task', (d) => d.state === 'exited', 'to exit');
    await host.waitForDaemon('alice', 'alice/job', (d) => d.state === 'failed', 'to fail');
    const cooling = await host.waitForDaemon(
      'alice',
      'alice/crashy',
      (d) => d.state === 'coolingdown' && d.cooldown > 10,
      'to cool down',
    );
    const from = host.managerLog.length;
    const old = host.managerPid();
    process.kill(old, 'SIGUSR2');
    await waitFor('the upgrade', () =>
      /upgrade done: the manager runs as pid \d+ now/.test(host.managerLog.slice(from))
        ? true
        : undefined,
    );
    assert.match(await why('alice', 'svc', 'why'), stopLine());
    // The old one leaves once its log is written out, holding the state directory's lock
    // till then: a manager started before that is refused (a full run started it sooner).
    await waitFor('the old manager to exit', () => (isAlive(old) ? undefined : true));

    const upgraded = host.managerPid();
    process.kill(upgraded, 'SIGKILL');
    await waitFor('the manager to die', () => (isAlive(upgraded) ? undefined : true));
    await host.startManager();
    assert.match(await why('alice', 'svc', 'why'), stopLine());
    const task = await host.waitForDaemon('alice', 'alice/task', () => true, 'known');
    assert.equal(task.state, 'exited', 'not run again');
    assert.equal(task.lastExitCode, 0);
    const job = await host.waitForDaemon('alice', 'alice/job', () => true, 'known');
    assert.deepEqual([job.state, job.lastExitCode, job.respawns], ['failed', 4, 0]);
    const crashy = await host.waitForDaemon('alice', 'alice/crashy', () => true, 'known');
    assert.equal(crashy.state, 'coolingdown', 'the cooldown goes on');
    assert.equal(crashy.respawns, cooling.respawns);
    assert.ok(crashy.cooldown <= cooling.cooldown && crashy.cooldown > 0, `${crashy.cooldown}s`);
    const svc = await host.waitForDaemon('alice', 'alice/svc', () => true, 'known');
    assert.equal(svc.state, 'stopped');
  });
});
