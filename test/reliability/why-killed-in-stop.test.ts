import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { killManager, saved } from '../helpers/accounts.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * An outside review (71a, F2): the manager killed with -9 during its own shutdown, its
 * keeper alive, the run being stopped ending while no manager ran: the next manager took
 * the stop as over and said nothing of that end in `why` (4 of 4).
 */
describe('a manager killed during its shutdown, the run it stops ending meanwhile', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('why says the run ended', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'slow',
      "start=trap 'sleep 1.5; exit 0' TERM; while :; do sleep 0.1 & wait $!; done\nstop_timeout=30s\n",
    );
    const manager = await host.startManager();
    const { pid } = await host.waitForDaemon(
      'root',
      'alice/slow',
      (d) => d.state === 'running' && d.pid > 0,
      'to run',
    );
    const history = join(host.dir, 'state', 'history.json');
    const inHistory = (text: string): true | undefined =>
      existsSync(history) && readFileSync(history, 'utf8').includes(text) ? true : undefined;
    manager.kill('SIGTERM');
    // Its stop saved, and said in the history saved (which may be a second behind).
    await waitFor('its stop saved', () =>
      saved(host, 'alice/slow')?.state === 'stopping'
        ? inHistory(`stopping pid ${pid}`)
        : undefined,
    );
    await killManager(manager);
    await waitFor('its run to end', () => (isAlive(pid) ? undefined : true));
    await host.startManager();
    await host.waitForDaemon(
      'root',
      'alice/slow',
      (d) => d.state === 'running' && d.pid > 0 && d.pid !== pid,
      'to run again',
    );
    const why = (await host.dmctl('alice', 'slow', 'why')).stdout;
    assert.match(
      why,
      new RegExp(`pid ${pid} exited with status 0 after \\d+s, while stopping`),
      why,
    );
  });
});
