import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, readWhen, showLogIfFailed } from '../helpers/cli.ts';
import {
  buildHangFs,
  fuseMissing,
  type HangFs,
  type HangFsMode,
  mountHangFs,
  usersOwnMount,
} from '../helpers/hang-fs.ts';
import { TestHost, type TestUser } from '../helpers/host.ts';
import { mkdirOwned } from '../helpers/user-files.ts';
import { waitFor } from '../helpers/wait.ts';

const SLEEPER = 'start=exec sleep 4000001\noutput=log\n';
const CHATTY = 'start=i=0; while :; do i=$((i+1)); echo "line $i"; sleep 0.01; done\noutput=log\n';

/** The refusal of a path on the FUSE file system `user` mounted at `point`. */
function refusal(user: TestUser, point: string): string {
  return `is on a FUSE file system mounted by ${user.name} (uid ${user.uid}) at ${point}; the manager does not go there (its server could hold the manager beyond SIGKILL): unmount it`;
}

/**
 * fusermount3 is setuid root: any user can mount a FUSE file system of their own over a
 * directory they own, their log dir, their daemons dir, their home, and its server can
 * take a request and never answer it, holding the thread that asked beyond SIGKILL. The
 * manager never enters one (native/user_mounts.c): the daemon concerned is refused, or
 * the config dir read as unreadable, with a message naming the mount, and nobody else
 * notices. Without allow_other (all /etc/fuse.conf lets users have here) FUSE refused
 * the manager's threads, whose real uid is root, with EACCES; with it (user_allow_other,
 * made here as fusermount3 makes it: user_id=UID,allow_other), a lookup reached the
 * user's server and waited, and the manager could not exit until it answered.
 */
