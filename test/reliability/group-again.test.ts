import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { killManager, whileManagerStopped } from '../helpers/accounts.ts';
import { showLogIfFailed } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { tryConnect } from '../helpers/sockets.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/** A free gid past `from`. */
function freeGid(from: number): number {
  for (let gid = from; ; gid++)
    try {
      execFileSync('getent', ['group', String(gid)], { stdio: 'ignore' });
    } catch {
      return gid;
    }
}

/**
 * The same class as outside review 10, B: the group a daemon's `listen_group=` names,
 * deleted and made again under its name (another gid, the owner in it again) while no
 * manager ran. The next manager took the socket made for the old gid for a right taken
 * away: it stopped the daemon, saved it as wanted down, and never started it again.
 */
describe('a listen_group made again while no manager runs', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('the daemon starts again, its socket of the new group', async () => {
    const team = host.group('team', ['mallory']);
    const run = join(host.user('mallory').home, 'run');
    host.mkdirAs(host.user('mallory'), run);
    const path = join(run, 'team.sock');
    host.writeMaster('[can_run_as]\n{mallory}\n');
    host.writeDaemon(
      'mallory',
      'team',
      `start=${FIXTURES}/listen-report.sh\nlisten=unix:${path}\nlisten_mode=0660\nlisten_group=${team}\n`,
    );
    const manager = await host.startManager();
    const old = await host.waitForDaemon(
      'mallory',
      'mallory/team',
      (d) => d.state === 'running',
      'to run',
    );
    const oldGid = statSync(path).gid;
    await killManager(manager);
    execFileSync('groupdel', [team]);
    const newGid = freeGid(oldGid + 40_000);
    execFileSync('groupadd', ['-g', String(newGid), team]);
    execFileSync('usermod', ['-a', '-G', team, host.user('mallory').name]);
    const from = host.managerLog.length;
    await host.startManager();
    const row = await host.waitForDaemon(
      'mallory',
      'mallory/team',
      (d) => d.state === 'running' && d.pid > 0 && d.pid !== old.pid,
      'to run again by itself',
    );
    await waitFor('the old run to end', () => (isAlive(old.pid) ? undefined : true));
    assert.match(
      host.managerLog.slice(from),
      new RegExp(
        `mallory/team: its listen_group ${team} is another group now \\(gid ${oldGid}, now ${newGid}\\); restarting it with a socket of the new one`,
      ),
    );
    assert.doesNotMatch(host.managerLog.slice(from), /no longer a member of/);
    assert.equal(statSync(path).gid, newGid, 'the socket is not of the new group');
    assert.equal(await tryConnect({ path }), 'ok');
    assert.equal(row.wanted, 'up');
  });
});

/**
 * Outside review 12, B (3 of 3): the same made again while the manager runs. The daemon
 * was restarted with the new group, rightly, but said as its user "no longer in gid N;
 * restarting it without" (the line cut there), and `why` named the old gid by the group
 * that had it now, one the user was never in.
 */
describe('a listen_group made again while the manager runs', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('is said as another group, and the daemon restarted in the new one', async () => {
    const team = host.group('team', ['mallory']);
    host.writeMaster('[can_run_as]\n{mallory}\n');
    host.writeDaemon('mallory', 'team', `start=exec sleep 6300700\nlisten_group=${team}\n`);
    await host.startManager();
    const old = await host.waitForDaemon('mallory', 'mallory/team', (d) => d.pid > 0, 'to run');
    const oldGid = Number(
      execFileSync('getent', ['group', team], { encoding: 'utf8' }).split(':')[2],
    );
    const from = host.managerLog.length;
    // Made again as one change: its watch of /etc, reading between the delete and the add
    // on a loaded machine, saw mallory out of the group (1 of 4 runs under load).
    const newGid = whileManagerStopped(host, () => {
      execFileSync('groupdel', [team]);
      const gid = freeGid(oldGid + 40_000);
      execFileSync('groupadd', ['-g', String(gid), team]);
      execFileSync('usermod', ['-a', '-G', team, host.user('mallory').name]);
      return gid;
    });
    process.kill(host.managerPid(), 'SIGHUP');
    await host.waitForDaemon(
      'mallory',
      'mallory/team',
      (d) => d.state === 'running' && d.pid > 0 && d.pid !== old.pid,
      'to run again',
    );
    const said = `its group ${team} is another group now \\(gid ${oldGid}, now ${newGid}\\)`;
    assert.match(host.managerLog.slice(from), new RegExp(said));
    assert.doesNotMatch(host.managerLog.slice(from), /no longer in/);
    const why = await host.dmctl('mallory', 'team', 'why');
    assert.match(why.stdout, new RegExp(said));
  });
});
