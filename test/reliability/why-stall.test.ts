import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { DaemonWhy } from '../../src/protocol/messages.ts';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * An outside review (3 of 3): a daemon killed while the manager was stalled (SIGSTOP) had
 * its exit stamped in `dmctl why` with the time the manager read the keeper's report (the
 * stall's end), while its "after N s" counted to the real exit: the two disagreed by the
 * stall. The keeper reports when it reaped the run.
 */
/** Whether a process is there, a zombie not yet reaped too. */
function present(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('dmctl why after a stall of the manager', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('stamps an exit that came during the stall with the time it came', async () => {
    host.writeMaster('[can_run_as]\n{kay}\n');
    host.writeDaemon('kay', 'svc', 'start=exec sleep 6300500\n');
    await host.startManager();
    const { pid } = await host.waitForDaemon('kay', 'kay/svc', (d) => d.pid > 0, 'to run');
    const manager = host.managerPid();
    process.kill(manager, 'SIGSTOP');
    let killedAt = 0;
    let reapedAt = 0;
    let continuedAt = 0;
    try {
      killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      // Reaped by the keeper, which stamps the exit then.
      await waitFor(`pid ${pid} to be reaped`, () => (present(pid) ? undefined : true));
      reapedAt = Date.now();
      // The stall goes on past the exit: a stamp taken when the manager reads it is later.
      await delay(2_000);
    } finally {
      continuedAt = Date.now();
      process.kill(manager, 'SIGCONT');
    }
    const exit = await waitFor(
      'the exit in why',
      async () => {
        const result = await host.dmctl('kay', '--json', 'svc', 'why');
        if (result.code !== 0) return undefined;
        const why = JSON.parse(result.stdout) as DaemonWhy;
        return why.events.find((event) => event.kind === 'exit' && event.text.includes(`${pid}`));
      },
      { timeoutMs: 30_000 },
    );
    assert.ok(
      exit.at >= killedAt && exit.at <= reapedAt,
      `exit stamped ${exit.at}: killed at ${killedAt}, reaped by ${reapedAt}, SIGCONT at ${continuedAt}`,
    );
    const text = await host.dmctl('kay', 'svc', 'why');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`pid ${pid} killed by SIGKILL after`));
  });
});
