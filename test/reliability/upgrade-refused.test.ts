import assert from 'node:assert/strict';
import { appendFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { copyInstall, type InstallCopy } from '../helpers/install.ts';
import { waitFor } from '../helpers/wait.ts';

describe('an upgrade to code that does not load', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let install: InstallCopy;

  before(async () => {
    install = copyInstall(join(host.dir, 'install'));
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 100000\n');
    await host.startManager([], install.daemonManager);
  });
  after(() => host.cleanup());

  test('is refused: the manager goes on with its running code and its daemons', async () => {
    const before_ = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.state === 'running',
      'running',
    );
    appendFileSync(install.bundle, '\nthis is not JavaScript (\n');
    const logFrom = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGUSR2');
    await waitFor('the manager to refuse the upgrade', () =>
      /upgrade refused: the new code ended before it was ready/.test(host.managerLog.slice(logFrom))
        ? true
        : undefined,
    );
    const after_ = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.state === 'running',
      'still running',
    );
    assert.equal(after_.pid, before_.pid, 'the daemon was not touched');
    assert.doesNotMatch(
      host.managerLog.slice(logFrom),
      / running, pid /,
      'no new instance started',
    );
    const status = await host.dmctl('alice', 'status');
    assert.equal(status.code, 0, status.stderr);
  });
});

/**
 * An outside review deleted the state directory and sent SIGUSR2: the upgrade was
 * refused, saying the new code ended with "no exit status yet". The next (48a, F2): the
 * refusal named no cause ("the new code ended before it was ready"), and the new code made
 * the state directory again, empty, before it ended: the saves that failed since went on
 * unsaid. The running manager refuses it now, naming the cause, and starts nothing.
 */
describe('an upgrade whose state directory was deleted', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('is refused, saying why and how the new code ended', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 100001\n');
    await host.startManager();
    const before_ = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.state === 'running',
      'running',
    );
    rmSync(join(host.dir, 'state'), { recursive: true, force: true });
    const logFrom = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGUSR2');
    const refusal = await waitFor(
      'the refusal',
      () => /upgrade refused: .*/.exec(host.managerLog.slice(logFrom))?.[0],
    );
    assert.match(
      refusal,
      /upgrade refused: the state directory \S+state was deleted or replaced since the manager started/,
    );
    assert.ok(!existsSync(join(host.dir, 'state')), 'the state directory made again, empty');
    const after_ = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.state === 'running',
      'still running',
    );
    assert.equal(after_.pid, before_.pid);
  });
});
