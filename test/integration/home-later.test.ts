import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { after, afterEach, before, describe, test } from 'node:test';
import { showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * `useradd -m` writes /etc/passwd before it makes the home, and the manager reads the
 * accounts as soon as /etc/passwd changes: a user allowed to run daemons could be seen
 * before their home existed, and was left "home does not exist" until a rescan, their
 * daemons down. Here the home is away when the manager starts and comes back after.
 */
describe('a home that appears after its user was seen', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();

  before(async () => {
    const alice = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6800031\n');
    renameSync(alice.home, `${alice.home}.away`);
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test("is found without a rescan, and the user's daemons start", async () => {
    const alice = host.user('alice');
    await waitFor('the missing home to be said', () =>
      host.managerLog.includes(`the home directory ${alice.home} does not exist`)
        ? true
        : undefined,
    );
    renameSync(`${alice.home}.away`, alice.home);
    const web = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    assert.ok(web.pid > 0);
  });
});
