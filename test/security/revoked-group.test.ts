import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { waitForDeath } from '../helpers/cli.ts';
import { run, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';
import { CLIENT, NODE, socketOf } from './support.ts';

const root = process.getuid?.() === 0;

/** The supplementary groups of a process, from /proc. */
const groupsOf = (pid: number): number[] =>
  (/^Groups:(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);

/**
 * A review found group membership cached until SIGHUP: a user taken out of a group kept
 * running daemons as the users the group was granted, and kept managing others'. The
 * manager reads the users and groups again as soon as /etc/passwd or /etc/group change.
 */
describe('a user taken out of a group loses what the group gave, without a SIGHUP', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let ops = '';
  let pid = 0;
  let ownPid = 0;
  let ownGroupsBefore: number[] = [];

  before(async () => {
    ops = host.group('ops', ['mallory']);
    host.user('bob');
    host.writeMaster(
      `[can_run_as]\n{alice}\n{mallory}\n{@ops}: {bob}\n[manages]\n{@ops}: {alice}\n`,
    );
    host.writeDaemon(
      'mallory',
      'asbob',
      `start=exec sleep 6900301\nuser=${host.user('bob').name}\n`,
    );
    host.writeDaemon('alice', 'web', 'start=exec sleep 6900302\n');
    host.writeDaemon('mallory', 'own', 'start=exec sleep 6900304\n');
    await host.startManager();
    pid = (await host.waitForDaemon('root', 'mallory/asbob', (d) => d.pid > 0, 'to run')).pid;
    ownPid = (await host.waitForDaemon('root', 'mallory/own', (d) => d.pid > 0, 'to run')).pid;
    ownGroupsBefore = groupsOf(ownPid);
    await host.waitForDaemon('root', 'alice/web', (d) => d.pid > 0, 'to run');
    // While in the group, mallory manages alice's daemons.
    assert.equal((await host.dmctl('mallory', host.id('alice/web'), 'status')).code, 0);
    execFileSync('gpasswd', ['-d', host.user('mallory').name, ops], { stdio: 'ignore' });
  });
  after(() => host.cleanup());

  test("mallory may no longer see or stop alice's daemon", async () => {
    const stop = await host.dmctl('mallory', host.id('alice/web'), 'stop');
    assert.notEqual(stop.code, 0);
    const [web] = (await host.status('root')).filter((d) => d.id === host.id('alice/web'));
    assert.equal(web?.state, 'running');
  });

  test('her own daemon is started again without the group she lost', async () => {
    const gid = Number(execFileSync('getent', ['group', ops], { encoding: 'utf8' }).split(':')[2]);
    assert.ok(ownGroupsBefore.includes(gid), `it ran with ${ops} (${ownGroupsBefore})`);
    const again = await host.waitForDaemon(
      'root',
      'mallory/own',
      (d) => d.state === 'running' && d.pid !== ownPid,
      'to run again',
    );
    assert.ok(!groupsOf(again.pid).includes(gid), `${groupsOf(again.pid)}`);
    const why = await host.dmctl('mallory', host.id('mallory/own'), 'why');
    assert.match(why.stdout, new RegExp(`no longer in ${ops} \\(gid ${gid}\\)`));
  });

  test('her daemon running as bob is stopped', async () => {
    await host.status('root');
    await waitFor('the daemon run as bob to stop', () => (isAlive(pid) ? undefined : true), {
      describe: () => host.managerLog,
    });
  });
});

/**
 * Every change of /etc/passwd or /etc/group makes the owners anew; a rescan that was
 * reading a user's files meanwhile used to give up without a word and answer "ok".
 */
describe('a rescan while users and groups change says what it found', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6900303\n');
    host.writeDaemon('alice', 'bad', 'autostart=sometimes\n');
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
  });
  after(() => host.cleanup());

  test('each rescan names the refused file, however often /etc/group changes', async () => {
    // A change the manager notices (its time of change), touching no account.
    const changing = setInterval(() => {
      const now = new Date();
      utimesSync('/etc/group', now, now);
    }, 30);
    try {
      for (let round = 0; round < 15; round++) {
        const rescan = await host.dmctl('alice', 'rescan');
        assert.equal(rescan.code, 1, `round ${round}: ${rescan.stdout}${rescan.stderr}`);
        assert.match(rescan.stdout + rescan.stderr, /bad/);
      }
    } finally {
      clearInterval(changing);
    }
  });
});

/**
 * A review deleted an account whose control socket then stayed, owned by its old uid;
 * the next account given that uid connected to it and acted with the deleted user's
 * rights. And a user who gained rights through /etc/group got no socket until SIGHUP.
 */
/**
 * Outside reviews (51a, F4, Low, 2 of 2; 52a, F3, 4 of 4 with the keeper killed too): a
 * user of `[manages]` deleted while the manager was down, their uid given to a new
 * account: the new manager let go of the socket the keeper kept, or found none kept, but
 * its file stayed in the socket-dir, listed as the new account's.
 */
