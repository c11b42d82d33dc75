import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type AccountAgain,
  endRun,
  killManager,
  logLines,
  makeAccountAgain,
  saved,
  UID_TALKER,
  writeDaemonAgain,
} from '../helpers/accounts.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/** Says a secret line after line, and ignores SIGTERM (its stop lasts until killed). */
const SECRET_TELLER = [
  'start=trap "" TERM; i=0; while :; do i=$((i+1)); echo "OLD-ACCOUNT-SECRET $i"; sleep 0.1; done',
  'output=log',
  'stop_timeout=120',
  '',
].join('\n');

/**
 * Makes every save of the manager's state fail from now on (EISDIR: a directory where it
 * writes its temporary files), as if the manager were killed before its next save, which
 * comes up to a second after a change; `undo` lets it save again. The state file stays as
 * it was: a daemon loaded meanwhile is in it with no owner's uid, or not at all.
 */
function holdStateSaves(host: TestHost): { undo: () => void } {
  const temporaries = ['state.json.tmp', 'state.json.tmp-async'].map((name) =>
    join(host.dir, 'state', name),
  );
  for (const path of temporaries) mkdirSync(path);
  return {
    undo: () => {
      for (const path of temporaries) rmSync(path, { recursive: true });
    },
  };
}

/** Loads `short`'s daemon `name` with a SIGHUP while no save can happen; its pid. */
async function loadUnsaved(host: TestHost, short: string, name: string, text: string) {
  const file = join(host.dir, 'state', 'state.json');
  await waitFor('the manager’s first save', () => (existsSync(file) ? true : undefined));
  const hold = holdStateSaves(host);
  const from = host.managerLog.length;
  host.writeDaemon(short, name, text);
  process.kill(host.managerPid(), 'SIGHUP');
  const { pid } = await host.waitForDaemon('root', `${short}/${name}`, (d) => d.pid > 0, 'to run');
  await waitFor('the manager to try to save the state and fail', () =>
    /cannot save the state/.test(host.managerLog.slice(from)) ? true : undefined,
  );
  assert.equal(saved(host, `${short}/${name}`), undefined, 'the daemon is in the state file');
  const manager = host.managerProcess();
  assert.ok(manager);
  await killManager(manager);
  hold.undo();
  return pid;
}

/**
 * SECURITY.md, open until now: a daemon loaded less than a second before a kill -9 of the
 * manager (a SIGHUP's rescan: the state is saved within a second) had no saved owner's
 * uid; its account deleted and made again under its name while no manager ran, the next
 * manager took the old account's run over as the new account's daemon: its pid in their
 * status, its output in their log, theirs to signal.
 */
describe('a daemon loaded just before a kill -9 of the manager, its owner made again while it is down', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let pid = 0;
  let again: AccountAgain | undefined;
  after(() => {
    endRun(pid, host.user('ann').uid);
    return host.cleanup();
  });

  test('the old account’s run is stopped, not handed to the new account', async () => {
    host.writeMaster('[can_run_as]\n{ann}\n');
    host.mkdirAs(host.user('ann'), join(host.user('ann').home, '.daemon-manager/daemons'));
    await host.startManager();
    pid = await loadUnsaved(host, 'ann', 'svc', SECRET_TELLER);
    again = makeAccountAgain(host, 'ann');
    writeDaemonAgain(again, 'svc', UID_TALKER);
    const from = host.managerLog.length;
    await host.startManager();
    const seen = await host.waitForDaemon('root', 'ann/svc', () => true, 'to be listed');
    assert.equal(seen.state, 'stopping', `the old run was taken over: ${JSON.stringify(seen)}`);
    assert.notEqual(seen.pid, pid, 'the old run’s pid is shown as the new account’s daemon');
    assert.match(
      host.managerLog.slice(from),
      /ann\/svc: its owner is another account now \(uid \d+, now \d+\)/,
    );
    const kill = await host.dmctl('ann', 'svc', 'kill', '-KILL');
    assert.notEqual(kill.code, 0, 'the new account signalled the old account’s run');
    assert.ok(existsSync(`/proc/${pid}`), `the old run (pid ${pid}) was to be stopping`);
    // Its end, sooner than the stop's SIGKILL after 120 s: the new account's daemon starts.
    process.kill(-pid, 'SIGKILL');
    const account = again;
    await waitFor(
      'the new account’s daemon to write its own line in its log',
      () => (logLines(account.home).includes(`written by uid ${account.uid}`) ? true : undefined),
      { timeoutMs: 60_000, describe: () => host.managerLog.split('\n').slice(-20).join('\n') },
    );
    const leaked = logLines(account.home).filter((line) => line.includes('OLD-ACCOUNT-SECRET'));
    assert.deepEqual(leaked, [], 'lines of the old account’s run in the new account’s log');
  });
});

/**
 * The account a daemon runs as (`user=`, granted in `[can_run_as]`), not its owner, made
 * again under its name while no manager ran: the run is of the old account's uid, not the
 * account of that name root lets the owner run as now. Neither the state file nor the
 * config says which uid a run was started as: the keeper's record of the run does.
 */
describe('a daemon’s run-as account made again while the manager is down', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let pid = 0;
  let started: { pid: number; uid: number } | undefined;
  after(() => {
    endRun(pid, host.user('bob').uid);
    // The new bob's run ignores SIGTERM too: not left to the manager's 120 s stop.
    if (started !== undefined) endRun(started.pid, started.uid);
    return host.cleanup();
  });

  test('its run of the old account’s uid is stopped, and it starts as the new one by itself', async () => {
    const { name } = host.user('bob');
    host.writeMaster('[can_run_as]\n{ann}: {bob}\n');
    host.mkdirAs(host.user('ann'), join(host.user('ann').home, '.daemon-manager/daemons'));
    await host.startManager();
    pid = await loadUnsaved(host, 'ann', 'svc', `user=${name}\n${SECRET_TELLER}`);
    const bob = makeAccountAgain(host, 'bob');
    const from = host.managerLog.length;
    await host.startManager();
    const seen = await host.waitForDaemon('root', 'ann/svc', () => true, 'to be listed');
    assert.equal(seen.state, 'stopping', `the old run was taken over: ${JSON.stringify(seen)}`);
    // Not a refusal: the grant names bob, who is there (outside review 10, B).
    assert.match(
      host.managerLog.slice(from),
      new RegExp(
        `ann/svc: its run-as account ${name} is another account now \\(uid ${host.user('bob').uid}, now ${bob.uid}\\); restarting it as the new one`,
      ),
    );
    assert.doesNotMatch(host.managerLog.slice(from), /may no longer run as/);
    assert.match((await host.dmctl('ann', 'svc', 'why')).stdout, /is another account now/);
    // It ignores SIGTERM: its end, sooner than the stop's SIGKILL after 120 s. The daemon
    // is still wanted up: it starts as the new bob with no `dmctl start`.
    process.kill(-pid, 'SIGKILL');
    const run = await host.waitForDaemon(
      'ann',
      'ann/svc',
      (d) => d.state === 'running' && d.pid > 0 && d.pid !== pid,
      'to start again by itself',
    );
    started = { pid: run.pid, uid: bob.uid };
    const status = readFileSync(`/proc/${run.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${bob.uid}\\s`, 'm'), 'not run as the new bob');
  });
});
