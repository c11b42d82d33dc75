import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, afterEach, describe, test } from 'node:test';
import { showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { livePidsOfUid } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * An outside review (19b, 8): a user renamed (`usermod -l`, the same uid, both names
 * allowed) had the daemon they had stopped started again under the new name, and the log
 * said they "may no longer run daemons". The same person stopped it: it stays stopped.
 */
describe('an account renamed while the manager runs', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  let renamed = false;
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await host.stopManager().catch(() => undefined);
    // Its old name back, so that the sandbox's cleanup finds the account.
    if (renamed) {
      await waitFor('no process of the account', () =>
        livePidsOfUid(host.user('alice').uid).length === 0 ? true : undefined,
      ).catch(() => undefined);
      execFileSync('usermod', ['-l', host.user('alice').name, host.expand('{bob}')]);
    }
    await host.cleanup();
  });

  test('keeps the daemon its owner stopped stopped, and says it was renamed', async () => {
    const alice = host.user('alice');
    const bob = host.expand('{bob}');
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n');
    host.writeDaemon('alice', 'down', 'start=exec sleep 6800062\n');
    // Runs 0.2 s, then cools down (1 s, 2 s, 4 s ...): usermod refuses an account with
    // processes, and finds none between its runs.
    host.writeDaemon('alice', 'flap', 'start=exec sleep 0.2\n');
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/down', (d) => d.pid > 0, 'to run');
    assert.equal((await host.dmctl('alice', 'stop', 'down', '--wait=10')).code, 0);
    const from = host.managerLog.length;
    await waitFor(
      'the account renamed (between two runs of flap)',
      () => {
        try {
          execFileSync('usermod', ['-l', bob, alice.name], { stdio: 'ignore' });
          renamed = true;
          return true;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 30_000 },
    );
    await waitFor('the rename said', () =>
      host.managerLog.slice(from).includes(`${alice.name} is now called ${bob}`) ? true : undefined,
    );
    const runs = await waitFor('flap to run under the new name', async () => {
      const rows = await host.status('root');
      return rows.some((d) => d.id === `${bob}/flap`) ? rows : undefined;
    });
    assert.equal(runs.find((d) => d.id === `${bob}/down`)?.state, 'stopped');
    assert.doesNotMatch(host.managerLog.slice(from), /may no longer run daemons/);
    assert.match(
      host.managerLog.slice(from),
      new RegExp(`${bob}/down: left stopped under its owner's old name`),
    );
  });
});

/**
 * An outside review (22c, 2): a rename while no manager ran was taken for an account gone:
 * the daemon its owner had stopped was started under the new name. Its daemons run as
 * another user here (usermod renames no account that has processes).
 */
describe('an account renamed while no manager runs', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  let renamed = false;
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await host.stopManager().catch(() => undefined);
    if (renamed) execFileSync('usermod', ['-l', host.user('alice').name, host.expand('{bob}')]);
    await host.cleanup();
  });

  test('keeps the daemon its owner stopped stopped, and says it was renamed', async () => {
    const alice = host.user('alice');
    host.user('carol');
    const bob = host.expand('{bob}');
    host.writeMaster('[can_run_as]\n{alice}: {carol}\n{bob}: {carol}\n');
    host.writeDaemon('alice', 'down', `start=exec sleep 6800063\nuser=${host.expand('{carol}')}\n`);
    host.writeDaemon('alice', 'up', `start=exec sleep 6800064\nuser=${host.expand('{carol}')}\n`);
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/up', (d) => d.pid > 0, 'to run');
    assert.equal((await host.dmctl('alice', 'stop', 'down', '--wait=10')).code, 0);
    await host.killManager();
    execFileSync('usermod', ['-l', bob, alice.name]);
    renamed = true;
    const from = host.managerLog.length;
    await host.startManager();
    const runs = await waitFor('up to run under the new name', async () => {
      const rows = await host.status('root');
      return rows.some((d) => d.id === `${bob}/up` && d.state === 'running') ? rows : undefined;
    });
    assert.equal(runs.find((d) => d.id === `${bob}/down`)?.state, 'stopped');
    assert.match(
      host.managerLog.slice(from),
      new RegExp(`${alice.name}/down: its owner is called ${bob} now`),
    );
    assert.match(
      host.managerLog.slice(from),
      new RegExp(`${bob}/down: left stopped under its owner's old name`),
    );
  });
});
