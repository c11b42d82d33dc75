import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { afterEach, describe, test } from 'node:test';
import { showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';

const root = process.getuid?.() === 0;

/**
 * An outside review (36a, F3): `dmctl stop` of a daemon whose file was refused for its
 * mode or owner when first read was answered "not running" and forgotten: once the file
 * was fixed, the daemon started, though its owner or root had stopped it. The stop is
 * kept, across a kill -9 of the manager too.
 */
describe('a daemon stopped while its file was refused when first read', {
  skip: !root && 'needs root',
}, () => {
  for (const how of ['live', 'across a kill -9'] as const) {
    const host = new TestHost();
    afterEach(showLogIfFailed(() => host.managerLog));

    test(`stays stopped once its file is accepted (${how})`, async (t) => {
      t.after(() => host.cleanup());
      host.writeMaster('[can_run_as]\n{alice}\n');
      const file = host.writeDaemon('alice', 'rf', 'start=exec sleep 6903400\n', 0o666);
      await host.startManager();
      await host.waitForDaemon('alice', 'alice/rf', (d) => d.state === 'broken', 'refused');
      const stop = await host.dmctl('root', host.id('alice/rf'), 'stop');
      assert.equal(stop.code, 0, stop.stderr);
      assert.match(stop.stdout, /stays stopped once its file is accepted/);
      if (how === 'across a kill -9') await host.killManager();
      chmodSync(file, 0o644);
      if (how === 'across a kill -9') await host.startManager();
      else assert.equal((await host.dmctl('alice', 'rescan')).code, 0);
      const row = await host.waitForDaemon(
        'alice',
        'alice/rf',
        (d) => d.state !== 'broken',
        'accepted',
      );
      assert.equal(row.state, 'stopped');
      assert.equal(row.wanted, 'down');
      const why = await host.dmctl('alice', 'rf', 'why');
      // (The history is saved a moment after the state: a kill -9 right after may lose it.)
      if (how === 'live') assert.match(why.stdout, /ran dmctl stop while its file was refused/);
      assert.match(why.stdout, /stopped while its file was refused: stays stopped/);
    });
  }
});
