import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * A master config naming a user who does not exist is warned of when it is read. An outside
 * review (40a, F3) saw two warnings at every change of /etc/passwd on the host (any user's
 * chfn, anybody's useradd): 52 pairs in a minute, root's lines, so not limited.
 */
describe('the master config naming a missing user', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('is warned of once, not again at each change of the users, and again at a SIGHUP', async () => {
    const ghost = host.expand('{ghost}');
    const master = '[can_run_as]\n{alice}\n{ghost}\n';
    host.writeMaster(master);
    const warning = new RegExp(`no such user '${ghost}'`, 'g');
    const warnings = (from: number) => host.managerLog.slice(from).match(warning)?.length ?? 0;
    const applied = /users and groups changed: rights applied again/g;
    const changes = (from: number) => host.managerLog.slice(from).match(applied)?.length ?? 0;
    const from = host.managerLog.length;
    await host.startManager();
    assert.equal(warnings(from), 1);
    const alice = host.user('alice').name;
    for (let round = 1; round <= 3; round++) {
      execFileSync('usermod', ['-c', `change ${round}`, alice]);
      await waitFor(`the manager to read change ${round} of the users`, () =>
        changes(from) >= round ? true : undefined,
      );
    }
    // The full read of the name service that follows a change is done too.
    await host.dmctl('root', 'status');
    assert.equal(warnings(from), 1, host.managerLog.slice(from));
    const reloaded = host.managerLog.length;
    await host.reload(master);
    await waitFor('the warning again at the reload', () =>
      warnings(reloaded) === 1 ? true : undefined,
    );
    await host.stopManager();
    assert.equal(warnings(reloaded), 1);
  });
});
