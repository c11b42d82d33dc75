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
    // The account made before the manager starts: made after, it is seen once /etc/passwd
    // settles, and a request asked at once found no socket of theirs yet.
    host.user('mallory');
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
    // Each line is logged or counted. A count is said before their next line let through
    // (the first may come while the flood still runs), or a minute after the first line
    // not logged: asked once a second (slower than the budget refills, so that these are
    // logged; their lines name the daemon as asked, `nothing`), every line of the flood is
    // logged or counted within a minute or so.
    let polls = 0;
    const tally = (): { logged: number; counted: number } => {
      const lines = host.managerLog.slice(from).split('\n');
      return {
        logged: lines.filter((line) => /audit: \S+mallory: stop "\S+\/nothing"/.test(line)).length,
        counted: lines
          .map(
            (line) =>
              /audit: \S+mallory: (\d+) more lines of their requests not logged one by one/.exec(
                line,
              )?.[1],
          )
          .reduce((sum, count) => sum + Number(count ?? 0), 0),
      };
    };
    const { logged, counted } = await waitFor(
      'every line of theirs to be logged or counted',
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        await host.dmctl('mallory', 'nothing', 'stop');
        polls++;
        const now = tally();
        return now.counted > 0 && now.logged + now.counted === asked ? now : undefined;
      },
      { timeoutMs: 150_000, describe: () => JSON.stringify({ ...tally(), polls }) },
    );
    assert.ok(logged < asked, `${logged} of ${asked} logged one by one`);
    assert.ok(counted > 0, `${counted} counted`);
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
