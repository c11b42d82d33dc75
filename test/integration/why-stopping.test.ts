import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/*
 * A start line with shell syntax runs in /bin/sh, which dash does not replace with the
 * last command: a stop's SIGTERM ended the shell, while the daemon it ran ignored it and
 * ran on until the SIGKILL of its stop_timeout. `why` said "killed by SIGTERM" of the
 * shell as the daemon's end, while it still ran, and after it.
 */
describe('a daemon that ignores SIGTERM under its shell', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const ready = (): string => join(host.user('alice').home, 'ready');

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon(
      'alice',
      'stubborn',
      `start=sh -c "trap '' TERM; echo > ${ready()}; while :; do sleep 0.1; done"; echo over\nstop_timeout=3s\n`,
    );
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => cleanUp(host));

  test('why says it is still stopping after SIGTERM, then that SIGKILL ended it', async () => {
    await waitFor('the daemon to ignore SIGTERM', () => (existsSync(ready()) ? true : undefined));
    const running = await host.waitForDaemon(
      'alice',
      'alice/stubborn',
      (d) => d.state === 'running',
      'to run',
    );
    assert.equal((await host.dmctl('alice', 'stubborn', 'stop')).code, 0);
    await waitFor('its shell to end on SIGTERM', () => (isAlive(running.pid) ? undefined : true));
    const stopping = await waitFor('why to tell the shell ended', async () => {
      const why = (await host.dmctl('alice', 'stubborn', 'why')).stdout;
      return why.includes(`pid ${running.pid} killed by SIGTERM`) ? why : undefined;
    });
    assert.match(stopping, /: stopping \(wanted down\), last exit: -/);
    assert.match(
      stopping,
      /killed by SIGTERM after \S+, while stopping; the rest of its run still runs/,
    );
    await host.waitForDaemon('alice', 'alice/stubborn', (d) => d.state === 'stopped', 'to stop');
    const stopped = (await host.dmctl('alice', 'stubborn', 'why')).stdout;
    assert.match(stopped, /: stopped \(wanted down\), last exit: SIGKILL/);
    assert.match(stopped, /the rest of pid \d+'s run killed by SIGKILL after \S+, while stopping/);
  });

  // An outside review (26a, F2): the manager killed (-9) between the shell's end and the
  // SIGKILL, the next manager sent the SIGKILL but never said the stop's end: `last-exit`
  // stayed `-` ("not ended yet") on a daemon shown stopped.
  test('across a kill -9 of the manager in the middle of it, the stop’s end is said all the same', async () => {
    const said = join(host.user('alice').home, 'said');
    host.writeDaemon(
      'alice',
      'logged',
      `start=sh -c "trap 'echo got TERM' TERM; echo > ${said}; while :; do sleep 0.1; done"\noutput=log\nstop_timeout=3s\n`,
    );
    assert.equal((await host.dmctl('alice', 'rescan')).code, 0);
    const running = await host.waitForDaemon(
      'alice',
      'alice/logged',
      (d) => d.state === 'running',
      'to run',
    );
    await waitFor('the daemon to trap SIGTERM', () => (existsSync(said) ? true : undefined));
    assert.equal((await host.dmctl('alice', 'logged', 'stop')).code, 0);
    await waitFor('its shell’s end saved', () =>
      !isAlive(running.pid) &&
      readFileSync(join(host.dir, 'state', 'state.json'), 'utf8').includes('"mainGone":true')
        ? true
        : undefined,
    );
    await host.killManager();
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/logged', (d) => d.state === 'stopped', 'to stop');
    const stopped = (await host.dmctl('alice', 'logged', 'why')).stdout;
    assert.match(stopped, /: stopped \(wanted down\), last exit: SIGKILL/);
    assert.match(stopped, /the rest of pid \d+'s run killed by SIGKILL after \S+, while stopping/);
  });

  // An outside review (27a, F3): the same with the keeper killed too: what survived was
  // stopped by the next manager, and `last-exit` stayed `-`.
  test('across a kill -9 of the manager and its keeper, the stop’s end is said too', async () => {
    const said = join(host.user('alice').home, 'said2');
    host.writeDaemon(
      'alice',
      'kept',
      `start=sh -c "trap '' TERM; echo > ${said}; while :; do sleep 0.1; done"\nstop_timeout=3s\n`,
    );
    await host.dmctl('alice', 'rescan');
    const running = await host.waitForDaemon(
      'alice',
      'alice/kept',
      (d) => d.state === 'running',
      'to run',
    );
    await waitFor('the daemon to ignore SIGTERM', () => (existsSync(said) ? true : undefined));
    assert.equal((await host.dmctl('alice', 'kept', 'stop')).code, 0);
    await waitFor('its shell’s end saved', () =>
      !isAlive(running.pid) &&
      readFileSync(join(host.dir, 'state', 'state.json'), 'utf8').includes('"mainExit"')
        ? true
        : undefined,
    );
    const keeper = host.keeperPid();
    await host.killManager();
    process.kill(keeper, 'SIGKILL');
    await waitFor('the keeper to die', () => (isAlive(keeper) ? undefined : true));
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/kept', (d) => d.state === 'stopped', 'to stop');
    const stopped = (await host.dmctl('alice', 'kept', 'why')).stdout;
    assert.match(stopped, /: stopped \(wanted down\), last exit: SIGKILL/);
    assert.match(stopped, /what survived of its run killed by SIGKILL/);
  });
});