for (const keeperToo of [false, true])
  describe(`the socket of a user deleted while the manager${keeperToo ? ' and its keeper were' : ' was'} down`, {
    skip: !root && 'needs root',
  }, () => {
    const host = new TestHost();
    after(() => host.cleanup());

    test('is removed at the takeover, its file with it', async () => {
      const mona = host.user('mona');
      host.writeDaemon('alice', 'web', 'start=exec sleep 6900310\n');
      host.writeMaster('[can_run_as]\n{alice}\n[manages]\n{mona}: {alice}\n');
      await host.startManager();
      const socket = socketOf(host, 'mona');
      assert.ok(existsSync(socket));
      if (keeperToo) await host.killManagerAndKeeper();
      else await host.killManager();
      execFileSync('userdel', [mona.name]);
      await host.startManager();
      await host.waitForDaemon('root', 'alice/web', (d) => d.pid > 0, 'to run');
      await waitFor('mona’s socket file to go', () => (existsSync(socket) ? undefined : true));
    });
  });

describe('control sockets follow accounts as they come, go and change uid', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let ops = '';

  before(async () => {
    ops = host.group('ops', []);
    host.user('carol');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6900304\n');
    host.writeMaster('[can_run_as]\n{alice}\n{carol}\n{@ops}\n[manages]\n{carol}: {alice}\n');
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.pid > 0, 'to run');
  });
  after(() => host.cleanup());

  test('a deleted account’s socket lets nobody in and is made again for its new uid; its old uid, given to someone else, reaches nothing', async () => {
    const carol = host.user('carol');
    const socket = socketOf(host, 'carol');
    assert.ok(existsSync(socket));
    execFileSync('userdel', [carol.name]);
    // carol comes back with another uid; hers goes to eve, who was granted nothing.
    execFileSync('useradd', ['-M', '-N', carol.name]);
    const eve = `${host.prefix}eve`;
    execFileSync('useradd', ['-M', '-N', '-u', String(carol.uid), eve]);
    try {
      const tried = await run(
        ['runuser', '-u', eve, '--', NODE, CLIENT],
        [
          'send',
          socket,
          Buffer.from(`{"command":"stop","id":"${host.id('alice/web')}"}\n`).toString('base64'),
        ],
      );
      assert.doesNotMatch(tried.stdout, /is stopping|"ok\\?":true/, tried.stdout);
      // The socket is made again, for the uid carol has now.
      const uid = Number(execFileSync('id', ['-u', carol.name]).toString());
      await waitFor('carol’s socket to be made for her new uid', () => {
        try {
          return statSync(socket).uid === uid ? true : undefined;
        } catch {
          return undefined;
        }
      });
    } finally {
      execFileSync('userdel', [eve]);
    }
    const web = (await host.status('root')).find((d) => d.id === host.id('alice/web'));
    assert.equal(web?.state, 'running', 'eve stopped nothing');
  });

  test('a socket whose file another uid can open still answers only its owner and root', async () => {
    const socket = socketOf(host, 'alice');
    chmodSync(socket, 0o666);
    const from = host.managerLog.length;
    const bob = host.user('bob');
    const tried = await run(
      ['runuser', '-u', bob.name, '--', NODE, CLIENT],
      ['send', socket, Buffer.from('{"command":"status"}\n').toString('base64')],
    );
    assert.doesNotMatch(tried.stdout, /"ok"/, tried.stdout);
    await waitFor('the refusal in the log', () =>
      host.managerLog
        .slice(from)
        .includes(`refused a request on ${host.user('alice').name}'s socket: uid ${bob.uid} is not`)
        ? true
        : undefined,
    );
    assert.equal((await host.dmctl('alice', 'status')).code, 0, 'alice is still answered');
  });

  // A review deleted bob and made a new bob (another uid): the new account could stop and
  // signal the old one's daemons, which went on running as the old uid.
  test('an account made again under the same name never gets the old one’s daemons', async () => {
    const old = host.user('oldbob');
    host.writeDaemon('oldbob', 'keep', 'start=exec sleep 6900305\n');
    host.writeMaster(
      '[can_run_as]\n{alice}\n{carol}\n{oldbob}\n{@ops}\n[manages]\n{carol}: {alice}\n',
    );
    process.kill(host.managerPid(), 'SIGHUP');
    const running = await host.waitForDaemon('root', 'oldbob/keep', (d) => d.pid > 0, 'to run');
    execFileSync('userdel', ['-f', old.name]);
    // Another uid (useradd would give the same one back when it was the highest).
    execFileSync('useradd', ['-M', '-N', '-u', String(old.uid + 40_000), old.name]);
    await waitForDeath(running.pid, 'the old account’s daemon');
    const seen = await host.dmctl('oldbob', 'oldbob/keep', 'kill', '-STOP');
    assert.notEqual(seen.code, 0, `the new account reached it: ${seen.stdout}`);
  });

  test('a user given rights through a group gets a socket at once, without SIGHUP', async () => {
    const dave = host.user('dave');
    const socket = socketOf(host, 'dave');
    assert.equal(existsSync(socket), false);
    execFileSync('usermod', ['-a', '-G', ops, dave.name]);
    // Nobody asks the manager anything: it sees /etc/group change by itself.
    await waitFor('dave’s socket', () => (existsSync(socket) ? true : undefined));
    assert.equal((await host.dmctl('dave', 'status')).code, 0);
  });
});
