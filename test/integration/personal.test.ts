import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  readWhen,
  type Spawned,
  showLogIfFailed,
  spawnPersonal,
  uidOfPid,
} from '../helpers/cli.ts';
import { type CommandResult, DMCTL, FIXTURES, run, TestHost } from '../helpers/host.ts';
import { isAlive, livePidsOfUid } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

/** How many times the fast daemons are started. */
const FAST_RUNS = 15;

const DEFAULT_MASTER_CONFIGS = [
  '/etc/daemon-manager/daemon-manager.conf',
  '/etc/daemon-manager.conf',
];

describe('personal mode: a user runs their own manager', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let manager: Spawned | undefined;
  let managerPid = 0;
  const report = (): string => join(host.user('alice').home, 'report.txt');

  /** dmctl as alice with no --config; `env` decides how it looks for a master config. */
  const dmctl = (env: readonly string[], ...args: string[]): Promise<CommandResult> =>
    run(['runuser', '-u', host.user('alice').name, '--', 'env', ...env, DMCTL], args);
  const personal = (...args: string[]): Promise<CommandResult> =>
    dmctl(['-u', 'DAEMON_MANAGER_CONFIG'], '--personal', ...args);
  const statusOf = async (name: string): Promise<Record<string, unknown> | undefined> => {
    const result = await personal('--json', 'status');
    assert.equal(result.code, 0, result.stderr);
    const daemons = JSON.parse(result.stdout) as Record<string, unknown>[];
    return daemons.find((daemon) => daemon.name === name);
  };

  before(async () => {
    host.user('bob');
    host.writeDaemon('alice', 'site', `start=exec ${FIXTURES}/report.sh ${report()}\n`);
    host.writeDaemon(
      'alice',
      'borrowed',
      `start=exec sleep 100000\nuser=${host.user('bob').name}\nautostart=no\n`,
    );
    host.writeDaemon('alice', 'flash', 'start=echo "flash $$"; exit 1\noutput=log\nautostart=no\n');
    host.writeDaemon('alice', 'missing', 'start=no_such_program_dm\noutput=log\nautostart=no\n');
    assert.ok(!existsSync(host.configFile), 'no master config in this sandbox');
    manager = spawnPersonal(host, 'alice');
    const running = manager;
    managerPid = await waitFor(
      'the personal manager to say it runs',
      () => {
        const match = / running, pid (\d+)/.exec(running.output());
        return match ? Number(match[1]) : undefined;
      },
      { describe: () => running.output() },
    );
  });
  afterEach(showLogIfFailed(() => manager?.output() ?? ''));
  after(async () => {
    await manager?.stop();
    await host.cleanup();
  });

  test("the personal manager runs the user's daemons from ~/.daemon-manager/daemons", async () => {
    const text = await readWhen(report(), (content) => content.includes('end\n'));
    const alice = host.user('alice');
    assert.match(text, new RegExp(`^id: uid=${alice.uid}\\(${alice.name}\\)`, 'm'));
    assert.equal(uidOfPid(managerPid), alice.uid, 'the manager itself is not root');
    const site = await waitFor('alice/site to run', async () => {
      const daemon = await statusOf('site');
      return daemon?.state === 'running' ? daemon : undefined;
    });
    assert.equal(site.id, `${alice.name}/site`);
    assert.equal(uidOfPid(Number(site.pid)), alice.uid);
  });

  test('dmctl --personal status and control talk to the personal manager', async () => {
    const status = await personal('status');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^daemon-id\s+state\s+pid/);
    assert.match(status.stdout, new RegExp(`^${host.user('alice').name}/site\\s+running`, 'm'));
    const before = await statusOf('site');
    const restart = await personal('site', 'restart');
    assert.equal(restart.code, 0, restart.stderr);
    await waitFor('alice/site to run with a new pid', async () => {
      const daemon = await statusOf('site');
      return daemon?.state === 'running' && daemon.pid !== before?.pid ? true : undefined;
    });
  });

  test('without a master config, dmctl finds the personal manager on its own', async (t) => {
    const missing = join(host.dir, 'no-such-master.conf');
    const explicit = await dmctl([`DAEMON_MANAGER_CONFIG=${missing}`], 'list');
    assert.equal(explicit.code, 0, explicit.stderr);
    assert.equal(
      explicit.stdout,
      ['borrowed', 'flash', 'missing', 'site']
        .map((name) => `${host.user('alice').name}/${name}\n`)
        .join(''),
    );
    if (DEFAULT_MASTER_CONFIGS.some((path) => existsSync(path))) {
      t.skip('a master config exists at a default path on this machine');
      return;
    }
    const defaults = await dmctl(['-u', 'DAEMON_MANAGER_CONFIG'], 'list');
    assert.equal(defaults.code, 0, defaults.stderr);
    assert.equal(defaults.stdout, explicit.stdout);
  });

  test('a daemon with user= someone else is refused', async () => {
    const start = await personal('borrowed', 'start');
    assert.notEqual(start.code, 0);
    assert.match(
      start.stderr,
      new RegExp(`user '${host.user('bob').name}' is not allowed for '${host.user('alice').name}'`),
    );
    const row = await statusOf('borrowed');
    assert.equal(row?.state, 'broken', 'not started, and listed with why');
    assert.match(String(row?.problem), /borrowed\.conf:\d+: error: user '.*' is not allowed/);
    assert.deepEqual(livePidsOfUid(host.user('bob').uid), [], 'nothing runs as bob');
  });

  test('edit NEW creates a daemon through the personal manager too', async () => {
    const editor = join(host.dir, 'personal-editor.sh');
    writeFileSync(editor, '#!/bin/sh\nsed -i \'s/^#start=.*/start=exec sleep 100001/\' "$1"\n', {
      mode: 0o755,
    });
    const edit = await dmctl(
      ['-u', 'DAEMON_MANAGER_CONFIG', `EDITOR=${editor}`],
      '--personal',
      'made',
      'edit',
    );
    assert.equal(edit.code, 0, edit.stderr);
    assert.match(edit.stdout, new RegExp(`^added: ${host.user('alice').name}/made$`, 'm'));
    await waitFor('alice/made to run', async () =>
      (await statusOf('made'))?.state === 'running' ? true : undefined,
    );
  });

  test('daemons that exit at once lose no line, not even why they could not run', async () => {
    const logOf = (name: string): string =>
      join(host.user('alice').home, `.daemon-manager/logs/${name}.log`);
    for (let round = 0; round < FAST_RUNS; round++) {
      assert.equal((await personal('flash', 'start')).code, 0);
      // Not a program: the shell the keeper falls back to says so, in the daemon's log.
      assert.equal((await personal('missing', 'start')).code, 0);
    }
    const count = (name: string, pattern: RegExp): number =>
      readFileSync(logOf(name), 'utf8')
        .split('\n')
        .filter((line) => pattern.test(line)).length;
    await waitFor(`${FAST_RUNS} lines of each`, () =>
      count('flash', /^flash \d+$/) >= FAST_RUNS &&
      count('missing', /no_such_program_dm: not found/) >= FAST_RUNS
        ? true
        : undefined,
    );
  });

  test('SIGTERM stops the personal manager and its daemons', async () => {
    const site = await statusOf('site');
    assert.ok(isAlive(Number(site?.pid)));
    process.kill(managerPid, 'SIGTERM');
    const exited = manager?.child;
    const code = await new Promise<number | null>((resolve) => {
      if (exited?.exitCode !== null) resolve(exited?.exitCode ?? null);
      else exited.once('exit', (exitCode) => resolve(exitCode));
    });
    assert.equal(code, 0, manager?.output());
    assert.deepEqual(livePidsOfUid(host.user('alice').uid), [], 'no process of alice left');
  });
});
