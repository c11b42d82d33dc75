import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { isAlive, processState } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

/*
 * An outside review stopped the keeper (SIGSTOP) and sent SIGUSR2: the old manager let go,
 * the new code waited 10 s for the keeper's hello and died with a stack trace labelled "a
 * bug: please report it"; the old manager went on, saying the new code died. A keeper
 * that does not answer is no bug: the upgrade is refused, saying which keeper and why.
 */
describe('an upgrade while the keeper is stopped', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6870023\n');
    await host.startManager();
  });
  after(() => host.cleanup());

  test('is refused, naming the keeper that does not answer; the manager goes on', async () => {
    const web = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    const manager = host.managerPid();
    const keeper = host.keeperPid();
    const from = host.managerLog.length;
    process.kill(keeper, 'SIGSTOP');
    let outcome: string;
    try {
      await waitFor('the keeper to stop', () => (processState(keeper) === 'T' ? true : undefined));
      process.kill(manager, 'SIGUSR2');
      outcome = await waitFor(
        'the old manager to say how the upgrade ended',
        () =>
          /upgrade refused: .*|.*died while taking over.*|upgrade done/.exec(
            host.managerLog.slice(from),
          )?.[0],
        { timeoutMs: 90_000, describe: () => host.managerLog.slice(from) },
      );
    } finally {
      process.kill(keeper, 'SIGCONT');
    }
    assert.match(
      outcome,
      new RegExp(`^upgrade refused: dm-keeper \\(pid ${keeper}\\) has not answered`),
    );
    assert.match(outcome, new RegExp(`kill -CONT ${keeper}`));
    assert.doesNotMatch(host.managerLog.slice(from), /a bug|\n\s+at /);
    assert.equal(host.managerPid(), manager);
    assert.ok(isAlive(manager));
    // The manager still drives its daemons through the keeper, which answers again.
    assert.equal((await host.dmctl('alice', 'web', 'restart', '--wait')).code, 0);
    const again = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    assert.notEqual(again.pid, web.pid);
  });
});
