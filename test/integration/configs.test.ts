import assert from 'node:assert/strict';
import {
  chownSync,
  lchownSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { cleanUp, dmctlWithEnv, readWhen, showLogIfFailed } from '../helpers/cli.ts';
import { type CommandResult, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const SLEEPER = 'start=exec sleep 100000\n';

/** Pieces of /etc/shadow that must never be shown: whole lines and everything after the name. */
function shadowSecrets(): string[] {
  const secrets: string[] = [];
  for (const line of readFileSync('/etc/shadow', 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    secrets.push(line);
    const afterName = line.slice(line.indexOf(':'));
    if (afterName.length >= 8) secrets.push(afterName);
    const hash = line.split(':')[1] ?? '';
    if (hash.length >= 4) secrets.push(hash);
  }
  return secrets;
}

describe('daemon config files', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const host = new TestHost();
  const outputs = (...results: CommandResult[]): string =>
    results.map((result) => result.stdout + result.stderr).join('\n');
  const idsOf = async (short: string): Promise<string[]> =>
    (await host.status(short)).map((daemon) => daemon.id);
  /** The status row of a daemon, as `short` sees it. */
  const rowOf = async (short: string, id: string): Promise<DaemonStatus | undefined> =>
    (await host.status(short)).find((daemon) => daemon.id === host.id(id));

  before(async () => {
    host.user('bob');
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n');
    host.writeDaemon('alice', 'base', SLEEPER);
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/base', (d) => d.state === 'running', 'to run');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('a config owned by another user is refused, naming the file and why', async () => {
    const file = host.daemonFile('alice', 'foreign');
    host.writeDaemon('alice', 'foreign', SLEEPER);
    chownSync(file, host.user('bob').uid, host.user('bob').gid);
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 1, 'a rescan that refused a file exits non-zero');
    const problem = `${file}: error: refused: is owned by uid ${host.user('bob').uid}, not by ${host.user('alice').name}`;
    assert.ok(rescan.stderr.includes(problem), rescan.stderr);
    assert.match(rescan.stdout, new RegExp(`^refused: ${host.id('alice/foreign')}$`, 'm'));
    const row = await rowOf('alice', 'alice/foreign');
    assert.equal(row?.state, 'broken', 'listed as broken, not run');
    assert.equal(row?.problem, problem);
    rmSync(file);
  });

  test('a world-writable config is refused, naming the file and why', async () => {
    const file = host.writeDaemon('alice', 'open', SLEEPER, 0o646);
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 1);
    assert.ok(rescan.stderr.includes(`${file}: error: refused: is world-writable`), rescan.stderr);
    const status = await host.dmctl('alice', 'status');
    assert.ok(status.stderr.includes(`${file}: error: refused: is world-writable`), status.stderr);
    assert.match(
      status.stdout,
      new RegExp(`^${host.id('alice/open')} +broken .* refused: is world-writable$`, 'm'),
    );
    rmSync(file);
  });

  test('a config that is a symlink to /etc/shadow is refused and never shown', async () => {
    const file = host.daemonFile('alice', 'secret');
    symlinkSync('/etc/shadow', file);
    lchownSync(file, host.user('alice').uid, host.user('alice').gid);
    try {
      const rescan = await host.dmctl('alice', 'rescan');
      assert.ok(
        rescan.stderr.includes(`${file}: error: refused: is a symbolic link`),
        rescan.stderr,
      );
      const results = [
        rescan,
        await host.dmctl('alice', 'status'),
        await host.dmctl('alice', '--json', 'status'),
        await host.dmctl('root', 'status'),
        await host.dmctl('alice', 'secret', 'start'),
        await host.dmctl('alice', 'secret', 'log'),
        await host.dmctl('alice', 'secret', 'status'),
      ];
      const row = await rowOf('root', 'alice/secret');
      assert.equal(row?.state, 'broken');
      assert.equal(
        row?.problem,
        `${file}: error: refused: is a symbolic link; config files must be regular files`,
      );
      const seen = `${outputs(...results)}\n${host.managerLog}`;
      const secrets = shadowSecrets();
      assert.ok(secrets.length > 0, '/etc/shadow has something to leak');
      for (const secret of secrets)
        assert.ok(!seen.includes(secret), 'a piece of /etc/shadow was shown');
    } finally {
      unlinkSync(file);
    }
  });

  test('a config with errors names file:line of every problem at once', async () => {
    const file = host.writeDaemon(
      'alice',
      'broken',
      [
        'start=exec sleep 100000',
        'dir=relative/path',
        'output=loud',
        'this line has no equals sign',
        'stop_timeout=soon',
        '',
      ].join('\n'),
    );
    const rescan = await host.dmctl('alice', 'rescan');
    for (const [line, what] of [
      [2, "'dir' must be an absolute path"],
      [3, "'output' must be 'log' or 'discard'"],
      [4, "expected 'key=value'"],
      [5, "'stop_timeout' must be a duration"],
    ] as const)
      assert.ok(rescan.stderr.includes(`${file}:${line}: error: ${what}`), rescan.stderr);
    const row = await rowOf('alice', 'alice/broken');
    assert.equal(row?.state, 'broken', 'a broken config stays listed, never run');
    assert.equal(row?.pid, 0);
    assert.match(row?.problem ?? '', new RegExp(`^${file}:2: error: 'dir' must be`));
    rmSync(file);
  });

  test('an unknown key is warned about through dmctl and the daemon still runs', async () => {
    const file = host.writeDaemon('alice', 'typo', `${SLEEPER}autostrat=no\n`);
    const warning = `${file}:2: warning: unknown key 'autostrat'`;
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    assert.ok(rescan.stderr.includes(warning), rescan.stderr);
    const status = await host.dmctl('alice', 'status');
    assert.equal(status.code, 0, status.stderr);
    assert.ok(status.stderr.includes(warning), status.stderr);
    await host.waitForDaemon('alice', 'alice/typo', (d) => d.state === 'running', 'to run');
  });

  test('rescan picks up a new config and starts it; autostart=no stays stopped', async () => {
    host.writeDaemon('alice', 'fresh', SLEEPER);
    host.writeDaemon('alice', 'quiet', `${SLEEPER}autostart=no\n`);
    assert.ok(!(await idsOf('alice')).includes(host.id('alice/fresh')), 'not before the rescan');
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    await host.waitForDaemon('alice', 'alice/fresh', (d) => d.state === 'running', 'to run');
    const quiet = (await host.status('alice')).find((d) => d.id === host.id('alice/quiet'));
    assert.equal(quiet?.state, 'stopped');
    assert.equal(quiet?.pid, 0);
  });

  test("a deleted config's daemon disappears once it is stopped", async () => {
    const file = host.writeDaemon('alice', 'doomed', SLEEPER);
    await host.dmctl('alice', 'rescan');
    const running = await host.waitForDaemon(
      'alice',
      'alice/doomed',
      (d) => d.state === 'running',
      'to run',
    );
    rmSync(file);
    await host.dmctl('alice', 'rescan');
    const still = (await host.status('alice')).find((d) => d.id === host.id('alice/doomed'));
    assert.equal(still?.state, 'running', 'a running daemon is kept until it stops');
    assert.equal(still?.pid, running.pid);
    const stop = await host.dmctl('alice', 'doomed', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await waitFor('alice/doomed to disappear', async () =>
      (await idsOf('alice')).includes(host.id('alice/doomed')) ? undefined : true,
    );
    assert.ok(!isAlive(running.pid));
    const stopped = host.writeDaemon('alice', 'stopped', `${SLEEPER}autostart=no\n`);
    await host.dmctl('alice', 'rescan');
    assert.ok((await idsOf('alice')).includes(host.id('alice/stopped')));
    rmSync(stopped);
    await host.dmctl('alice', 'rescan');
    assert.ok(!(await idsOf('alice')).includes(host.id('alice/stopped')), 'a stopped one at once');
  });

  test('a changed config is re-read on start, without a rescan', async () => {
    const marker = join(host.user('alice').home, 'changed.txt');
    const config = (word: string): string =>
      `start=echo ${word} > ${marker}; exec sleep 100000\nautostart=no\n`;
    host.writeDaemon('alice', 'changing', config('first'));
    await host.dmctl('alice', 'rescan');
    assert.equal((await host.dmctl('alice', 'changing', 'start')).code, 0);
    await readWhen(marker, (text) => text === 'first\n');
    assert.equal((await host.dmctl('alice', 'changing', 'stop')).code, 0);
    await host.waitForDaemon('alice', 'alice/changing', (d) => d.state === 'stopped', 'to stop');
    host.writeDaemon('alice', 'changing', config('second'));
    const start = await host.dmctl('alice', 'changing', 'start');
    assert.equal(start.code, 0, start.stderr);
    await readWhen(marker, (text) => text === 'second\n');
  });

  test('start refuses a config that became invalid, naming file and line', async () => {
    const file = host.writeDaemon('alice', 'spoiled', `${SLEEPER}autostart=no\n`);
    await host.dmctl('alice', 'rescan');
    host.writeDaemon('alice', 'spoiled', `${SLEEPER}output=everywhere\n`);
    const start = await host.dmctl('alice', 'spoiled', 'start');
    assert.notEqual(start.code, 0);
    assert.ok(start.stderr.includes(`${file}:2: error: 'output'`), start.stderr);
    const daemon = (await host.status('alice')).find((d) => d.id === host.id('alice/spoiled'));
    assert.equal(daemon?.state, 'broken', 'stopped, and its config says why it cannot start');
    assert.match(daemon?.problem ?? '', new RegExp(`^${file}:2: error: 'output'`));
    rmSync(file);
  });

  test('edit runs $EDITOR on a private copy, saves it as the owner, loads it', async () => {
    const file = host.writeDaemon('alice', 'edited', SLEEPER);
    await host.dmctl('alice', 'rescan');
    const before = await host.waitForDaemon(
      'alice',
      'alice/edited',
      (d) => d.state === 'running',
      'to run',
    );
    const editor = join(host.dir, 'append-editor.sh');
    // The editor records the path it was given, so the test can tell it was not the config.
    writeFileSync(
      editor,
      `#!/bin/sh\necho "$1" > ${host.user('alice').home}/edited-path\necho "export EDITED=yes" >> "$1"\n`,
      { mode: 0o755 },
    );
    const edit = await dmctlWithEnv(host, 'alice', { EDITOR: editor }, 'edited', 'edit');
    assert.equal(edit.code, 0, edit.stderr);
    assert.match(edit.stdout, new RegExp(`^saved ${file}$`, 'm'));
    assert.match(
      edit.stdout,
      new RegExp(`^changed: ${host.id('alice/edited')} \\(restarted\\)$`, 'm'),
    );
    assert.notEqual(
      readFileSync(join(host.user('alice').home, 'edited-path'), 'utf8').trim(),
      file,
    );
    assert.equal(readFileSync(file, 'utf8'), `${SLEEPER}export EDITED=yes\n`);
    const after = await host.waitForDaemon(
      'alice',
      'alice/edited',
      (d) => d.state === 'running' && d.pid !== before.pid,
      'to be restarted with the edited config',
    );
    const environ = readFileSync(`/proc/${after.pid}/environ`, 'latin1').split('\0');
    assert.ok(environ.includes('EDITED=yes'), environ.join(' '));
  });
});
