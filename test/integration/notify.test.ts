import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const CLIENT = join(FIXTURES, 'notify-daemon.py');

/**
 * Sends one datagram as whoever runs it; prints `sent` or the error's class and errno.
 * With a pid, it names that pid in SCM_CREDENTIALS itself: a forgery the kernel refuses.
 */
const SEND = `
import os, socket, struct, sys
path, text, forged = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    if forged:
        creds = struct.pack('3i', forged, os.getuid(), os.getgid())
        s.sendmsg([text.encode()], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)], 0, path)
    else:
        s.sendto(text.encode(), path)
    print('sent')
except OSError as error:
    print(type(error).__name__, error.errno)
`;

/** A variable of a living process's environment (read as root). */
function environOf(pid: number, name: string): string | undefined {
  const entries = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  return entries.find((entry) => entry.startsWith(`${name}=`))?.slice(name.length + 1);
}

describe('ready=notify and watchdog= (sd_notify)', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const dir = (): string => host.user('alice').home;

  before(async () => {
    host.user('bob');
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n');
    host.writeDaemon(
      'alice',
      'notified',
      `start=exec python3 ${CLIENT} ready ${dir()}\nready=notify\nautostart=no\noutput=log\n`,
    );
    host.writeDaemon(
      'alice',
      'late',
      `start=exec python3 ${CLIENT} ready ${dir()} late-go\nready=notify\nautostart=no\n`,
    );
    host.writeDaemon(
      'alice',
      'pinger',
      `start=exec python3 ${CLIENT} ping ${dir()}\nwatchdog=2s\nautostart=no\n`,
    );
    host.writeDaemon(
      'alice',
      'flood',
      `start=exec python3 ${CLIENT} flood ${dir()}\nready=notify\nautostart=no\n`,
    );
    const fast = join(host.dir, 'notify-fast');
    execFileSync('cc', ['-o', fast, join(FIXTURES, 'notify-fast.c')]);
    host.writeDaemon('alice', 'fast', `start=exec ${fast}\nready=notify\nautostart=no\n`);
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('READY=1 from the daemon makes it ready; nobody else can say it for it', async () => {
    assert.equal((await host.dmctl('alice', 'notified', 'start')).code, 0);
    const starting = await host.waitForDaemon(
      'alice',
      'alice/notified',
      (d) => d.state === 'starting' && d.status !== undefined,
      'to be starting with a STATUS=',
    );
    // The control characters it sent reach dmctl escaped, in JSON and in the table.
    assert.equal(starting.status, 'warming up\\x1b[2J\\x9b\\r');
    const table = await host.dmctl('alice', 'status');
    assert.match(table.stdout, /warming up\\x1b\[2J\\x9b\\r/);
    assert.ok(!table.stdout.includes('\u001b'), 'no raw ESC reaches the terminal');

    const path = environOf(starting.pid, 'NOTIFY_SOCKET') ?? '';
    assert.ok(path.startsWith(join(host.dir, 'run', 'notify')), path);
    const socket = statSync(path);
    assert.deepEqual([socket.uid, socket.mode & 0o777], [host.user('alice').uid, 0o700]);

    // Another user: the kernel refuses the send (the socket is alice's, mode 0700).
    const bob = await host.runAs('bob', ['python3', '-c', SEND, path, 'READY=1', '0']);
    assert.equal(bob.stdout.trim(), 'PermissionError 13', bob.stderr);
    // Alice's own process outside the daemon, naming the daemon's pid in its text: the
    // kernel lets it through, the manager reads the kernel's credentials and ignores it.
    const from = host.managerLog.length;
    const text = `READY=1\nMAINPID=${starting.pid}\nSTATUS=forged`;
    const outsider = await host.runAs('alice', ['python3', '-c', SEND, path, text, '0']);
    assert.equal(outsider.stdout.trim(), 'sent', outsider.stderr);
    await waitFor('the manager to ignore the outsider', () =>
      /notified: sd_notify: ignored 1 message, the last because pid \d+ \(uid \d+\) is not a process of its run/.test(
        host.managerLog.slice(from),
      )
        ? true
        : undefined,
    );
    // Naming the daemon's pid in the credentials themselves: the kernel refuses (EPERM).
    const forged = await host.runAs('alice', [
      'python3',
      '-c',
      SEND,
      path,
      'READY=1',
      String(starting.pid),
    ]);
    assert.equal(forged.stdout.trim(), 'PermissionError 1', forged.stderr);
    const still = await host.waitForDaemon('alice', 'alice/notified', () => true, 'known');
    assert.deepEqual([still.state, still.status], ['starting', 'warming up\\x1b[2J\\x9b\\r']);

    writeFileSync(join(dir(), 'go'), '');
    const ready = await host.waitForDaemon(
      'alice',
      'alice/notified',
      (d) => d.state === 'running',
      'to be ready',
    );
    assert.deepEqual([ready.pid, ready.status], [starting.pid, 'serving']);
    const why = await host.dmctl('alice', 'notified', 'why');
    assert.match(why.stdout, /ready \(notify\) after /);
  });

  test('a READY=1 sent before the keeper reports the pid counts (checked in its cgroup)', async () => {
    assert.equal((await host.dmctl('alice', 'fast', 'start')).code, 0);
    const fast = await host.waitForDaemon(
      'alice',
      'alice/fast',
      (d) => d.state === 'running',
      'to be ready',
    );
    assert.equal(fast.status, 'fast');
    assert.equal((await host.dmctl('alice', 'fast', 'stop', '--wait')).code, 0);
  });

  test('RELOADING=1 shows it reloading until its next READY=1', async () => {
    const running = await host.waitForDaemon(
      'alice',
      'alice/notified',
      (d) => d.state === 'running',
      'to run',
    );
    assert.equal((await host.dmctl('alice', 'notified', 'kill', '-HUP')).code, 0);
    await host.waitForDaemon(
      'alice',
      'alice/notified',
      (d) => d.state === 'reloading' && d.status === 'reloading',
      'to be reloading',
    );
    writeFileSync(join(dir(), 'reloaded'), '');
    const reloaded = await host.waitForDaemon(
      'alice',
      'alice/notified',
      (d) => d.state === 'running' && d.status === 'serving again',
      'to be done reloading',
    );
    assert.equal(reloaded.pid, running.pid);
    const why = await host.dmctl('alice', 'notified', 'why');
    assert.match(why.stdout, /RELOADING=1: it is reloading/);
    assert.match(why.stdout, /READY=1: done reloading/);
    assert.equal((await host.dmctl('alice', 'notified', 'stop', '--wait')).code, 0);
  });

  test('a daemon still starting at an upgrade keeps its socket: its READY=1 reaches the new manager', async () => {
    assert.equal((await host.dmctl('alice', 'late', 'start')).code, 0);
    const before_ = await host.waitForDaemon(
      'alice',
      'alice/late',
      (d) => d.state === 'starting' && d.status !== undefined,
      'to be starting',
    );
    const from = host.managerLog.length;
    process.kill(host.managerPid(), 'SIGUSR2');
    await waitFor('the upgrade', () =>
      /upgrade done: the manager runs as pid \d+ now/.test(host.managerLog.slice(from))
        ? true
        : undefined,
    );
    writeFileSync(join(dir(), 'late-go'), '');
    const ready = await host.waitForDaemon(
      'alice',
      'alice/late',
      (d) => d.state === 'running',
      'to be ready',
    );
    assert.deepEqual([ready.pid, ready.status], [before_.pid, 'serving']);
    assert.equal((await host.dmctl('alice', 'late', 'stop', '--wait')).code, 0);
  });

  test('a daemon that stops pinging its watchdog is restarted, counted and shown', async () => {
    writeFileSync(join(dir(), 'ping'), '');
    assert.equal((await host.dmctl('alice', 'pinger', 'start')).code, 0);
    const first = await host.waitForDaemon(
      'alice',
      'alice/pinger',
      (d) => d.state === 'running' && d.pid > 0,
      'to run',
    );
    assert.equal(environOf(first.pid, 'WATCHDOG_USEC'), '2000000');
    assert.equal(first.unhealthy, 0);
    rmSync(join(dir(), 'ping'));
    const failed = await host.waitForDaemon(
      'alice',
      'alice/pinger',
      (d) => (d.unhealthy ?? 0) >= 1,
      'to miss its watchdog',
    );
    assert.match(failed.lastExit ?? '', /^unhealthy: no WATCHDOG=1 for 2s/);
    await waitFor('the hung process to be gone', () => (isAlive(first.pid) ? undefined : true));
    const why = await host.dmctl('alice', 'pinger', 'why');
    assert.match(why.stdout, /unhealthy: no WATCHDOG=1 for 2s .*stopping it \(1 so far\)/);
    const table = await host.dmctl('alice', 'status');
    assert.match(table.stdout, /pinger .* \d+ unhealthy/);
    assert.equal((await host.dmctl('alice', 'pinger', 'stop', '--wait')).code, 0);
  });

  test('a flood of messages pauses its socket, and the manager goes on answering', async () => {
    const from = host.managerLog.length;
    assert.equal((await host.dmctl('alice', 'flood', 'start')).code, 0);
    await waitFor('the manager to pause the flood', () =>
      /flood: more than 50 sd_notify messages a second; not read for 1s/.test(
        host.managerLog.slice(from),
      )
        ? true
        : undefined,
    );
    const flood = await host.waitForDaemon(
      'alice',
      'alice/flood',
      (d) => d.state === 'running',
      'to be ready (its READY=1 came first)',
    );
    assert.match(flood.status ?? '', /^flood \d+$/);
    assert.equal((await host.dmctl('alice', 'flood', 'stop', '--wait')).code, 0);
  });

  test("one user's many daemons flooding together are paused by the user's rate", async () => {
    const flooder = join(host.dir, 'notify-flood');
    execFileSync('cc', ['-O2', '-o', flooder, join(FIXTURES, 'notify-flood.c')]);
    execFileSync('chmod', ['755', host.dir, flooder]);
    // Each daemon stays within its own rate once paused; 30 of them read at 50 4-KiB
    // messages a second each are past the user's 1,000 messages or 64 KiB together.
    for (let index = 0; index < 30; index++)
      host.writeDaemon('bob', `f${index}`, `start=exec ${flooder} 2000 0\nready=notify\n`);
    const from = host.managerLog.length;
    assert.equal((await host.dmctl('bob', 'rescan')).code, 0);
    await waitFor("the user's rate to pause them", () =>
      /its user's daemons sent more than 1000 sd_notify messages or 64 KiB a second together; not read for \d+s/.test(
        host.managerLog.slice(from),
      )
        ? true
        : undefined,
    );
    // Said once for the user, not for each daemon paused.
    assert.equal(host.managerLog.slice(from).split("its user's daemons sent").length - 1, 1);
    await waitFor('every READY=1 read in the end', async () =>
      (await host.status('bob')).every((daemon) => daemon.state === 'running') ? true : undefined,
    );
    for (let index = 0; index < 30; index++) rmSync(host.daemonFile('bob', `f${index}`));
    await host.dmctl('bob', 'rescan');
    for (let index = 0; index < 30; index++) await host.dmctl('bob', `f${index}`, 'stop');
  });
});
