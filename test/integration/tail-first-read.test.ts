import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cleanUp, spawnDmctl } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * An outside review (66b, F2, Low): NAME.log beginning with the rest of a line a rotation
 * cut, the file before it gone (deleted, or compressed by a logrotate without
 * `delaycompress`): a new tail through the manager showed that rest as its first line.
 */
describe('a tail through the manager of a log whose top is the rest of a line, the file before gone', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => cleanUp(host));

  test('leaves that rest out', async () => {
    host.user('alice');
    host.user('desk');
    host.writeMaster('[can_run_as]\n{alice}\n[manages]\n{desk}: {alice}\n');
    // One line of 3,000 bytes in files of 1 KiB: cut twice, its end at the top of NAME.log.
    host.writeDaemon(
      'alice',
      'long',
      `start=exec sh -c 'head -c 3000 /dev/zero | tr "\\\\0" x; echo END-OF-LONG; echo next-line; exec sleep 100000'\noutput=log\nlog_max_size=1K\nlog_keep=1\n`,
    );
    await host.startManager();
    await host.waitForDaemon('root', 'alice/long', (d) => d.state === 'running', 'to run');
    const log = join(host.user('alice').home, '.daemon-manager/logs/long.log');
    await waitFor('its lines written, the long one cut', () =>
      existsSync(`${log}.1`) ? true : undefined,
    );
    rmSync(`${log}.1`);
    const tail = spawnDmctl(host, 'desk', host.id('alice/long'), 'tail');
    try {
      await waitFor('the tail to show its lines', () =>
        tail.output().includes('next-line') ? true : undefined,
      );
      assert.doesNotMatch(tail.output(), /END-OF-LONG/, tail.output());
    } finally {
      await tail.stop();
    }
  });
});
