import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { ensureTool } from '../helpers/debian.ts';
import { TestHost } from '../helpers/host.ts';
import { processesWith, shellAs } from './support.ts';

/**
 * A group-writable config is accepted only when the group is its owner's alone. alice's
 * group has no listed member, but mallory was created with it as her primary group
 * (useradd -g): she can rewrite alice's group-writable file, so it must be refused.
 */
describe('a group-mate cannot run code as alice through her group-writable config', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const ran = (): string => join(host.dir, 'ran-as-alice');

  before(async () => {
    host.user('alice');
    host.user('mallory', { primaryGroupOf: 'alice' });
    host.user('carol');
    host.writeMaster('[can_run_as]\n{alice}\n{mallory}\n{carol}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 4000001\nautostart=no\n', 0o664);
    host.writeDaemon('carol', 'web', 'start=exec sleep 4000002\n', 0o664);
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test("a config writable by a group that is another account's primary group is refused", async () => {
    const file = host.daemonFile('alice', 'web');
    // mallory can write it: the kernel lets her, through her primary group.
    const rewrite = await shellAs(
      host,
      'mallory',
      `printf 'start=id -u > ${ran()}; exec sleep 4000003\\n' > ${file}`,
    );
    assert.equal(rewrite.code, 0, rewrite.stderr);
    const rescan = await host.dmctl('alice', 'rescan');
    assert.match(rescan.stderr, new RegExp(`${file}: error: refused: is group-writable`));
    const start = await host.dmctl('alice', 'web', 'start');
    assert.equal(start.code, 1);
    assert.match(start.stderr, /refused: is group-writable/);
    assert.equal(existsSync(ran()), false, "mallory's line never ran as alice");
    assert.deepEqual(processesWith('sleep 4000003'), []);
  });

  test("a config writable only by its owner's private group still loads", async () => {
    await host.waitForDaemon('carol', 'carol/web', (d) => d.state === 'running', 'to run');
  });

  // The review's case: with an ACL, the group bits are the ACL's mask, so carol's file
  // looked writable by her private group only, while mallory could write it.
  test('a config whose ACL lets another user write it is refused, and its daemon kept as it was', async () => {
    ensureTool('setfacl');
    const file = host.daemonFile('carol', 'web');
    const granted = await shellAs(
      host,
      'carol',
      `setfacl -m u:${host.user('mallory').name}:rw ${file}`,
    );
    assert.equal(granted.code, 0, granted.stderr);
    const rewrite = await shellAs(
      host,
      'mallory',
      `printf 'start=id -u > ${ran()}; exec sleep 4000004\\n' > ${file}`,
    );
    assert.equal(rewrite.code, 0, rewrite.stderr);
    const rescan = await host.dmctl('carol', 'rescan');
    assert.match(
      rescan.stderr,
      new RegExp(
        `${file}: error: refused: has a POSIX ACL that lets another user or group write it`,
      ),
    );
    const restart = await host.dmctl('carol', 'web', 'restart');
    assert.equal(restart.code, 1);
    assert.equal(existsSync(ran()), false, "mallory's line never ran as carol");
    assert.deepEqual(processesWith('sleep 4000004'), []);
  });

  test('the manager still reads alice’s file once it is hers alone again', async () => {
    const file = host.daemonFile('alice', 'web');
    writeFileSync(file, 'start=exec sleep 4000001\nautostart=no\n');
    const fixed = await shellAs(host, 'alice', `chmod 644 ${file}`);
    assert.equal(fixed.code, 0, fixed.stderr);
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    const row = (await host.status('alice')).find((d) => d.id === host.id('alice/web'));
    assert.equal(row?.state, 'stopped');
  });
});
