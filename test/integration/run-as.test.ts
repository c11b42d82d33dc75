import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

/** Reads a report.sh file once it is complete. */
function readReport(path: string): Promise<string> {
  return waitFor(`the fixture to write ${path}`, () =>
    existsSync(path) ? readFileSync(path, 'utf8') : undefined,
  );
}

describe('a daemon runs as its run-as user', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let webGroup = '';

  before(async () => {
    host.user('alice');
    host.user('web');
    host.user('bob');
    webGroup = host.group('webshare', ['web']);
    host.writeMaster('[can_run_as]\n{alice}: {web}\n{bob}\n');
    await host.startManager();
  });
  after(() => host.cleanup());

  test('with its uid, primary gid, supplementary groups, dir and a clean environment', async () => {
    const alice = host.user('alice');
    const report = join(host.user('web').home, 'report.txt');
    host.mkdirAs(host.user('web'), host.user('web').home);
    host.writeDaemon(
      'alice',
      'web',
      `start=${FIXTURES}/report.sh ${report}\nuser=${host.user('web').name}\ndir=/tmp\nexport GREETING=hello "world"\n`,
    );
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    const text = await readReport(report);
    const web = host.user('web');
    assert.match(
      text,
      new RegExp(
        `^id: uid=${web.uid}\\(${web.name}\\) gid=${web.gid}\\(${web.name}\\) groups=.*${webGroup}`,
        'm',
      ),
    );
    assert.match(text, /^pwd: \/tmp$/m);
    const [daemon] = (await host.status('alice')).filter((d) => d.id === host.id('alice/web'));
    assert.deepEqual(
      readdirSync(`/proc/${daemon?.pid}/fd`).sort(),
      ['0', '1', '2'],
      'no descriptor of the manager leaks',
    );
    assert.match(text, new RegExp(`^HOME=${web.home}$`, 'm'));
    assert.match(text, new RegExp(`^LOGNAME=${web.name}$`, 'm'));
    assert.match(text, /^GREETING=hello "world"$/m, 'no quote processing');
    assert.doesNotMatch(
      text,
      /root-secret-value|DM_TEST_SECRET/,
      "nothing of the manager's environment",
    );
    assert.notEqual(alice.uid, web.uid);
  });

  test('a run-as user not granted by [can_run_as] is refused with a clear message', async () => {
    host.writeDaemon('bob', 'sneaky', `start=sleep 1000\nuser=${host.user('alice').name}\n`);
    const rescan = await host.dmctl('bob', 'rescan');
    assert.equal(rescan.code, 1, 'a rescan that refused a file exits 1');
    const sneaky = host.id('bob/sneaky');
    assert.ok(rescan.stdout.includes(`refused: ${sneaky}\n`), rescan.stdout);
    assert.ok(
      !rescan.stdout.includes(`added: ${sneaky}`),
      `listed once, as refused:\n${rescan.stdout}`,
    );
    const started = await host.dmctl('bob', 'sneaky', 'start');
    assert.notEqual(started.code, 0);
    assert.match(
      started.stderr,
      new RegExp(`user '${host.user('alice').name}' is not allowed for '${host.user('bob').name}'`),
    );
    const [daemon] = (await host.status('bob')).filter((d) => d.id === host.id('bob/sneaky'));
    assert.equal(daemon?.state, 'broken', 'not started, and listed with why');
    assert.match(daemon?.problem ?? '', /sneaky\.conf:2: error: user '.*' is not allowed/);
  });

  // An outside review (32a, F2): a file refused when new was tried at the rescan and left
  // down, wanted down, and did not start once accepted; a `dmctl start` refused for the
  // file did the same to a daemon that waited for it.
  test('a file refused when new starts once accepted, a start refused meanwhile or not', async () => {
    const later = host.id('bob/later');
    host.writeDaemon('bob', 'later', `start=exec sleep 6800081\nuser=${host.user('alice').name}\n`);
    const rescan = await host.dmctl('bob', 'rescan');
    assert.ok(rescan.stdout.includes(`refused: ${later}\n`), rescan.stdout);
    const started = await host.dmctl('bob', 'later', 'start');
    assert.notEqual(started.code, 0);
    assert.match(started.stderr, /is not allowed .*; it starts once its file is accepted/);
    host.writeDaemon('bob', 'later', 'start=exec sleep 6800081\n');
    await host.dmctl('bob', 'rescan');
    await host.waitForDaemon(
      'bob',
      'bob/later',
      (d) => d.state === 'running',
      'to start, accepted',
    );
  });
});
