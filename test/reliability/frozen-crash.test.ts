import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { cgroup2Mount, cgroup2Of, isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const frozen = (cgroup: string): boolean =>
  /^frozen 1$/m.test(readFileSync(join(cgroup, 'cgroup.events'), 'latin1'));

/**
 * The manager freezes a daemon's cgroup while it signals it or moves it into a quota's
 * cgroups, and thaws it after: a manager killed with -9 in between left it frozen, and the
 * next manager took the frozen run over as running, for good.
 */
describe('a manager killed while a daemon is frozen', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const mount = cgroup2Mount();
  let tick = '';

  before(async () => {
    host.writeMaster('[can_run_as]\n{erin}\n');
    const erin = host.user('erin');
    tick = join(erin.home, 'tick');
    host.writeDaemon(
      'erin',
      'tick',
      `start=exec sh -c 'while :; do : > ${tick}; sleep 0.2; done'\n`,
    );
    await host.startManager();
  });
  after(() => host.cleanup());

  test('the next manager thaws it: the daemon runs on, taken over', {
    skip: mount === undefined && 'no cgroup2 hierarchy',
  }, async () => {
    const running = await host.waitForDaemon('erin', 'erin/tick', (d) => d.pid > 0, 'to run');
    const cgroup = cgroup2Of(running.pid, mount ?? '');
    assert.ok(cgroup !== undefined, 'the daemon is in a cgroup2 cgroup');
    // What a manager killed in the middle of a signal leaves: the run frozen.
    writeFileSync(join(cgroup, 'cgroup.freeze'), '1');
    await waitFor('the daemon to be frozen', () => (frozen(cgroup) ? true : undefined));
    const manager = host.managerPid();
    process.kill(manager, 'SIGKILL');
    await waitFor('the manager to die', () => (isAlive(manager) ? undefined : true));

    await host.startManager();
    await waitFor('the daemon to be thawed', () => (frozen(cgroup) ? undefined : true));
    const after_ = await host.waitForDaemon('erin', 'erin/tick', (d) => d.pid > 0, 'to run');
    assert.equal(after_.pid, running.pid, 'taken over, not restarted');
    const touched = statSync(tick).mtimeMs;
    await waitFor('the daemon to write again', () =>
      statSync(tick).mtimeMs > touched ? true : undefined,
    );
  });
});
