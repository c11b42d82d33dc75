import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnCollecting } from '../helpers/cli.ts';
import { type CommandResult, FIXTURES, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
/** Changes of /etc/passwd in the burst: a user's chfn in a loop makes as many. */
const CHANGES = 100;

/** The pids hold-children.ts stopped so far. */
function heldPids(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
}

/**
 * Any user's chfn rewrites /etc/passwd, and the manager reads the users again each time:
 * with `getent` run synchronously, a slow name service (LDAP, sssd; here a real getent
 * held stopped) held the whole manager, and nobody's requests were answered.
 */
describe('changes of /etc/passwd in a burst', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();

  before(async () => {
    host.group('ops', ['alice']);
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n{@ops}\n');
    host.writeDaemon('bob', 'web', 'start=exec sleep 6000611\n');
    await host.startManager();
    await host.waitForDaemon('root', 'bob/web', (d) => d.state === 'running', 'to run');
  });
  after(() => host.cleanup());

  test("bob is answered all through 100 changes of alice's account, the manager waiting on no getent", async () => {
    const held = join(host.dir, 'held-getents');
    const done = join(host.dir, 'hold-done');
    // Any getent the manager runs is stopped at once, as a name service that hangs.
    const holder = spawnCollecting([
      process.execPath,
      join(FIXTURES, 'hold-children.ts'),
      String(host.managerPid()),
      'getent',
      held,
      done,
    ]);
    await waitFor('the holder of getents to begin', () => (existsSync(held) ? true : undefined));
    const alice = host.user('alice').name;
    const from = host.managerLog.length;
    const burst = spawnCollecting([
      'bash',
      '-c',
      `for i in $(seq ${CHANGES}); do usermod -c "burst $i" ${alice} || exit 1; done`,
    ]);
    let over = false;
    burst.child.once('exit', () => {
      over = true;
    });
    let answers = 0;
    try {
      while (!over) {
        let answered: CommandResult | undefined;
        void host.dmctl('bob', 'status').then((result) => {
          answered = result;
        });
        const result = await waitFor(
          `an answer to bob's status during the burst (${answers} so far)`,
          () => answered,
          {
            timeoutMs: 30_000,
            describe: () =>
              `getent runs of the manager held: ${heldPids(held).join(' ') || 'none'}`,
          },
        );
        assert.equal(result.code, 0, result.stderr);
        answers++;
      }
    } finally {
      writeFileSync(done, '');
      await holder.stop();
      for (const pid of heldPids(held)) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // Gone.
        }
      }
      await burst.stop();
    }
    assert.equal(burst.child.exitCode, 0, burst.output());
    assert.deepEqual(heldPids(held), [], 'the manager ran getent for a change of /etc/passwd');
    const reloads = host.managerLog
      .slice(from)
      .split('\n')
      .filter((line) => line.includes('users and groups changed: rights applied again')).length;
    process.stderr.write(
      `# ${answers} answers to bob and ${reloads} reads of the users during ${CHANGES} changes\n`,
    );
    assert.ok(answers > 0);
    assert.ok(reloads < CHANGES, `${reloads} reads of the users for ${CHANGES} changes`);
  });

  test('a change after the burst still gives rights at once', async () => {
    const dave = host.user('dave');
    const socket = join(host.dir, 'run', `${dave.name}.sock`);
    execFileSync('usermod', ['-a', '-G', host.expand('{@ops}').slice(1), dave.name]);
    await waitFor('dave’s socket', () => (existsSync(socket) ? true : undefined));
    assert.equal((await host.dmctl('dave', 'status')).code, 0);
  });
});
