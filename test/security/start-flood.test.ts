import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { STARTS_AT_ONCE } from '../../src/daemon/start-budget.ts';
import { TestHost } from '../helpers/host.ts';
import { attack, socketOf } from './support.ts';

const skip = process.getuid?.() !== 0 && 'needs root';

/**
 * An outside review (36b, F2): one user asking `start` of their crashing daemons from 16
 * connections made about 90 starts a second (each skipping the daemon's back-off), paid
 * by the manager's CPU: another user's `status` 4 times slower, their respawns up to 25
 * times. A user may ask for STARTS_AT_ONCE starts and restarts, then a few a minute.
 */
describe('a flood of starts by one user', { skip }, () => {
  const host = new TestHost();

  before(async () => {
    host.writeMaster('[can_run_as]\n{mallory}\n{alice}\n');
    host.writeDaemon('mallory', 'quick', 'start=exec sleep 6903100\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6903200\n');
    await host.startManager();
    await host.waitForDaemon('root', 'mallory/quick', (d) => d.pid > 0, 'to run');
  });
  after(() => host.cleanup());

  test('is refused past the budget, with when to try again; others and root are not', async () => {
    const request = `${JSON.stringify({ command: 'start', id: host.id('mallory/quick') })}\n`;
    // Far more than come back while they are sent (a few a second), one after the other.
    const asked = STARTS_AT_ONCE + 300;
    const flood = await attack(
      host,
      'mallory',
      'spam',
      socketOf(host, 'mallory'),
      String(asked),
      Buffer.from(request).toString('base64'),
    );
    const { answered, refused, refusal } = JSON.parse(flood.stdout);
    assert.equal(answered, asked);
    assert.ok(refused > 0 && refused <= 300, `${refused} refused`);
    assert.match(
      refusal,
      /start of \S+\/quick refused: you asked for more than 1,000 starts and restarts lately .*try again in \d+ s/,
    );
    assert.equal((await host.dmctl('alice', 'web', 'restart')).code, 0, 'another user');
    const byRoot = await host.dmctl('root', host.id('mallory/quick'), 'restart');
    assert.equal(byRoot.code, 0, byRoot.stderr);
  });
});
