import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, runManagerExpectingExit, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';

describe('the master config', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const host = new TestHost();
  const sockets = (): string => join(host.dir, 'run');
  /** The 1-based number of the first line of the master config that equals `text`. */
  const lineOf = (text: string): number =>
    readFileSync(host.configFile, 'utf8').split('\n').indexOf(text) + 1;

  before(() => {
    host.user('alice');
    host.writeDaemon('alice', 'site', 'start=exec sleep 100000\n');
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('a master config not owned by root is refused, naming the file and why', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    chownSync(host.configFile, host.user('alice').uid, 0);
    const result = await runManagerExpectingExit(host);
    assert.notEqual(result.code, 0);
    assert.ok(
      result.stderr.includes(
        `${host.configFile}: error: refused: is owned by uid ${host.user('alice').uid}, not by root`,
      ),
      result.stderr,
    );
    assert.ok(!existsSync(sockets()), 'no socket directory was made');
    chownSync(host.configFile, 0, 0);
  });

  for (const [mode, what] of [
    [0o664, 'group-writable'],
    [0o646, 'world-writable'],
  ] as const) {
    test(`a ${what} master config is refused, naming the file and why`, async () => {
      host.writeMaster('[can_run_as]\n{alice}\n');
      chmodSync(host.configFile, mode);
      const result = await runManagerExpectingExit(host);
      assert.notEqual(result.code, 0);
      assert.ok(
        result.stderr.includes(`${host.configFile}: error: refused: is ${what}`),
        result.stderr,
      );
      assert.ok(!existsSync(sockets()));
    });
  }

  test('errors in the master config are all reported with file and line', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n[bogus]\n{alice}: root\n', 'colour = blue\nnoequals');
    writeFileSync(host.configFile, `stray line\n${readFileSync(host.configFile, 'utf8')}`);
    const file = host.configFile;
    const result = await runManagerExpectingExit(host);
    assert.notEqual(result.code, 0);
    for (const expected of [
      `${file}:1: error: this line is outside any known section`,
      `${file}:${lineOf('colour = blue')}: error: unknown setting 'colour'`,
      `${file}:${lineOf('noequals')}: error: expected 'key = value' in [settings]`,
      `${file}:${lineOf('[bogus]')}: error: unknown section [bogus]`,
    ])
      assert.ok(result.stderr.includes(expected), `${expected}\nin:\n${result.stderr}`);
    assert.ok(!existsSync(sockets()));
  });

  test('the old section name [runs_as] is accepted with a warning', async () => {
    host.writeMaster('[runs_as]\n{alice}\n');
    await host.startManager();
    assert.ok(
      host.managerLog.includes(
        `${host.configFile}:${lineOf('[runs_as]')}: warning: [runs_as] is the old name`,
      ),
      host.managerLog,
    );
    await host.waitForDaemon('alice', 'alice/site', (d) => d.state === 'running', 'to run');
  });
});
