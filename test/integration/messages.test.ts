import assert from 'node:assert/strict';
import { chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, readWhen, showLogIfFailed, spawnDmctl } from '../helpers/cli.ts';
import { DAEMON_MANAGER, DMCTL, run, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const SLEEPER = 'start=exec sleep 100000\n';

describe('dmctl says what happened, and to whom it applies', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  const idsOf = async (short: string): Promise<string[]> =>
    (await host.status(short)).map((daemon) => daemon.id);

  before(async () => {
    host.user('bob');
    host.user('helpdesk');
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n[manages]\n{helpdesk}: {alice}\n');
    host.writeDaemon('alice', 'web', SLEEPER);
    host.writeDaemon('bob', 'web', SLEEPER);
    // 2,000 lines of 70 bytes: more than one piece of the log read through the manager.
    host.writeDaemon(
      'alice',
      'chatty',
      'start=i=1; while [ $i -le 2000 ]; do echo "line $i $(printf %060d 0)"; i=$((i+1)); done; exec sleep 100000\noutput=log\n',
    );
    await host.startManager();
    for (const id of ['alice/web', 'bob/web'])
      await host.waitForDaemon('root', id, (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('rescan says what it added, changed, removed and refused; a refusal exits 1', async () => {
    host.writeDaemon('alice', 'added', `${SLEEPER}autostart=no\n`);
    host.writeDaemon('alice', 'web', `${SLEEPER}export CHANGED=1\n`);
    const doomed = host.writeDaemon('alice', 'doomed', `${SLEEPER}autostart=no\n`);
    const first = await host.dmctl('alice', 'rescan');
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^added: ${host.id('alice/added')}$`, 'm'));
    assert.match(
      first.stdout,
      new RegExp(`^changed: ${host.id('alice/web')} \\(restarted\\)$`, 'm'),
    );
    rmSync(doomed);
    host.writeDaemon('alice', 'bad', 'start=exec x\noutput=loud\n');
    const second = await host.dmctl('alice', 'rescan');
    assert.equal(second.code, 1, 'a refused file makes rescan fail');
    assert.match(second.stdout, new RegExp(`^removed: ${host.id('alice/doomed')}`, 'm'));
    assert.match(second.stdout, new RegExp(`^refused: ${host.id('alice/bad')}$`, 'm'));
    assert.match(second.stderr, /bad\.conf:2: error: 'output' must be/);
    rmSync(host.daemonFile('alice', 'bad'));
    const third = await host.dmctl('alice', 'rescan');
    assert.equal(third.code, 0, third.stderr);
    // The refused file was listed (broken): its going is a change too.
    assert.match(third.stdout, new RegExp(`^removed: ${host.id('alice/bad')} `, 'm'));
    const fourth = await host.dmctl('alice', 'rescan');
    assert.equal(fourth.stdout, 'nothing changed\n');
  });

  test('a rescan of a directory that cannot be read says so and exits 1, not "nothing changed"', async () => {
    const dir = join(host.user('bob').home, '.daemon-manager', 'daemons');
    chmodSync(dir, 0o000);
    try {
      const rescan = await host.dmctl('bob', 'rescan');
      assert.equal(rescan.code, 1, rescan.stdout);
      assert.match(
        rescan.stdout,
        new RegExp(
          `^refused: the files of ${host.user('bob').name} \\(cannot list directory \\(EACCES\\): ${dir}\\)$`,
          'm',
        ),
      );
      assert.ok(
        (await idsOf('bob')).includes(host.id('bob/web')),
        'what runs stays: a directory that cannot be read says nothing of deleted files',
      );
    } finally {
      chmodSync(dir, 0o755);
    }
  });

  test("each caller sees their own problems, and a count of the others' with how to list them", async () => {
    const bad = host.writeDaemon('bob', 'bad', 'start=exec x\noutput=loud\n');
    await host.dmctl('bob', 'rescan');
    const root = await host.dmctl('root', 'status');
    assert.equal(root.code, 0, root.stderr);
    assert.doesNotMatch(root.stderr, /bad\.conf/, "root does not get bob's problems in full");
    assert.match(
      root.stderr,
      /^1 config problem in the files of 1 other user you manage: dmctl problems \[USER\] lists them$/m,
    );
    const bob = await host.dmctl('bob', 'status');
    assert.match(bob.stderr, new RegExp(`^${bad}:2: error: 'output' must be`, 'm'));
    assert.doesNotMatch(bob.stderr, /other user/);
    const listed = await host.dmctl('root', 'problems');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${bad}:2: error: 'output' must be`, 'm'));
    const ofBob = await host.dmctl('root', 'problems', host.user('bob').name);
    assert.match(ofBob.stdout, new RegExp(`^${bad}:2:`, 'm'));
    const ofAlice = await host.dmctl('root', 'problems', host.user('alice').name);
    assert.equal(ofAlice.stdout, '');
    const refused = await host.dmctl('alice', 'problems', host.user('bob').name);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not allowed: you may not manage the daemons of/);
    rmSync(bad);
    await host.dmctl('bob', 'rescan');
  });

  test('a daemon whose file was deleted goes away when it is stopped, without a rescan', async () => {
    const file = host.writeDaemon('alice', 'brief', SLEEPER);
    await host.dmctl('alice', 'rescan');
    await host.waitForDaemon('alice', 'alice/brief', (d) => d.state === 'running', 'to run');
    rmSync(file);
    const stop = await host.dmctl('alice', 'brief', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await waitFor('alice/brief to be forgotten', async () =>
      (await idsOf('alice')).includes(host.id('alice/brief')) ? undefined : true,
    );
  });

  test('with --json, errors are JSON on stdout too', async () => {
    const unknown = await host.dmctl('alice', '--json', 'nosuch', 'stop');
    assert.equal(unknown.code, 1);
    assert.deepEqual(JSON.parse(unknown.stdout), { ok: false, error: "unknown daemon 'nosuch'" });
    assert.equal(unknown.stderr, '');
    const usage = await host.dmctl('alice', '--json', '--frobnicate');
    assert.equal(usage.code, 2);
    assert.deepEqual(JSON.parse(usage.stdout), {
      ok: false,
      error: "unknown option '--frobnicate'",
    });
  });

  test('an unknown option is named as one, by dmctl and by daemon-manager', async () => {
    const dmctl = await host.dmctl('alice', 'web', 'stop', '--force');
    assert.equal(dmctl.code, 2);
    assert.match(dmctl.stderr, /^dmctl: unknown option '--force'$/m);
    const manager = await run([DAEMON_MANAGER], ['--frobnicate']);
    assert.equal(manager.code, 2, 'bad usage, as for dmctl');
    assert.match(manager.stderr, /^daemon-manager: unknown option '--frobnicate'$/m);
  });

  test('with no manager at the default place, dmctl says which socket it tried and how to point it elsewhere', async () => {
    // No --config and no DAEMON_MANAGER_CONFIG: the manager of this test is not found.
    const result = await run(
      ['runuser', '-u', host.user('alice').name, '--', 'env', '-u', 'DAEMON_MANAGER_CONFIG', DMCTL],
      ['status'],
    );
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /daemon-manager is not running, or root no longer lets \S+ run or manage daemons \(.*\): nothing answers on \/\S+\.sock/,
    );
    assert.match(result.stderr, /dmctl --config FILE, or DAEMON_MANAGER_CONFIG=FILE/);
    // Its socket may be gone with its rights, as a manager runs (an outside review, 64b, F6).
    assert.match(result.stderr, /a user's socket is there only while root lets them/);
  });

  // A review's `dmctl -c /root/.bashrc list` fell back to the personal manager and said
  // ENOENT of its socket: a config named on purpose is used, or refused with why.
  test('a master config named on purpose that cannot be used is an error naming why', async () => {
    // (One that does not exist means no system manager: the personal one is asked.)
    for (const [config, why] of [
      // Read by the caller, not its owner (an outside review, 74a, F3).
      [
        '/root/.bashrc',
        'refused: cannot be read by this account \\(uid \\d+\\) \\(permission denied\\)',
      ],
      ['/tmp', 'refused: is not a regular file'],
      // No master config at all: it said "not authorized" (74a, F3).
      [
        '/etc/passwd',
        'it is no master config of daemon-manager \\(no rule in \\[can_run_as\\] or \\[manages\\], and errors, the first: /etc/passwd:1: error: this line is outside any known section\\)',
      ],
    ] as const) {
      const result = await run(
        ['runuser', '-u', host.user('alice').name, '--', DMCTL],
        ['--config', config, 'status'],
      );
      assert.equal(result.code, 1, result.stdout);
      assert.match(result.stderr, new RegExp(`--config ${config} cannot be used: ${why}`));
    }
  });

  test('a help-desk tail of a log it cannot open starts at a whole line: the last 50', async () => {
    const log = join(host.user('alice').home, '.daemon-manager/logs/chatty.log');
    await readWhen(log, (text) => text.includes('line 2000 '), 'the chatty log to be complete');
    const tail = spawnDmctl(host, 'helpdesk', host.id('alice/chatty'), 'tail');
    try {
      const output = await waitFor(
        'tail to show line 2000',
        () => (tail.output().includes('line 2000 ') ? tail.output() : undefined),
        { describe: () => tail.output().slice(-500) },
      );
      const lines = output.trimEnd().split('\n');
      assert.equal(lines.length, 50, output.slice(0, 300));
      assert.match(lines[0] ?? '', /^line 1951 0{60}$/);
      assert.match(lines.at(-1) ?? '', /^line 2000 0{60}$/);
    } finally {
      await tail.stop();
    }
  });
});
