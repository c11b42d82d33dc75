import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * A review found a daemon's output lost for good after its log was deleted, its config
 * changed and a rescan: the pump still had its pipe attached (to /dev/null) when the new
 * log was attached. Every change of how a daemon is logged moves its pipe over.
 */
describe('a change of how a daemon is logged moves its output over', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const logOf = (name: string): string =>
    join(host.user('alice').home, `.daemon-manager/logs/${name}.log`);
  const says = (name: string, text: string): Promise<true> =>
    waitFor(`${name}'s log to say ${text}`, () =>
      existsSync(logOf(name)) && readFileSync(logOf(name), 'utf8').includes(text)
        ? true
        : undefined,
    );
  const writer = (mark: string, extra = ''): string =>
    `start=echo ${mark}; exec sleep 6900101\noutput=log\n${extra}`;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', writer('first-run'));
    host.writeDaemon('alice', 'quiet', 'start=echo unheard; exec sleep 6900102\n');
    await host.startManager();
    await says('web', 'first-run');
  });
  after(() => host.cleanup());

  test('log deleted, config changed, rescan: the next run is logged', async () => {
    assert.equal((await host.dmctl('alice', 'web', 'stop')).code, 0);
    rmSync(logOf('web'));
    host.writeDaemon('alice', 'web', writer('second-run', 'log_timestamps=yes\n'));
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    assert.doesNotMatch(host.managerLog, /attached already/);
    assert.equal((await host.dmctl('alice', 'web', 'start')).code, 0);
    await says('web', 'second-run');
  });

  test('output=discard changed to output=log: the next run is logged', async () => {
    host.writeDaemon('alice', 'quiet', writer('now-heard'));
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    await says('quiet', 'now-heard');
    assert.doesNotMatch(host.managerLog, /attached already/);
  });
});
