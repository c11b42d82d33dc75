import assert from 'node:assert/strict';
import { chownSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';

/**
 * A daemon whose file went runs on until it stops, as in the original. An outside review
 * renamed all 1,000 files of a user and rescanned: 2,000 daemons ran, and each round of
 * renames would have added 1,000 more. Those still running count against the 1,000 a user
 * may have, until they stop.
 */
describe('daemons whose files went count against the 1,000 until they stop', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog.slice(-6000)));
  after(() => cleanUp(host));

  test('a renamed file of a user at the cap loads once its old daemon stopped', async () => {
    host.writeMaster('[can_run_as]\n{mallory}\n');
    host.writeDaemon('mallory', 'first', 'start=exec sleep 6000021\n');
    const mallory = host.user('mallory');
    const dir = join(mallory.home, '.daemon-manager/daemons');
    // 999 more, stopped: the count is of daemons loaded, not of processes.
    for (let index = 0; index < 999; index++) {
      const file = join(dir, `idle${String(index).padStart(4, '0')}.conf`);
      writeFileSync(file, 'start=exec sleep 6000022\nautostart=no\n');
      chownSync(file, mallory.uid, mallory.gid);
    }
    await host.startManager();
    await host.waitForDaemon('mallory', 'mallory/first', (d) => d.state === 'running', 'to run');

    renameSync(join(dir, 'first.conf'), join(dir, 'second.conf'));
    const said = await host.dmctl('mallory', 'rescan');
    assert.equal(said.code, 1, said.stdout);
    assert.match(
      said.stdout,
      /1 \*\.conf files of \S+mallory \(past the 1000 daemons a user may have, counting 1 whose files are gone and that still run\)/,
    );
    const rows = await host.status('mallory');
    assert.equal(rows.length, 1001, 'the 1,000 daemons and the refused file');
    assert.equal(rows.find((row) => row.id === host.id('mallory/first'))?.state, 'running');
    const second = rows.find((row) => row.id === host.id('mallory/second'));
    assert.notEqual(second?.state, 'running');
    const problems = await host.dmctl('mallory', 'problems');
    assert.match(
      problems.stdout,
      /second\.conf: error: not loaded: its user has 1000 daemons already, 1 of them running on after their files went/,
    );

    const stopped = await host.dmctl('mallory', host.id('mallory/first'), 'stop');
    assert.equal(stopped.code, 0, stopped.stderr);
    const again = await host.dmctl('mallory', 'rescan');
    assert.match(again.stdout, /second/, again.stdout);
    await host.waitForDaemon('mallory', 'mallory/second', (d) => d.state === 'running', 'to run');
  });
});
