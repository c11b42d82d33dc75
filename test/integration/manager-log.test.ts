import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { readWhen, showLogIfFailed, spawnCollecting } from '../helpers/cli.ts';
import { DatagramReceiver } from '../helpers/datagrams.ts';
import { DAEMON_MANAGER, FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive, livePidsOfUid } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

/** CPU time (user + system, in clock ticks of 10 ms) a process has used so far. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Resolves with the exit code once the child has exited. */
function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe("the manager's own log", { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const host = new TestHost();
  const ownLog = join(host.dir, 'state', 'daemon-manager.log');
  let manager: ChildProcess | undefined;
  let stderrSeen = '';

  before(() => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'sleeper', 'start=exec sleep 100000\n');
  });
  afterEach(showLogIfFailed(() => `stderr: ${stderrSeen}\nown log: ${readOwnLog()}`));
  // Each test leaves no manager behind, whatever happened in it: the next one starts its own.
  afterEach(async () => {
    if (manager?.pid !== undefined && isAlive(manager.pid)) {
      manager.kill('SIGKILL');
      await exitOf(manager);
    }
    rmSync(ownLog, { force: true });
  });
  after(async () => {
    if (manager?.pid !== undefined && isAlive(manager.pid)) manager.kill('SIGKILL');
    await host.cleanup();
  });

  const readOwnLog = (): string => {
    try {
      return readFileSync(ownLog, 'utf8');
    } catch {
      return '';
    }
  };

  /** Starts the manager in the foreground with its stderr on a pipe this test holds. */
  async function startWithStderrPipe(): Promise<ChildProcess> {
    stderrSeen = '';
    const child = spawn(DAEMON_MANAGER, ['--config', host.configFile, '-f', '-v'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    manager = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      stderrSeen += chunk.toString();
    });
    await waitFor('the manager to say it runs', () =>
      / running, pid /.test(stderrSeen) ? true : undefined,
    );
    return child;
  }

  test('a closed stderr: the log goes on in its own file, without spinning, and SIGTERM works', async () => {
    const child = await startWithStderrPipe();
    const pid = child.pid ?? 0;
    // `daemon-manager -f 2>&1 | head -1`: the reader goes away.
    child.stderr?.destroy();
    const rescan = await host.dmctl('root', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    const text = await readWhen(ownLog, (log) => /audit: root: rescan: ok/.test(log));
    assert.match(
      text,
      new RegExp(`log: cannot write to stderr \\(EPIPE\\); logging to ${ownLog} from now on`),
    );
    for (let i = 0; i < 3; i++) assert.equal((await host.dmctl('alice', 'status')).code, 0);
    // The bug this guards against wrote EPIPE errors in a loop at 80-95% of a core. An
    // idle manager uses next to nothing: over 2 s, even under heavy load, far below 1 s.
    const before = cpuTicks(pid);
    await delay(2_000);
    const used = cpuTicks(pid) - before;
    assert.ok(used < 100, `the manager used ${used * 10} ms of CPU in 2 s`);
    assert.equal(readOwnLog().match(/log: cannot write/g)?.length, 1, 'the switch is said once');
    assert.doesNotMatch(readOwnLog(), /unexpected: /);
    child.kill('SIGTERM');
    assert.equal(await exitOf(child), 0);
    assert.deepEqual(livePidsOfUid(host.user('alice').uid), [], 'its daemon was stopped');
    assert.match(readOwnLog(), /all daemons stopped; exiting/);
  });

  test('`daemon-manager -f 2>&1 | head -1`: a real pipe whose reader exits', async () => {
    const pidfile = join(host.dir, 'manager.pid');
    const pipeline = spawnCollecting([
      'sh',
      '-c',
      `${DAEMON_MANAGER} --config ${host.configFile} -f -v --pidfile ${pidfile} 2>&1 | head -1`,
    ]);
    try {
      const pid = Number(await readWhen(pidfile, (text) => /^\d+\n$/.test(text)));
      const rescan = await host.dmctl('root', 'rescan');
      assert.equal(rescan.code, 0, rescan.stderr);
      const text = await readWhen(ownLog, (log) => /audit: root: rescan: ok/.test(log));
      assert.match(text, /log: cannot write to stderr \(EPIPE\); logging to /);
      assert.equal(pipeline.output().split('\n').length, 2, 'head printed one line');
      process.kill(pid, 'SIGTERM');
      await waitFor('the manager to exit after SIGTERM', () => (isAlive(pid) ? undefined : true));
      assert.match(readOwnLog(), /all daemons stopped; exiting/);
    } finally {
      await pipeline.stop();
    }
  });

  test('a stderr nobody reads: requests are answered, then the own file takes over', async () => {
    // A config with many unknown keys, new ones before each rescan: each rescan logs a
    // warning per key (problems are logged when they appear).
    const writeNoisy = (round: number): void => {
      const noise = Array.from({ length: 90 }, (_, i) => `key_${round}_${i}=${'x'.repeat(80)}`);
      host.writeDaemon(
        'alice',
        'noisy',
        `start=exec sleep 100000\nautostart=no\n${noise.join('\n')}\n`,
      );
    };
    writeNoisy(0);
    const child = await startWithStderrPipe();
    // A reader that stopped reading: the pipe fills and stays full.
    child.stderr?.pause();
    for (let i = 1; i <= 12; i++) {
      writeNoisy(i);
      const rescan = await host.dmctl('root', 'rescan');
      assert.equal(rescan.code, 0, `rescan ${i} answered while the log is full: ${rescan.stderr}`);
    }
    await readWhen(
      ownLog,
      (log) => log.includes('log: stderr took no line for 10 s; logging to'),
      'the manager to give up on the full stderr',
    );
    assert.equal((await host.dmctl('alice', 'status')).code, 0);
    child.kill('SIGTERM');
    assert.equal(await exitOf(child), 0);
  });

  test('--syslog sends to syslog with the daemon facility, and each level its severity', async () => {
    const syslog = await DatagramReceiver.open(join(host.dir, 'syslog.sock'));
    try {
      const run = spawnCollecting([
        DAEMON_MANAGER,
        '--config',
        host.configFile,
        '-f',
        `--syslog=${syslog.path}`,
      ]);
      manager = run.child;
      const line = await syslog.waitFor('the manager to say it runs, in syslog', (m) =>
        / running, pid /.test(m),
      );
      const pid = run.child.pid ?? 0;
      assert.match(
        line,
        new RegExp(`^<30>daemon-manager\\[${pid}\\]: daemon-manager running, pid ${pid}$`),
      );
      assert.equal(run.output(), '', 'nothing on stderr');
      run.child.kill('SIGTERM');
      assert.equal(await exitOf(run.child), 0);
      await syslog.waitFor('the last words', (m) => m.endsWith('all daemons stopped; exiting'));
    } finally {
      syslog.close();
    }
  });

  test('under systemd: READY=1 once it runs, the journal with priorities, RELOADING and STOPPING', async () => {
    // systemd's side: a notify socket, the journal's socket at its fixed path (a tmpfs on
    // /run in a mount namespace of this test's own), stderr a stream named by JOURNAL_STREAM.
    const script = [
      'mount -t tmpfs tmpfs /run',
      'mkdir -p /run/systemd/journal',
      `exec python3 ${FIXTURES}/fake-systemd.py ${host.dir}/notify.sock /run/systemd/journal/socket "$@"`,
    ].join(' && ');
    const systemd = spawnCollecting([
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      script,
      'sh',
      DAEMON_MANAGER,
      '--config',
      host.configFile,
      '--foreground',
    ]);
    let pid = 0;
    try {
      await waitFor('the manager to start', () =>
        /^pid \d+$/m.test(systemd.output()) ? true : undefined,
      );
      pid = Number(/^pid (\d+)$/m.exec(systemd.output())?.[1]);
      const seen = (kind: string): string[] =>
        systemd
          .output()
          .split('\n')
          .filter((line) => line.startsWith(`${kind} `))
          .map((line) => Buffer.from(line.slice(kind.length + 1), 'hex').toString());
      const waitForRecord = (kind: string, what: string, match: (text: string) => boolean) =>
        waitFor(what, () => seen(kind).find(match), { describe: () => systemd.output() });
      await waitForRecord('notify', 'READY=1', (text) =>
        text.startsWith('READY=1\nSTATUS=running'),
      );
      const running = await waitForRecord('journal', 'the journal to hear it runs', (text) =>
        text.includes('MESSAGE=daemon-manager running'),
      );
      assert.match(running, /^PRIORITY=6\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=daemon-manager\n/);
      process.kill(pid, 'SIGHUP');
      await waitForRecord('notify', 'RELOADING=1', (text) => text === 'RELOADING=1');
      await waitFor('READY=1 after the reload', () =>
        seen('notify').filter((text) => text === 'READY=1').length === 1 ? true : undefined,
      );
      process.kill(pid, 'SIGTERM');
      await waitForRecord('notify', 'STOPPING=1', (text) => text === 'STOPPING=1');
      await waitFor(
        'the manager to exit 0',
        () => (/^exit 0$/m.test(systemd.output()) ? true : undefined),
        {
          describe: () => systemd.output(),
        },
      );
      assert.deepEqual(seen('stderr'), [], 'nothing went to the stream: the journal had it all');
    } finally {
      if (pid !== 0 && isAlive(pid)) process.kill(pid, 'SIGKILL');
      await systemd.stop();
    }
  });
});
