import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { readWhen, spawnCollecting } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';
import { socketOf } from './support.ts';

const skip = process.getuid?.() !== 0 && 'needs root';
const PASS = join(FIXTURES, 'pass-lingering-socket.py');

/**
 * An outside review (36b, F6, High): a user passed the manager a TCP socket with SO_LINGER
 * and unsent data, with a request on their control socket, or with READY=1 on the notify
 * socket of a daemon of theirs. Its last close ran on the manager's thread (read() drops
 * what it does not ask for, and the notify reader closed what it got), which waited in the
 * kernel for the whole linger time: nobody's dmctl answered, nothing respawned. The
 * manager's sockets refuse passed descriptors (SO_PASSRIGHTS, on this kernel).
 */
describe('a lingering socket passed to the manager', { skip }, () => {
  const host = new TestHost();

  before(async () => {
    host.user('mallory'); // made before the manager starts, so it has a control socket
    host.writeMaster('[can_run_as]\n{mallory}\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6903500\n');
    await host.startManager();
    await host.waitForDaemon('root', 'alice/web', (d) => d.pid > 0, 'to run');
  });
  after(() => host.cleanup());

  /**
   * Runs the attacker as mallory (`mode` and `path`: see the fixture) until the test ends;
   * resolves with what it says became of the socket it passed: `sent` or `refused`.
   */
  const attack = async (t: TestContext, mode: string, path: string): Promise<string> => {
    const attacker = spawnCollecting([
      'runuser',
      '-u',
      host.user('mallory').name,
      '--',
      PASS,
      mode,
      path,
    ]);
    t.after(() => attacker.stop());
    // (A Python start on a loaded machine may take a while: seen over 15 s in a full run.)
    return waitFor(
      'the attacker to say what became of it',
      () => /^(sent|refused)$/m.exec(attacker.output())?.[1],
      { timeoutMs: 60_000, describe: () => attacker.output() },
    );
  };

  test('on a control socket: refused by the kernel, and others are answered', async (t) => {
    assert.equal(await attack(t, 'stream', socketOf(host, 'mallory')), 'refused');
    const status = await host.dmctl('alice', 'status');
    assert.equal(status.code, 0, status.stderr);
  });

  test("on a daemon's notify socket: refused by the kernel, and the daemon is ready", async () => {
    const log = join(host.user('mallory').home, '.daemon-manager/logs/pass.log');
    host.writeDaemon('mallory', 'pass', `start=exec ${PASS} notify\nready=notify\noutput=log\n`);
    assert.equal((await host.dmctl('mallory', 'rescan')).code, 0);
    const text = await readWhen(log, (written) => /^(sent|refused)$/m.test(written));
    assert.match(text, /^refused$/m);
    await host.waitForDaemon('mallory', 'mallory/pass', (d) => d.state === 'running', 'ready');
    const status = await host.dmctl('alice', 'status');
    assert.equal(status.code, 0, status.stderr);
    assert.equal((await host.dmctl('mallory', 'pass', 'stop')).code, 0);
  });

  // An outside review (39a, F1, High): the same socket passed into mallory's daemon's own
  // listen=unix: socket, which the manager and its keeper hold (a daemon that never
  // accepts, as any while it is down): its stop closed the held socket, and the last close
  // of the lingering one waited on the manager's thread (or the keeper's) for the linger
  // time. Passed descriptors are the daemon's to take there; held sockets are closed aside.
  // The next (42a, F1, High): passed as a unix socket's out-of-band byte (MSG_OOB), on the
  // held socket itself or inside a unix socket passed there, it was not taken: 8 of 8
  // let-gos held the manager or the keeper for the linger time.
  for (const [way, mode, index] of [
    ['', 'stream', 1],
    [', as its out-of-band byte', 'stream-oob', 2],
    [', inside a unix socket as that one’s out-of-band byte', 'pair-oob', 3],
  ] as const)
    test(`in a daemon's held listen socket${way}: its stop holds nobody up`, async (t) => {
      const name = `held${index}`;
      const path = join(host.user('mallory').home, `${name}.sock`);
      host.writeDaemon(
        'mallory',
        name,
        `start=exec sleep ${6903500 + index}\nlisten=unix:${path}\n`,
      );
      assert.equal((await host.dmctl('mallory', 'rescan')).code, 0);
      await host.waitForDaemon('mallory', `mallory/${name}`, (d) => d.pid > 0, 'to run');
      assert.equal(await attack(t, mode, path), 'sent');
      const web = await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
      assert.equal((await host.dmctl('mallory', name, 'stop')).code, 0);
      // Its linger is 120 s: alice's daemon, killed, is respawned long before.
      process.kill(web.pid, 'SIGKILL');
      await host.waitForDaemon(
        'alice',
        'alice/web',
        (d) => d.pid > 0 && d.pid !== web.pid,
        'to respawn',
      );
      const status = await host.dmctl('alice', 'status');
      assert.equal(status.code, 0, status.stderr);
    });
});
