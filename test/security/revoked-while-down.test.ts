import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { freePort, tryConnect } from '../helpers/sockets.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Root takes a grant back while no manager runs (a kill -9; the keeper holds the daemons),
 * and mallory, meanwhile, edits her file into one still allowed. The next manager judges
 * what runs, not what the file says now: the run as the user taken back, on the port
 * taken back, or with the socket of the group she left, is stopped, and said. An outside
 * review found each going on, shown as allowed, until the next rescan.
 */
describe('a grant taken back while the manager was down, the file edited meanwhile', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let port = 0;
  let team = '';
  const run = (): string => join(host.user('mallory').home, 'run');
  const master = (grant: boolean): void =>
    host.writeMaster(
      grant
        ? `[can_run_as]\n{mallory}: {carol}\n[limits]\n{mallory}: ports=${port}\n`
        : '[can_run_as]\n{mallory}\n',
    );
  const start = `start=${FIXTURES}/listen-report.sh\n`;

  before(() => {
    host.user('carol');
    team = host.group('team', ['mallory']);
    host.mkdirAs(host.user('mallory'), run());
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  afterEach(() => host.stopManager());
  after(() => cleanUp(host));

  /** Starts a manager with the grants, runs `name` as `granted`, kills the manager, takes the grants back and writes `allowed` instead. */
  async function takenBackWhileDown(name: string, granted: string, allowed: string, grant = 0) {
    port = grant || (await freePort());
    master(true);
    host.writeDaemon('mallory', name, `${start}${granted}`);
    await host.startManager();
    const running = await host.waitForDaemon(
      'mallory',
      `mallory/${name}`,
      (d) => d.state === 'running',
      'to run',
    );
    const manager = host.managerProcess();
    const exited = new Promise((resolve) => manager?.once('exit', resolve));
    manager?.kill('SIGKILL');
    await exited;
    master(false);
    host.writeDaemon('mallory', name, `${start}${allowed}`);
    const from = host.managerLog.length;
    await host.startManager();
    await host.waitForDaemon('mallory', `mallory/${name}`, (d) => d.pid === 0, 'to stop');
    await waitFor('the run taken over to end', () => (isAlive(running.pid) ? undefined : true));
    return host.managerLog.slice(from);
  }

  test('user= taken back, the line removed: the run as that user is stopped', async () => {
    const log = await takenBackWhileDown('as', `user=${host.user('carol').name}\n`, '');
    assert.match(
      log,
      new RegExp(
        `mallory/as: refused now \\(it runs as ${host.user('carol').name}, whom \\S+ may no longer run as\\); stopping it`,
      ),
    );
  });

  test('a port taken back, the line moved to the loopback: the run holding the port is stopped', async () => {
    const free = await freePort();
    const log = await takenBackWhileDown(
      'port',
      `listen=tcp:0.0.0.0:${free}\n`,
      `listen=tcp:127.0.0.1:${free}\n`,
      free,
    );
    assert.match(
      log,
      /mallory\/port: refused now \(its socket tcp:0\.0\.0\.0:\d+: .*\); stopping it/,
    );
  });

  test('out of the group, listen_group removed: the socket made for the group is closed', async () => {
    const path = join(run(), 'team.sock');
    const granted = `listen=unix:${path}\nlisten_mode=0660\nlisten_group=${team}\n`;
    port = await freePort();
    master(true);
    host.writeDaemon('mallory', 'team', `${start}${granted}`);
    await host.startManager();
    const running = await host.waitForDaemon(
      'mallory',
      'mallory/team',
      (d) => d.state === 'running',
      'to run',
    );
    assert.equal(await tryConnect({ path }), 'ok');
    const manager = host.managerProcess();
    const exited = new Promise((resolve) => manager?.once('exit', resolve));
    manager?.kill('SIGKILL');
    await exited;
    execFileSync('gpasswd', ['-d', host.user('mallory').name, team], { stdio: 'ignore' });
    host.writeDaemon('mallory', 'team', `${start}listen=unix:${path}\nlisten_mode=0660\n`);
    const from = host.managerLog.length;
    await host.startManager();
    await host.waitForDaemon('mallory', 'mallory/team', (d) => d.pid === 0, 'to stop');
    await waitFor('the run taken over to end', () => (isAlive(running.pid) ? undefined : true));
    assert.match(
      host.managerLog.slice(from),
      /mallory\/team: refused now \(its socket unix:\S+ has group \d+, which \S+ is no longer a member of\); stopping it/,
    );
  });
});

/**
 * An outside review (22a, F8): mallory took `user=` (or `listen=`) out of her file, had
 * it read without a restart (`dmctl start` of the running daemon), made her directory
 * unreadable, and root's SIGHUP that took the grant back stopped nothing: the manager
 * judged, and showed, the run by the file read, not by what ran. Judged by its run now.
 */
describe('a grant taken back by a SIGHUP while the file read since no longer says what runs', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let port = 0;
  const start = `start=${FIXTURES}/listen-report.sh\n`;
  const dir = (): string => join(host.user('mallory').home, '.daemon-manager/daemons');
  afterEach(showLogIfFailed(() => host.managerLog));
  afterEach(async () => {
    chmodSync(dir(), 0o755);
    await host.stopManager();
  });
  after(() => cleanUp(host));

  /**
   * Runs `name` with `granted` (as `master(true)` allows), writes `allowed` instead and has
   * it read by `dmctl start`, hides the directory, takes the grants back by a SIGHUP; the
   * manager's log from then on, once the run is stopped.
   */
  async function takenBackHidden(
    name: string,
    granted: string,
    allowed: string,
    check: (row: DaemonStatus) => void,
  ): Promise<string> {
    const master = (grant: boolean): void =>
      host.writeMaster(
        grant
          ? `[can_run_as]\n{mallory}: {carol}\n[limits]\n{mallory}: ports=${port}\n`
          : '[can_run_as]\n{mallory}\n',
      );
    master(true);
    host.writeDaemon('mallory', name, `${start}${granted}`);
    await host.startManager();
    const running = await host.waitForDaemon(
      'mallory',
      `mallory/${name}`,
      (d) => d.state === 'running',
      'to run',
    );
    host.writeDaemon('mallory', name, `${start}${allowed}`);
    const read = await host.dmctl('mallory', name, 'start');
    assert.match(read.stdout, /already running, with the config it was started with/);
    check((await host.status('mallory')).find((d) => d.name === name) ?? running);
    chmodSync(dir(), 0);
    const from = host.managerLog.length;
    await host.reload(host.expand('[can_run_as]\n{mallory}\n'));
    await host.waitForDaemon('mallory', `mallory/${name}`, (d) => d.pid === 0, 'to stop');
    await waitFor('its run to end', () => (isAlive(running.pid) ? undefined : true));
    return host.managerLog.slice(from);
  }

  test('user= taken out and read: shown as the user it runs as, stopped when taken back', async () => {
    port = await freePort();
    const carol = host.user('carol').name;
    const log = await takenBackHidden('as', `user=${carol}\n`, '', (row) =>
      assert.equal(row.runAs, carol, 'the run shown as the user it runs as'),
    );
    // Judged as the account it runs as, at the reload (or by the rescan after it).
    assert.match(
      log,
      new RegExp(
        `mallory/as: (refused now \\(it runs as ${carol}, whom \\S+ |)may no longer run as ${carol}`,
      ),
    );
  });

  // An outside review (23a, F1 and F2): root taking back what only the file read names
  // (not what the run is) stopped the run.
  test('what only the file read names, taken back: the run goes on', async () => {
    const [carol, dave] = [host.user('carol').name, host.user('dave').name];
    const [mine, other] = [await freePort(), await freePort()];
    const master = (both: boolean): string =>
      host.expand(
        `[can_run_as]\n{mallory}: {carol}${both ? ', {dave}' : ''}\n[limits]\n{mallory}: ports=${mine}${both ? ` ${other}` : ''}\n`,
      );
    host.writeMaster(master(true));
    host.writeDaemon('mallory', 'kept', `${start}user=${carol}\nlisten=tcp:0.0.0.0:${mine}\n`);
    await host.startManager();
    const running = await host.waitForDaemon(
      'mallory',
      'mallory/kept',
      (d) => d.state === 'running',
      'to run',
    );
    host.writeDaemon('mallory', 'kept', `${start}user=${dave}\nlisten=tcp:0.0.0.0:${other}\n`);
    const read = await host.dmctl('mallory', 'kept', 'start');
    assert.match(read.stdout, /already running, with the config it was started with/);
    chmodSync(dir(), 0);
    const from = host.managerLog.length;
    await host.reload(master(false));
    await waitFor('the reload to be done', () =>
      /mallory: \S+: warning: cannot list directory/.test(host.managerLog.slice(from))
        ? true
        : undefined,
    );
    const row = await host.waitForDaemon('mallory', 'mallory/kept', () => true, 'known');
    assert.equal(row.pid, running.pid, 'the run stopped for what only its file named');
    assert.equal(row.state, 'running');
    assert.equal(row.runAs, carol);
    assert.doesNotMatch(host.managerLog.slice(from), /mallory\/kept: .*stopping it/);
  });

  // An outside review (24a, F2): the same with the directory readable: the reload's
  // rescan read the file, found its port refused, and stopped the run whose own port root
  // still gave (left down, `broken`).
  test('a port only the file names, taken back with the file readable: the run goes on', async () => {
    const [mine, other] = [await freePort(), await freePort()];
    const master = (both: boolean): string =>
      host.expand(
        `[can_run_as]\n{mallory}\n[limits]\n{mallory}: ports=${mine}${both ? ` ${other}` : ''}\n`,
      );
    host.writeMaster(master(true));
    host.writeDaemon('mallory', 'open', `${start}listen=tcp:0.0.0.0:${mine}\n`);
    await host.startManager();
    const running = await host.waitForDaemon(
      'mallory',
      'mallory/open',
      (d) => d.state === 'running',
      'to run',
    );
    host.writeDaemon('mallory', 'open', `${start}listen=tcp:0.0.0.0:${other}\n`);
    const read = await host.dmctl('mallory', 'open', 'start');
    assert.match(read.stdout, /already running, with the config it was started with/);
    const from = host.managerLog.length;
    await host.reload(master(false));
    await waitFor('the changed file refused, the run kept', () =>
      /mallory\/open: its changed config file is refused .*: it goes on with the config it was started with/.test(
        host.managerLog.slice(from),
      )
        ? true
        : undefined,
    );
    const row = await host.waitForDaemon('mallory', 'mallory/open', () => true, 'known');
    assert.equal(row.pid, running.pid);
    assert.equal(row.state, 'running');
    assert.equal(await tryConnect({ port: mine, host: '127.0.0.1' }), 'ok');
  });

  // An outside review (25a, F2): the owner taken out of a group their run holds while its
  // changed file is refused. The restart that drops the group applied the refused file:
  // the daemon was left down (`broken`), the log saying its sockets (it had none) were no
  // longer allowed, and `why` that it was restarted.
  test('a group taken from a run whose changed file is refused: it starts again as it was started', async () => {
    const [mine, other] = [await freePort(), await freePort()];
    const crew = host.group('crew', ['mallory']);
    host.writeMaster(host.expand(`[can_run_as]\n{mallory}\n[limits]\n{mallory}: ports=${mine}\n`));
    host.writeDaemon('mallory', 'plain', start);
    await host.startManager();
    const running = await host.waitForDaemon(
      'mallory',
      'mallory/plain',
      (d) => d.state === 'running',
      'to run',
    );
    host.writeDaemon('mallory', 'plain', `${start}listen=tcp:0.0.0.0:${other}\n`);
    const read = await host.dmctl('mallory', 'plain', 'start');
    assert.match(read.stdout, /already running, with the config it was started with/);
    const from = host.managerLog.length;
    execFileSync('gpasswd', ['-d', host.user('mallory').name, crew], { stdio: 'ignore' });
    const row = await host.waitForDaemon(
      'mallory',
      'mallory/plain',
      (d) => d.state === 'running' && d.pid > 0 && d.pid !== running.pid,
      'to run again, without the group',
    );
    assert.match(
      row.problem ?? '',
      new RegExp(`tcp:0\\.0\\.0\\.0:${other}`),
      'its file still refused',
    );
    const log = host.managerLog.slice(from);
    assert.match(log, /mallory\/plain: .*no longer in .*; restarting it with the groups/);
    assert.doesNotMatch(log, /mallory\/plain: its sockets are no longer allowed/);
    const why = await host.dmctl('mallory', 'plain', 'why');
    assert.match(why.stdout, /no longer in .*: restarted with the groups/);
    assert.doesNotMatch(why.stdout, /stopped\s*$/);
  });

  // An outside review (26a, F7): the user= its run runs as taken back while its file is
  // refused: stopped, as it should be, and then said to go on with its config.
  test('the account its run runs as taken back while its file is refused: stopped, and said so only', async () => {
    const carol = host.user('carol').name;
    const [mine, other] = [await freePort(), await freePort()];
    const master = (grant: boolean): string =>
      host.expand(
        `[can_run_as]\n{mallory}${grant ? ': {carol}' : ''}\n[limits]\n{mallory}: ports=${mine}\n`,
      );
    host.writeMaster(master(true));
    host.writeDaemon('mallory', 'as2', `${start}user=${carol}\n`);
    await host.startManager();
    const running = await host.waitForDaemon(
      'mallory',
      'mallory/as2',
      (d) => d.state === 'running',
      'to run',
    );
    host.writeDaemon('mallory', 'as2', `${start}user=${carol}\nlisten=tcp:0.0.0.0:${other}\n`);
    assert.match(
      (await host.dmctl('mallory', 'as2', 'start')).stdout,
      /its config file is refused/,
    );
    const from = host.managerLog.length;
    await host.reload(master(false));
    await host.waitForDaemon('mallory', 'mallory/as2', (d) => d.pid === 0, 'to stop');
    await waitFor('its run to end', () => (isAlive(running.pid) ? undefined : true));
    await host.dmctl('mallory', 'rescan');
    const log = host.managerLog.slice(from);
    assert.match(log, new RegExp(`mallory/as2: .*may no longer run as ${carol}`));
    assert.doesNotMatch(log, /mallory\/as2: .*goes on with the config it was started with/);
  });

  test('listen= taken out and read: the run holding the port is stopped when it is taken back', async () => {
    port = await freePort();
    const log = await takenBackHidden('port', `listen=tcp:0.0.0.0:${port}\n`, '', () => {});
    assert.match(
      log,
      /mallory\/port: refused now \(its socket tcp:0\.0\.0\.0:\d+: .*\); stopping it/,
    );
    assert.notEqual(await tryConnect({ port, host: '127.0.0.1' }), 'ok');
  });
});

