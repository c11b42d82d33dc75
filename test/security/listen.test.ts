import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lchownSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { DAEMON_MANAGER, FIXTURES, run, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { freePort, tryConnect } from '../helpers/sockets.ts';
import { waitFor } from '../helpers/wait.ts';
import { assertManagerAnswers, processesWith, socketOf } from './support.ts';

/**
 * mallory asks the manager (root) to listen for her where she may not: through links,
 * in bob's directory, on ports root did not grant, with a group she is not in; and
 * tries to keep a socket the manager holds after her daemon is gone or her port taken
 * back. Each is refused or released, and nothing is left listening or on disk.
 */
describe('mallory cannot make the manager listen where she may not', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let granted = 0;
  let round = 0;
  const malloryHome = (): string => host.user('mallory').home;
  const bobDir = (): string => join(host.user('bob').home, 'private');
  const master = (grant: boolean): void =>
    host.writeMaster(
      `[can_run_as]\n{mallory}\n{bob}\n[limits]\n{bob}: ports=${granted}\n${grant ? `{mallory}: ports=${granted}\n` : ''}`,
      'cooldown-step = 1s',
    );

  before(async () => {
    granted = await freePort();
    for (const short of ['mallory', 'bob']) host.user(short);
    host.group('staff', ['bob']);
    mkdirSync(bobDir(), { mode: 0o755 });
    const bob = host.user('bob');
    lchownSync(bobDir(), bob.uid, bob.gid);
    host.mkdirAs(host.user('mallory'), join(malloryHome(), 'run'));
    master(false);
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  /**
   * Writes a daemon of mallory's with these listen lines that would say it ran, asks for
   * it to start, and checks the refusal says `refusal` and nothing ran.
   */
  async function assertRefused(lines: string, refusal: RegExp): Promise<void> {
    round++;
    const marker = `30${String(round).padStart(4, '0')}7`;
    const name = `sock${round}`;
    host.writeDaemon('mallory', name, `start=sleep ${marker}\n${lines}\nautostart=no\n`);
    await host.dmctl('mallory', 'rescan');
    const start = await host.dmctl('mallory', name, 'start');
    assert.equal(start.code, 1, `${lines}: ${start.stdout}`);
    assert.match(start.stderr, refusal, lines);
    assert.deepEqual(processesWith(`sleep ${marker}`), [], `${lines}: the daemon ran`);
    await assertManagerAnswers(host, 'mallory', 'bob');
  }

  test("a socket path into another user's directory is refused by the kernel", async () => {
    // The refusal names the daemon, its file and the line that asked.
    await assertRefused(
      `listen=unix:${join(bobDir(), 'x.sock')}`,
      /cannot start \S+\/sock1: \S+\/sock1\.conf:2: cannot listen on unix:.*permission denied/,
    );
    assert.deepEqual(readdirSync(bobDir()), [], "nothing was made in bob's directory");
  });

  test('a socket path through a symlink is refused, and nothing is made where it points', async () => {
    const mallory = host.user('mallory');
    const finalLink = join(malloryHome(), 'run', 'final.sock');
    symlinkSync(join(bobDir(), 'final.sock'), finalLink);
    lchownSync(finalLink, mallory.uid, mallory.gid);
    await assertRefused(`listen=unix:${finalLink}`, /cannot listen on unix:.*exists already/);
    const dirLink = join(malloryHome(), 'bobs');
    symlinkSync(bobDir(), dirLink);
    lchownSync(dirLink, mallory.uid, mallory.gid);
    await assertRefused(
      `listen=unix:${join(dirLink, 'x.sock')}`,
      /cannot listen on unix:.*permission denied/,
    );
    assert.deepEqual(readdirSync(bobDir()), [], "nothing was made in bob's directory");
    unlinkSync(finalLink);
  });

  test('a port root did not grant is refused, on any address but the loopback', async () => {
    const port = await freePort();
    await assertRefused(
      `listen=tcp:0.0.0.0:${port}`,
      new RegExp(`listen=tcp:0\\.0\\.0\\.0:${port}' refused: 0\\.0\\.0\\.0 is not the loopback`),
    );
    assert.equal(await tryConnect({ port }), 'ECONNREFUSED', 'nothing listens');
    const problems = await host.dmctl('mallory', 'problems');
    assert.match(
      problems.stdout + problems.stderr,
      /sock\d+\.conf:2: error: 'listen=tcp:0\.0\.0\.0:/,
    );
  });

  test("a port below 1024 is refused without a grant, even on the loopback, and another user's grant is not hers", async () => {
    await assertRefused('listen=tcp:127.0.0.1:1001', /port 1001 is below 1024/);
    assert.equal(await tryConnect({ port: 1001 }), 'ECONNREFUSED');
    // bob's port is granted to bob alone: mallory's line gets nothing of it.
    await assertRefused(`listen=tcp:0.0.0.0:${granted}`, /refused: 0\.0\.0\.0 is not the loopback/);
    assert.equal(await tryConnect({ port: granted }), 'ECONNREFUSED');
  });

  test('a listen_group the owner is not a member of is refused', async () => {
    const staff = host.expand('{@staff}').slice(1);
    await assertRefused(
      `listen=unix:${join(malloryHome(), 'run', 'g.sock')}\nlisten_group=${staff}`,
      new RegExp(`'listen_group=${staff}' refused: '${host.user('mallory').name}' is not a member`),
    );
    assert.equal(existsSync(join(malloryHome(), 'run', 'g.sock')), false);
  });

  test('a socket held for a daemon whose file was deleted is released when it stops', async () => {
    const path = join(malloryHome(), 'run', 'gone.sock');
    const file = host.writeDaemon(
      'mallory',
      'gone',
      `start=${FIXTURES}/listen-report.sh\nlisten=unix:${path}\n`,
    );
    await host.dmctl('mallory', 'rescan');
    await host.waitForDaemon('mallory', 'mallory/gone', (d) => d.state === 'running', 'to run');
    assert.equal(await tryConnect({ path }), 'ok');
    unlinkSync(file);
    // (A rescan of everyone's files may come first when any account on the host changes:
    // what this one says is not asserted, only what follows.)
    await host.dmctl('mallory', 'rescan');
    assert.equal(await tryConnect({ path }), 'ok', 'held while its daemon runs');
    const stop = await host.dmctl('mallory', 'gone', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await waitFor('the socket file to be removed', () => (existsSync(path) ? undefined : true));
    const ids = (await host.status('root')).map((daemon) => daemon.id);
    assert.ok(!ids.includes(host.id('mallory/gone')), 'forgotten');
  });

  test('a port revoked at reload is released and its daemon stopped', async () => {
    host.writeDaemon(
      'mallory',
      'web',
      `start=${FIXTURES}/listen-report.sh\nlisten=tcp:0.0.0.0:${granted}\n`,
    );
    master(true);
    process.kill(host.managerPid(), 'SIGHUP');
    await host.waitForDaemon('mallory', 'mallory/web', (d) => d.state === 'running', 'to run');
    assert.equal(await tryConnect({ port: granted }), 'ok', 'a granted port is held');
    master(false);
    process.kill(host.managerPid(), 'SIGHUP');
    await host.waitForDaemon('mallory', 'mallory/web', (d) => d.state !== 'running', 'to stop');
    await waitFor('the port to be closed', async () =>
      (await tryConnect({ port: granted })) === 'ECONNREFUSED' ? true : undefined,
    );
    const start = await host.dmctl('mallory', 'web', 'start');
    assert.equal(start.code, 1);
    assert.match(start.stderr, /is not the loopback/);
    assert.equal(await tryConnect({ port: granted }), 'ECONNREFUSED');
  });

  // An outside review (20c, 2): mallory made her own daemon directory unreadable before
  // root's SIGHUP took the port back: her daemon listened on, through SIGHUPs and rescans.
  test('a port revoked at reload is taken back also while its owner keeps her files unreadable', async () => {
    host.writeDaemon(
      'mallory',
      'hidden',
      `start=${FIXTURES}/listen-report.sh\nlisten=tcp:0.0.0.0:${granted}\n`,
    );
    master(true);
    process.kill(host.managerPid(), 'SIGHUP');
    await host.waitForDaemon('mallory', 'mallory/hidden', (d) => d.state === 'running', 'to run');
    assert.equal(await tryConnect({ port: granted }), 'ok', 'a granted port is held');
    const dir = join(malloryHome(), '.daemon-manager/daemons');
    chmodSync(dir, 0);
    try {
      master(false);
      process.kill(host.managerPid(), 'SIGHUP');
      await host.waitForDaemon(
        'mallory',
        'mallory/hidden',
        (d) => d.state !== 'running',
        'to stop',
      );
      await waitFor('the port to be closed', async () =>
        (await tryConnect({ port: granted })) === 'ECONNREFUSED' ? true : undefined,
      );
    } finally {
      chmodSync(dir, 0o755);
    }
    rmSync(host.daemonFile('mallory', 'hidden'));
    await host.dmctl('mallory', 'rescan');
  });

  test('a port revoked while the manager was down is taken back at its start: the daemon taken over is stopped', async () => {
    host.writeDaemon(
      'mallory',
      'kept',
      `start=${FIXTURES}/listen-report.sh\nlisten=tcp:0.0.0.0:${granted}\n`,
    );
    master(true);
    process.kill(host.managerPid(), 'SIGHUP');
    const running = await host.waitForDaemon(
      'mallory',
      'mallory/kept',
      (d) => d.state === 'running',
      'to run',
    );
    assert.equal(await tryConnect({ port: granted }), 'ok');
    // kill -9: the keeper holds the daemon and its socket while no manager runs.
    const manager = host.managerPid();
    process.kill(manager, 'SIGKILL');
    await waitFor('the manager to go', () => (isAlive(manager) ? undefined : true));
    master(false);
    const from = host.managerLog.length;
    await host.startManager();
    await host.waitForDaemon('mallory', 'mallory/kept', (d) => d.pid === 0, 'to stop');
    assert.ok(!isAlive(running.pid), 'the daemon taken over is gone');
    await waitFor('the port to be closed', async () =>
      (await tryConnect({ port: granted })) === 'ECONNREFUSED' ? true : undefined,
    );
    assert.match(
      host.managerLog.slice(from),
      /mallory\/kept: refused now \(.*is not the loopback.*\); stopping it/,
    );
  });

  test("a socket's group is taken back when the owner leaves it: the daemon is stopped, the file removed", async () => {
    const group = host.group('team', ['mallory']);
    const path = join(malloryHome(), 'run', 'team.sock');
    host.writeDaemon(
      'mallory',
      'team',
      `start=${FIXTURES}/listen-report.sh\nlisten=unix:${path}\nlisten_group=${group}\n`,
    );
    await host.dmctl('mallory', 'rescan');
    await host.waitForDaemon('mallory', 'mallory/team', (d) => d.state === 'running', 'to run');
    assert.equal(await tryConnect({ path }), 'ok');
    execFileSync('gpasswd', ['-d', host.user('mallory').name, group], { stdio: 'ignore' });
    // Any request makes the manager read the groups again, and rescan everyone.
    const stopped = await host.waitForDaemon(
      'mallory',
      'mallory/team',
      (d) => d.state === 'broken' && d.pid === 0,
      'to stop, listed as broken',
    );
    assert.match(stopped.problem ?? '', /team\.conf:3: error: 'listen_group=\S+' refused/);
    await waitFor('the socket file to be removed', () => (existsSync(path) ? undefined : true));
  });

  test('a group given a moment before a start is the group of the socket that start makes', async () => {
    const path = join(malloryHome(), 'run', 'crew.sock');
    const conf = `start=${FIXTURES}/listen-report.sh\nlisten=unix:${path}\nautostart=no\n`;
    host.writeDaemon('mallory', 'crew', conf);
    await host.dmctl('mallory', 'rescan');
    host.writeDaemon('mallory', 'crew', `${conf}listen_group=${host.expand('{@crew}').slice(1)}\n`);
    // The start comes at once, before the manager has seen /etc change by itself: the
    // new rights judged the file, and the socket was made with the groups she had before
    // (the kernel refused it, and the daemon stayed down: a full run, once).
    const group = host.group('crew', ['mallory']);
    const reply = await ask(socketOf(host, 'mallory'), {
      command: 'start',
      id: host.id('mallory/crew'),
    });
    assert.equal(reply.ok, true, String(reply.error));
    await host.waitForDaemon('mallory', 'mallory/crew', (d) => d.state === 'running', 'to run');
    assert.equal(
      statSync(path).gid,
      Number(execFileSync('getent', ['group', group]).toString().split(':')[2]),
    );
    assert.equal((await host.dmctl('mallory', 'crew', 'stop')).code, 0);
  });

  test('one user holds at most 64 sockets: the start past them fails, others are not touched', async () => {
    const names = Array.from({ length: 5 }, (_, index) => `many${index}`);
    for (const [index, name] of names.entries()) {
      const lines = Array.from(
        { length: 16 },
        (_, line) => `listen=unix:${join(malloryHome(), 'run', `${name}-${line}.sock`)}`,
      );
      host.writeDaemon(
        'mallory',
        name,
        `start=sleep 3090${index}7\n${lines.join('\n')}\nautostart=no\n`,
      );
    }
    await host.dmctl('mallory', 'rescan');
    try {
      for (const name of names.slice(0, 4))
        assert.equal((await host.dmctl('mallory', name, 'start')).code, 0, `${name} starts`);
      const past = await host.dmctl('mallory', 'many4', 'start');
      assert.equal(past.code, 1, past.stdout);
      assert.match(past.stderr, /holds 64 listening sockets already, the most one user may/);
      await assertManagerAnswers(host, 'mallory', 'bob');
    } finally {
      for (const name of names) await host.dmctl('mallory', name, 'stop');
    }
  });

  test('daemon-manager --check reports the same refusals, with file and line', async () => {
    const result = await run([DAEMON_MANAGER, '--check'], ['--config', host.configFile]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, /sock\d+\.conf:2: error: 'listen=tcp:127\.0\.0\.1:1001' refused/);
    assert.match(result.stdout, /sock\d+\.conf:3: error: 'listen_group=\S+' refused/);
  });
});

/** One request on a control socket, with no dmctl started first; resolves to the reply. */
function ask(socket: string, request: object): Promise<{ ok?: boolean; error?: string }> {
  return new Promise((done, failed) => {
    const client = connect(socket);
    let reply = '';
    client.once('error', failed);
    client.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
    });
    client.once('end', () => done(JSON.parse(reply.split('\n')[0] ?? '{}')));
    client.write(`${JSON.stringify(request)}\n`);
  });
}
