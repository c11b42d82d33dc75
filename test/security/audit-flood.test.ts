import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { USER_LINES_AT_ONCE } from '../../src/logging/user-lines.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';
import { attack, socketOf } from './support.ts';

const skip = process.getuid?.() !== 0 && 'needs root';

/**
 * An outside review (36b, F4): one user's refused requests on their own socket, 2,000 a
 * second, each an audit line, pushed every earlier line (another user's refused attack
 * included) out of all the manager's rotated log files in 90 s. A user's lines are
 * limited; past that they are counted, and the count is said.
 */
describe("a flood of one user's refused requests", { skip }, () => {
  const host = new TestHost();

  before(async () => {
    host.writeMaster('[can_run_as]\n{mallory}\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6903300\n');
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.pid > 0, 'to run');
  });
  after(() => host.cleanup());

  test('logs a bounded number of their lines, then a count; others are logged', async () => {
    const from = host.managerLog.length;
    const request = `${JSON.stringify({ command: 'stop', id: host.id('mallory/nothing') })}\n`;
    const asked = USER_LINES_AT_ONCE + 500;
    const flood = await attack(
      host,
      'mallory',
      'spam',
      socketOf(host, 'mallory'),
      String(asked),
      Buffer.from(request).toString('base64'),
    );
    assert.equal(JSON.parse(flood.stdout).refused, asked);
    // A little later, one more line of theirs is let through, after the count.
    const told = await waitFor('the count of lines not logged', async () => {
      await host.dmctl('mallory', 'nothing', 'stop');
      return /audit: \S+mallory: (\d+) more lines of their requests not logged one by one/.exec(
        host.managerLog.slice(from),
      )?.[1];
    });
    const logged = host.managerLog
      .slice(from)
      .split('\n')
      .filter((line) => /audit: \S+mallory: stop "\S+\/nothing"/.test(line)).length;
    assert.ok(logged < asked, `${logged} of ${asked} logged one by one`);
    assert.ok(Number(told) + logged >= asked, `${told} counted, ${logged} logged`);
    // Another user's line is logged all the same.
    await host.dmctl('alice', 'web', 'restart');
    assert.match(host.managerLog.slice(from), /audit: \S+alice: restart "\S+\/web": ok/);
  });

  // An outside review (37a, F3): config problems that change at each rescan (keys renamed
  // in a loop) were logged anew each time, unlimited.
  test('logs a bounded number of their config problems, then a count', async () => {
    const from = host.managerLog.length;
    const keys = (round: number): string =>
      Array.from({ length: 100 }, (_, key) => `k${round}x${key}=1\n`).join('');
    let round = 0;
    const told = await waitFor(
      'the count of their lines not logged',
      async () => {
        round++;
        host.writeDaemon('mallory', 'noisy', `start=exec sleep 6903600\n${keys(round)}`);
        await host.dmctl('mallory', 'rescan');
        return /audit: \S+mallory: \d+ more lines of their requests not logged one by one/.test(
          host.managerLog.slice(from),
        )
          ? round
          : undefined;
      },
      { timeoutMs: 120_000 },
    );
    const logged = host.managerLog
      .slice(from)
      .split('\n')
      .filter((line) => /mallory: \S+noisy\.conf:\d+: /.test(line)).length;
    assert.ok(logged < told * 100, `${logged} of ${told * 100} problems logged one by one`);
  });
});
