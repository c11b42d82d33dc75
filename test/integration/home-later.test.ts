import assert from 'node:assert/strict';
import { chmodSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { after, afterEach, before, describe, test } from 'node:test';
import { showLogIfFailed } from '../helpers/cli.ts';
import { buildHangFs, fuseMissing, type HangFs, mountHangFs } from '../helpers/hang-fs.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * `useradd -m` writes /etc/passwd before it makes the home, and the manager reads the
 * accounts as soon as /etc/passwd changes: a user allowed to run daemons could be seen
 * before their home existed, and was left "home does not exist" until a rescan, their
 * daemons down. Here the home is away when the manager starts and comes back after.
 */
describe('a home that appears after its user was seen', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();

  before(async () => {
    const alice = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6800031\n');
    renameSync(alice.home, `${alice.home}.away`);
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test("is found without a rescan, and the user's daemons start", async () => {
    const alice = host.user('alice');
    await waitFor('the missing home to be said', () =>
      host.managerLog.includes(`the home directory ${alice.home} does not exist`)
        ? true
        : undefined,
    );
    renameSync(`${alice.home}.away`, alice.home);
    const web = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    assert.ok(web.pid > 0);
  });
});

/**
 * An outside review (19b, 6): a home whose file system did not answer in time when its
 * user was first read (a slow mount) was never read again once it answered: the user's
 * daemons stayed down, "cannot list directory (TIMEOUT)" said, until a rescan.
 */
describe('a home whose file system does not answer when the manager starts', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let mount: HangFs | undefined;
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    await mount?.stop();
    await host.cleanup();
  });

  test("is read again once it answers, and the user's daemons start", async (t) => {
    const missing = fuseMissing();
    if (missing) return t.skip(missing);
    const alice = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6800036\n');
    // Over the home: nothing below it answers until the file system's server is gone.
    mount = await mountHangFs(buildHangFs(host.dir), alice.home, alice, 'root', 'all');
    await host.startManager();
    assert.match(host.managerLog, /cannot create directory \(TIMEOUT\)/);
    await mount.stop();
    mount = undefined;
    const web = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    assert.ok(web.pid > 0);
  });
});

/**
 * An outside review (19b, 7): a home removed and made again with the same files (a rescan
 * meanwhile forgets its daemons once they stop) restarted the running daemon as "config
 * changed". The same file is no change. (A home that is not there now keeps its daemons as
 * they are, its files unread: here the file alone goes, and comes back.)
 */
describe('a daemon file gone for a while and back the same', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('keeps the running daemon as it runs', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6800037\n');
    await host.startManager();
    const { pid } = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    const from = host.managerLog.length;
    const file = host.daemonFile('alice', 'web');
    const text = readFileSync(file, 'utf8');
    rmSync(file);
    assert.match((await host.dmctl('root', 'rescan')).stdout, /removed: .*web/);
    host.writeDaemon('alice', 'web', text);
    assert.match((await host.dmctl('root', 'rescan')).stdout, /added: .*web/);
    const web = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    assert.equal(web.pid, pid);
    assert.doesNotMatch(host.managerLog.slice(from), /config changed/);
    assert.match((await host.dmctl('alice', 'why', 'web')).stdout, /back, unchanged/);
  });
});

/**
 * Outside reviews (22a, F5; 22c, 5): a user whose home could not be read when the manager
 * first read them (mode 000, or root's, while the account is set up; or a user allowed
 * again by a SIGHUP while their daemon directory was unreadable) was never read again
 * once it could be: their daemons stayed down until a rescan.
 */
describe('a home that cannot be read when its user is first read', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test("is read again once it can be, and the user's daemons start", async () => {
    const alice = host.user('alice');
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6800041\n');
    chmodSync(alice.home, 0);
    try {
      await host.startManager();
      await waitFor('the unreadable home to be said', () =>
        /alice: .*(EACCES|permission denied)/.test(host.managerLog) ? true : undefined,
      );
    } finally {
      chmodSync(alice.home, 0o755);
    }
    const web = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    assert.ok(web.pid > 0);
  });
});

/**
 * An outside review (26b, F2): a home that could not be read at a takeover, with no copy
 * of its configs kept (none saved yet, or damaged): once it could be read, the daemons
 * were loaded as new ones. One its owner had stopped was started, a one-shot task that
 * had ended ran again, and their `why` was gone.
 */
describe('a home that cannot be read at a takeover, with no copy of its configs', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('its daemons come back as they were, once it can be read', async () => {
    const alice = host.user('alice');
    const ran = `${alice.home}/ran`;
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'run', 'start=exec sleep 6800042\n');
    host.writeDaemon('alice', 'stp', 'start=exec sleep 6800043\n');
    host.writeDaemon('alice', 'one', `start=echo once >> ${ran}\nrestart=no\n`);
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/run', (d) => d.pid > 0, 'to run');
    await host.waitForDaemon('alice', 'alice/one', (d) => d.state === 'exited', 'to end');
    assert.equal((await host.dmctl('alice', 'stp', 'stop', '--wait=10')).code, 0);
    // Its history saved (within a second of a change; a crash loses at most that second).
    await waitFor('the stop in the saved history', () =>
      readFileSync(`${host.dir}/state/history.json`, 'utf8').includes('ran dmctl stop')
        ? true
        : undefined,
    );
    await host.killManager();
    rmSync(`${host.dir}/state/configs`, { recursive: true, force: true });
    chmodSync(alice.home, 0);
    try {
      await host.startManager();
      await waitFor('the unreadable home to be said', () =>
        /alice: .*(EACCES|permission denied)/.test(host.managerLog) ? true : undefined,
      );
    } finally {
      chmodSync(alice.home, 0o755);
    }
    await host.dmctl('alice', 'rescan');
    await host.waitForDaemon('alice', 'alice/run', (d) => d.pid > 0, 'to run again');
    const rows = await host.status('alice');
    assert.equal(rows.find((d) => d.name === 'stp')?.state, 'stopped', 'stopped by its owner');
    assert.equal(rows.find((d) => d.name === 'one')?.state, 'exited', 'ended, not run again');
    assert.equal(readFileSync(ran, 'utf8'), 'once\n');
    const why = (await host.dmctl('alice', 'stp', 'why')).stdout;
    assert.match(why, /ran dmctl stop/);
  });
});
