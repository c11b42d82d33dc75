import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DAEMON_MANAGER, run, TestHost } from '../helpers/host.ts';
import { watchPaths } from '../security/support.ts';

/** Where a manager would create things with the default settings, or with the test's. */
const DEFAULT_PATHS = [
  '/etc/daemon-manager',
  '/etc/daemon-manager/daemons',
  '/var/log/daemon-manager',
  '/var/lib/daemon-manager',
  '/run/daemon-manager',
];

describe('daemon-manager --check validates everything and changes nothing', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  after(() => host.cleanup());

  const check = (...args: string[]) => run([DAEMON_MANAGER, '--check'], args);

  test('a config without [settings] is checked without creating a directory', async () => {
    host.user('alice');
    const good = host.writeDaemon('alice', 'web', 'start=exec sleep 100000\n');
    writeFileSync(host.configFile, host.expand('[can_run_as]\n{alice}\n'));
    chmodSync(host.configFile, 0o644);
    const home = host.user('alice').home;
    const watched = watchPaths([
      ...DEFAULT_PATHS,
      join(home, '.daemon-manager'),
      join(home, '.daemon-manager/daemons'),
      join(home, '.daemon-manager/logs'),
      good,
    ]);
    const result = await check('--config', host.configFile);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      new RegExp(
        `configuration OK \\(${host.configFile} and 1 daemon config of 2 users; 0 errors, 0 warnings\\)`,
      ),
    );
    watched.unchanged();
  });

  test('every problem of the master config and of every daemon config is printed; exit 1', async () => {
    host.user('bob');
    host.writeMaster('[can_run_as]\n{alice}\n{bob}\n{ghost}\n', 'colour = blue');
    const broken = host.writeDaemon(
      'alice',
      'broken',
      'start=exec x\noutput=loud\nautostart=maybe\n',
    );
    const typo = host.writeDaemon('bob', 'typo', 'start=exec x\nautostrat=no\n');
    const runAs = host.writeDaemon('bob', 'runas', 'start=exec x\nuser=nosuchuserdmt\n');
    const open = host.writeDaemon('bob', 'open', 'start=exec x\n', 0o646);
    const sockets = join(host.dir, 'run');
    const state = join(host.dir, 'state');
    const watched = watchPaths([...DEFAULT_PATHS, sockets, state, host.dir]);
    const result = await check('--config', host.configFile);
    assert.equal(result.code, 1, result.stdout);
    const lineOf = (text: string): number => host.readMaster().split('\n').indexOf(text) + 1;
    for (const expected of [
      `${host.configFile}:${lineOf('colour = blue')}: error: unknown setting 'colour'`,
      `${host.configFile}:${lineOf(host.expand('{ghost}'))}: warning: no such user '${host.expand('{ghost}')}'`,
      `${broken}:2: error: 'output' must be 'log' or 'discard', not 'loud'`,
      `${broken}:3: error: 'autostart' must be yes or no, not 'maybe'`,
      `${typo}:2: warning: unknown key 'autostrat' ignored`,
      `${runAs}:2: error: no such user 'nosuchuserdmt' (user=)`,
      `${open}: error: refused: is world-writable`,
    ])
      assert.ok(result.stdout.includes(expected), `${expected}\nin:\n${result.stdout}`);
    assert.match(result.stdout, /configuration has errors \(.*; 5 errors, 2 warnings\)\n$/);
    watched.unchanged();
  });

  test('a refused master config is reported and the check fails', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    chmodSync(host.configFile, 0o666);
    const result = await check('--config', host.configFile);
    assert.equal(result.code, 1);
    assert.ok(result.stdout.includes(`${host.configFile}: error: refused: is world-writable`));
    chmodSync(host.configFile, 0o644);
  });

  test('without root, --check is told to use --personal', async () => {
    const result = await run(
      ['runuser', '-u', host.user('alice').name, '--', DAEMON_MANAGER, '--check'],
      ['--config', host.configFile],
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /needs root; use --check --personal for your own/);
  });

  test('--check --personal checks the caller’s own files, as the caller, creating nothing', async () => {
    const home = host.user('bob').home;
    const watched = watchPaths([
      join(home, '.daemon-manager'),
      join(home, '.daemon-manager/state'),
    ]);
    const result = await run(
      ['runuser', '-u', host.user('bob').name, '--', DAEMON_MANAGER, '--check', '--personal'],
      [],
    );
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.ok(
      result.stdout.includes(
        `${join(home, '.daemon-manager/daemons/runas.conf')}:2: error: no such user`,
      ),
    );
    assert.doesNotMatch(result.stdout, /alice/, "only bob's own files");
    assert.match(result.stdout, /configuration has errors \(3 daemon configs of 1 user; /);
    watched.unchanged();
  });
});
