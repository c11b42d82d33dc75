import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitForDeath } from '../helpers/cli.ts';
import { DAEMON_MANAGER, run, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';
import { assertManagerAnswers, attack, clientOutcome, socketOf } from '../security/support.ts';

const MAX = 16 * 1024;

/**
 * In the background the manager writes its own log, state-dir/daemon-manager.log, and
 * rotates it at log-max-size like a daemon's: what users make it log (every refused
 * request is an audit line) cannot fill the disk.
 */
describe("the manager's own log rotates", {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const log = (): string => join(host.dir, 'state', 'daemon-manager.log');
  const pidfile = (): string => join(host.dir, 'manager.pid');
  let pid = 0;

  before(async () => {
    // Both accounts made before the manager starts: bob, made when first named (after the
    // upgrade), was seen once /etc/passwd settled, and part of his requests found no socket.
    host.user('bob');
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n', `log-max-size = ${MAX}\nlog-keep = 2`);
    host.writeDaemon('alice', 'web', 'start=exec sleep 7000001\n');
    const started = await run(
      [DAEMON_MANAGER],
      ['--config', host.configFile, '--pidfile', pidfile()],
    );
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, new RegExp(`running in the background, pid \\d+; log: ${log()}`));
    pid = Number(
      await waitFor('the pidfile', () =>
        existsSync(pidfile()) ? readFileSync(pidfile(), 'utf8').trim() || undefined : undefined,
      ),
    );
  });
  after(async () => {
    if (pid !== 0 && isAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      await waitForDeath(pid, 'the background manager');
    }
    await host.cleanup();
  });

  test('past log-max-size the log becomes .1, .2, never more than log-keep files', async () => {
    // 800 refused requests: 800 audit lines, several times log-max-size.
    const request = Buffer.from('{"command":"stop","id":"nosuch"}\n').toString('base64');
    const spam = await attack(host, 'alice', 'spam', socketOf(host, 'alice'), '800', request);
    assert.equal(clientOutcome(spam.stdout).answered, 800);
    await waitFor('a second rotation', () => (existsSync(`${log()}.2`) ? true : undefined));
    for (const file of [log(), `${log()}.1`, `${log()}.2`]) {
      const size = statSync(file).size;
      assert.ok(size <= MAX, `${file} is ${size} bytes`);
      assert.match(
        readFileSync(file, 'utf8'),
        /^(\S+ (info|warn|debug|error) .*\n)+$/,
        'whole lines',
      );
    }
    assert.equal(existsSync(`${log()}.3`), false, 'log-keep = 2');
    assert.equal((statSync(log()).mode & 0o777).toString(8), '600');
    await assertManagerAnswers(host, 'alice');
    assert.match(
      readFileSync(log(), 'utf8'),
      /audit: \S+alice: stop "nosuch": refused: unknown daemon 'nosuch'\n/,
      'the newest line is in the current file',
    );
  });

  test('after an upgrade, the log is the same file and still rotates', async () => {
    // The background manager's stderr is the log it started with, .1 or .2 by now, or
    // deleted: the new code must write daemon-manager.log all the same.
    const upgraded = (): boolean => readFileSync(log(), 'utf8').includes('upgrade done');
    process.kill(pid, 'SIGUSR2');
    // Said by the old manager, in the file it has open: the new one may have rotated it
    // to .1 just before (both write it during the handover).
    const said = (): boolean =>
      [log(), `${log()}.1`].some(
        (file) => existsSync(file) && readFileSync(file, 'utf8').includes('upgrade done'),
      );
    await waitFor('the upgrade to be done, in the log', () => (said() ? true : undefined));
    pid = Number(readFileSync(pidfile(), 'utf8').trim());
    const request = Buffer.from('{"command":"stop","id":"after"}\n').toString('base64');
    // Another user's: alice's lines are past what one user's may be at once (UserLines).
    const spam = await attack(host, 'bob', 'spam', socketOf(host, 'bob'), '800', request);
    assert.equal(clientOutcome(spam.stdout).answered, 800);
    await waitFor('the new code to rotate', () => (upgraded() ? undefined : true));
    for (const file of [log(), `${log()}.1`, `${log()}.2`]) {
      const size = statSync(file).size;
      assert.ok(size <= MAX, `${file} is ${size} bytes`);
    }
    assert.match(readFileSync(log(), 'utf8'), /stop "after": refused: unknown daemon 'after'\n$/);
    assert.deepEqual(
      readdirSync(join(host.dir, 'state')).filter((name) => name.includes('deleted')),
      [],
    );
  });
});

/**
 * An outside review (42c, F2, 4 of 4): of two managers started in the background at once,
 * the one that lost printed the end of the log it shares with the winner as its failure,
 * the winner's lines ("started the keeper of daemons") among it.
 */
describe('two managers started in the background at once', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  test('the one that loses says only why it does not start', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 7000002\n');
    const pidfile = join(host.dir, 'manager.pid');
    for (let round = 0; round < 3; round++) {
      const both = await Promise.all(
        [0, 1].map(() =>
          run([DAEMON_MANAGER], ['--config', host.configFile, '--pidfile', pidfile]),
        ),
      );
      const pid = Number(
        await waitFor('the pidfile', () =>
          existsSync(pidfile) ? readFileSync(pidfile, 'utf8').trim() || undefined : undefined,
        ),
      );
      try {
        const lost = both.find((result) => result.code !== 0);
        assert.ok(lost !== undefined, `one of the two is refused: ${JSON.stringify(both)}`);
        assert.match(lost.stderr, /another manager is already running/);
        assert.doesNotMatch(lost.stderr, /the end of|\d{4}-\d\d-\d\dT/, lost.stderr);
      } finally {
        process.kill(pid, 'SIGTERM');
        await waitForDeath(pid, 'the background manager');
      }
    }
  });
});
