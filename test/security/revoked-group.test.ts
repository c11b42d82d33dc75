import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { utimesSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

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

  before(async () => {
    ops = host.group('ops', ['mallory']);
    host.user('bob');
    host.writeMaster(`[can_run_as]\n{alice}\n{@ops}: {bob}\n[manages]\n{@ops}: {alice}\n`);
    host.writeDaemon(
      'mallory',
      'asbob',
      `start=exec sleep 6900301\nuser=${host.user('bob').name}\n`,
    );
    host.writeDaemon('alice', 'web', 'start=exec sleep 6900302\n');
    await host.startManager();
    pid = (await host.waitForDaemon('root', 'mallory/asbob', (d) => d.pid > 0, 'to run')).pid;
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