/**
 * An outside review (22a, F6): a port taken back while no manager ran (its owner's
 * directory unreadable at the takeover: the daemon stopped on its config as last read),
 * then given back by a SIGHUP while the directory was still unreadable: `status` and `why`
 * went on showing the refusal until the directory was read again.
 */
describe('a port given back while its owner’s directory cannot be read', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const dir = (): string => join(host.user('mallory').home, '.daemon-manager/daemons');
  afterEach(showLogIfFailed(() => host.managerLog));
  afterEach(async () => {
    chmodSync(dir(), 0o755);
    await host.stopManager();
  });
  after(() => cleanUp(host));

  test('is no refusal any more', async () => {
    const port = await freePort();
    const master = (grant: boolean): string =>
      host.expand(
        `[can_run_as]\n{mallory}\n${grant ? `[limits]\n{mallory}: ports=${port}\n` : ''}`,
      );
    host.writeMaster(master(true));
    host.writeDaemon(
      'mallory',
      'web',
      `start=${FIXTURES}/listen-report.sh\nlisten=tcp:0.0.0.0:${port}\n`,
    );
    await host.startManager();
    await host.waitForDaemon('mallory', 'mallory/web', (d) => d.state === 'running', 'to run');
    await host.killManager();
    chmodSync(dir(), 0);
    host.writeMaster(master(false));
    await host.startManager();
    await host.waitForDaemon('mallory', 'mallory/web', (d) => d.state === 'broken', 'refused');
    await host.reload(master(true));
    await host.waitForDaemon(
      'mallory',
      'mallory/web',
      (d) => d.state === 'stopped',
      'no longer shown refused',
    );
  });
});