describe('a FUSE file system a user mounts in their tree', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const mounts: HangFs[] = [];
  let binary = '';
  let missing: string | undefined;
  const dm = (short: string): string => join(host.user(short).home, '.daemon-manager');
  const mount = async (short: string, point: string, mode: HangFsMode): Promise<void> => {
    mounts.push(await mountHangFs(binary, point, host.user(short), mode, 'all'));
  };

  before(async () => {
    missing = fuseMissing();
    if (missing) return;
    binary = buildHangFs(host.dir);
    const shorts = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank', 'ivan'];
    for (const short of shorts) host.user(short);
    host.writeMaster(
      `[can_run_as]\n${shorts.map((short) => `{${short}}\n`).join('')}`,
      'log-max-size = 1K\nlog-keep = 2',
    );
    for (const short of ['alice', 'bob', 'carol', 'dave', 'frank', 'gina', 'ivan'])
      host.writeDaemon(short, 'web', SLEEPER);
    host.writeDaemon('erin', 'chatty', CHATTY);
    mkdirOwned(join(dm('alice'), 'logs'), host.user('alice'));
    // Each server answers nothing at all: any request the manager made would hold it.
    await mount('alice', join(dm('alice'), 'logs'), 'allow_other');
    await mount('carol', join(dm('carol'), 'daemons'), 'allow_other');
    await mount('dave', host.user('dave').home, usersOwnMount());
    // A name of hank's readable daemons dir is his mount (a directory named x.conf).
    host.mkdirAs(host.user('hank'), join(dm('hank'), 'daemons/x.conf'));
    await mount('hank', join(dm('hank'), 'daemons/x.conf'), 'allow_other');
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(async () => {
    // The servers first: their end fails any request still held, which would hold the manager.
    for (const held of mounts.reverse()) await held.stop();
    await cleanUp(host);
  });

  test('(a) a daemon whose log dir is such a mount is refused, said to its owner', async (t) => {
    if (missing) return t.skip(missing);
    const alice = host.user('alice');
    const logs = join(dm('alice'), 'logs');
    const said = `log file ${join(logs, 'web.log')}: ${refusal(alice, logs)}`;
    await waitFor('alice/web to be refused', () =>
      host.managerLog.includes(said) ? true : undefined,
    );
    const web = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.lastExit?.includes(said) === true,
      'to say why it does not run',
    );
    assert.equal(web.pid, 0);
  });

  test('(b) a daemons dir that is such a mount is read as unreadable, said to its owner', async (t) => {
    if (missing) return t.skip(missing);
    const daemons = join(dm('carol'), 'daemons');
    const said = `not read: ${daemons}: ${refusal(host.user('carol'), daemons)}`;
    await waitFor('carol to be told her daemons dir is not read', () =>
      host.managerLog.includes(said) ? true : undefined,
    );
  });

  test('(c) a home the user mounted without allow_other (fusermount3) is never entered', async (t) => {
    if (missing) return t.skip(missing);
    const dave = host.user('dave');
    const daemons = join(dm('dave'), 'daemons');
    const said = `not read: ${daemons}: ${refusal(dave, dave.home)}`;
    await waitFor('dave to be told his daemons dir is not read', () =>
      host.managerLog.includes(said) ? true : undefined,
    );
  });

  test('(d) a mount put over a log dir between two rotations: the next one is refused and said', async (t) => {
    if (missing) return t.skip(missing);
    const erin = host.user('erin');
    const logs = join(dm('erin'), 'logs');
    await host.waitForDaemon('erin', 'erin/chatty', (d) => d.state === 'running', 'to run');
    await waitFor('a first rotation of erin/chatty', () =>
      existsSync(join(logs, 'chatty.log.1')) ? true : undefined,
    );
    await mount('erin', logs, 'allow_other');
    await waitFor('the next rotation to be refused', () =>
      host.managerLog.includes(`log file ${join(logs, 'chatty.log')}: ${refusal(erin, logs)}`)
        ? true
        : undefined,
    );
  });

  test('(e) a restart under a mount put over the log dir since is refused as a start, and said', async (t) => {
    if (missing) return t.skip(missing);
    const frank = host.user('frank');
    const logs = join(dm('frank'), 'logs');
    const before = await host.waitForDaemon('frank', 'frank/web', (d) => d.pid > 0, 'to run');
    const held = await mountHangFs(binary, logs, frank, 'allow_other', 'all');
    mounts.push(held);
    const said = `log file ${join(logs, 'web.log')}: ${refusal(frank, logs)}`;
    const restart = await host.dmctl('frank', 'web', 'restart');
    assert.equal(restart.code, 1, restart.stdout);
    assert.ok(
      restart.stderr.includes(`cannot start ${host.id('frank/web')}: ${said}`),
      restart.stderr,
    );
    // Its run goes on, writing the file its log has open; the refusal is its last word.
    const status = (await host.status('frank')).find((d) => d.id === host.id('frank/web'));
    assert.equal(status?.pid, before.pid);
    assert.ok(status?.lastExit?.includes(said), JSON.stringify(status));
    const why = await host.dmctl('frank', 'web', 'why');
    assert.ok(why.stdout.includes(`cannot start: ${said}`), why.stdout);
    assert.ok(host.managerLog.includes(`cannot start: ${said}`));
    // Once unmounted, it restarts, its start banner in its log.
    await held.stop();
    mounts.splice(mounts.indexOf(held), 1);
    const again = await host.dmctl('frank', 'web', 'restart');
    assert.equal(again.code, 0, again.stderr);
    const after = await host.waitForDaemon(
      'frank',
      'frank/web',
      (d) => d.pid > 0 && d.pid !== before.pid,
      'to run again',
    );
    assert.ok(after.pid > 0);
    // The new run's banner is in its log (it was dropped with the rest of its output).
    await readWhen(
      join(logs, 'web.log'),
      (text) => text.split('daemon-manager: starting').length - 1 >= 2,
    );
  });

  test('(f) a respawn under a mount put over the log dir since is refused, and said', async (t) => {
    if (missing) return t.skip(missing);
    const gina = host.user('gina');
    const logs = join(dm('gina'), 'logs');
    // A look at a log stands for a second (a crash loop looks once a second): past it.
    const running = await host.waitForDaemon(
      'gina',
      'gina/web',
      (d) => d.pid > 0 && d.uptime >= 2,
      'to have run for 2 s',
    );
    await mount('gina', logs, 'allow_other');
    const killed = await host.dmctl('gina', 'web', 'kill', '-KILL');
    assert.equal(killed.code, 0, killed.stderr);
    const said = `log file ${join(logs, 'web.log')}: ${refusal(gina, logs)}`;
    const web = await host.waitForDaemon(
      'gina',
      'gina/web',
      (d) => d.lastExit?.includes(said) === true,
      'to say why it was not respawned',
    );
    assert.equal(web.pid, 0);
    assert.notEqual(web.pid, running.pid);
    const why = await host.dmctl('gina', 'web', 'why');
    assert.ok(why.stdout.includes(`cannot start: ${said}`), why.stdout);
  });

  test("(g) another user's mount bind-mounted over a log dir names its mounter", async (t) => {
    if (missing) return t.skip(missing);
    const bob = host.user('bob');
    await host.waitForDaemon('ivan', 'ivan/web', (d) => d.pid > 0, 'to run');
    const point = join(host.dir, 'bob-mount');
    mkdirSync(point);
    const bobs = await mountHangFs(binary, point, bob, 'allow_other', 'all');
    mounts.push(bobs);
    const logs = join(dm('ivan'), 'logs');
    execFileSync('mount', ['--bind', point, logs]);
    // Unmounted before bob's server ends (after() takes them last first).
    mounts.push({
      mountpoint: logs,
      server: bobs.server,
      stop: async () => {
        execFileSync('umount', ['-l', logs]);
      },
    });
    const restart = await host.dmctl('ivan', 'web', 'restart');
    // Named to ivan, and in the manager's log, as it is wherever it is said.
    const said = `log file ${join(logs, 'web.log')}: ${refusal(bob, logs)}`;
    await waitFor('the refusal to name bob', () =>
      host.managerLog.includes(`${host.id('ivan/web')}: log: ${said}`) ? true : undefined,
    );
    assert.equal(restart.code, 1, restart.stdout);
    assert.ok(restart.stderr.includes(said), restart.stderr);
  });

  test('(h) a config file that is such a mount, in a readable dir, names its mounter', async (t) => {
    if (missing) return t.skip(missing);
    const file = join(dm('hank'), 'daemons/x.conf');
    const said = `${file}: error: refused: ${refusal(host.user('hank'), file)}`;
    const rescan = await host.dmctl('hank', 'rescan');
    const told = `${rescan.stdout}${rescan.stderr}`;
    assert.ok(told.includes(said), told);
  });

  test("other users' daemons run, and dmctl status answers everyone", async (t) => {
    if (missing) return t.skip(missing);
    await host.waitForDaemon('bob', 'bob/web', (d) => d.state === 'running', 'to run');
    await readWhen(join(dm('bob'), 'logs/web.log'), (text) => text.includes('starting'));
    for (const short of ['alice', 'carol', 'dave', 'erin']) await host.status(short);
    const all = await host.status('root');
    assert.ok(all.some((d) => d.id === host.id('bob/web') && d.state === 'running'));
  });

  test('SIGTERM ends the manager while every server holds what it is asked', async (t) => {
    if (missing) return t.skip(missing);
    const manager = host.managerProcess();
    assert.ok(manager?.pid);
    manager.kill('SIGTERM');
    // Exited as its parent sees it: every thread gone (a thread held by a FUSE server
    // keeps a dead manager unreaped, its lock and sockets held, its pid a zombie).
    await waitFor('the manager to have exited, every thread of it', () =>
      manager.exitCode !== null || manager.signalCode !== null ? true : undefined,
    );
  });
});
