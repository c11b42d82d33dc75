import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { cleanUp, spawnDmctl } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * An outside review (67b, F3, Low, 5 of 10 tails): a tail through the manager ended by a
 * clean stop of the manager missed the last 13-66 lines the daemon wrote as it stopped:
 * they reached the log after the manager had closed its sockets.
 */
describe('a tail through the manager as the manager stops cleanly', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => cleanUp(host));

  test('shows what the daemon wrote last, as it stopped', async () => {
    host.user('alice');
    host.user('desk');
    host.writeMaster('[can_run_as]\n{alice}\n[manages]\n{desk}: {alice}\n');
    host.writeDaemon(
      'alice',
      'parting',
      `start=exec sh -c 'trap "i=0; while [ \\$i -lt 60 ]; do i=\\$((i+1)); echo parting-\\$i; done; exit 0" TERM; echo begun; while :; do sleep 0.1; done'\noutput=log\n`,
    );
    await host.startManager();
    await host.waitForDaemon('root', 'alice/parting', (d) => d.state === 'running', 'to run');
    const tail = spawnDmctl(host, 'desk', host.id('alice/parting'), 'tail');
    try {
      await waitFor('the tail to show its first line', () =>
        tail.output().includes('begun') ? true : undefined,
      );
      const ended = once(tail.child, 'exit');
      await host.stopManager();
      await ended;
      const shown = tail.output().match(/parting-\d+/g) ?? [];
      assert.equal(shown.length, 60, tail.output());
      assert.match(tail.output(), /the tail ends: daemon-manager stopped/);
    } finally {
      await tail.stop();
    }
  });
});
