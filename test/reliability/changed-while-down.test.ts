import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { makeAccountAgain } from '../helpers/accounts.ts';
import { cleanUp, showLogIfFailed, uidOfPid } from '../helpers/cli.ts';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { freePort, listenReports, tryConnect } from '../helpers/sockets.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;

/**
 * A daemon's file edited while its manager was down (a kill -9, its keeper alive): the
 * next manager takes the run over as it is, says that it runs with the config it was
 * started with, and the next rescan restarts it, as for any change. An outside review:
 * a `listen=` line added meanwhile was held by the next manager but never given to the
 * daemon, and a rescan said nothing changed.
 */
describe('a config file changed while the manager was down', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const logOf = (name: string): string =>
    join(host.user('alice').home, '.daemon-manager', 'logs', `${name}.log`);
  const start = `start=exec ${FIXTURES}/listen-report.sh\noutput=log\n`;
  afterEach(showLogIfFailed(() => host.managerLog));
  // Each test starts its own manager: one a failed test left running is stopped.
  afterEach(() => host.stopManager());
  after(() => cleanUp(host));

  /** kill -9 of the manager alone: the keeper holds its daemons. */
  async function killManager(): Promise<void> {
    const manager = host.managerProcess();
    const exited = new Promise((resolve) => manager?.once('exit', resolve));
    manager?.kill('SIGKILL');
    await exited;
  }

  /**
   * kill -9 of the manager once its state holds the run of `pid` with the config it was
   * started with (saved within a second of its start): killed before, it is a run the save
   * does not know, taken for a run of its file as it is at the takeover (a full run of the
   * tests, under load: "changed meanwhile" was not said, and the run restarted).
   */
  async function killManagerSaved(pid: number): Promise<void> {
    await waitFor('the run saved', () =>
      readFileSync(join(host.dir, 'state/state.json'), 'utf8').includes(`${pid}`)
        ? true
        : undefined,
    );
    await killManager();
  }

  async function pidOf(name: string): Promise<number> {
    const daemon = await host.waitForDaemon(
      'alice',
      `alice/${name}`,
      (d) => d.state === 'running',
      'to run',
    );
    return daemon.pid;
  }

  test('a listen= line added meanwhile: taken over as it runs, said, and applied by the next rescan', async () => {
    const port = await freePort();
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', start);
    await host.startManager();
    const before = await pidOf('web');
    await killManagerSaved(before);
    host.writeDaemon('alice', 'web', `${start}listen=tcp:127.0.0.1:${port}\n`);
    const from = host.managerLog.length;
    await host.startManager();
    assert.equal(await pidOf('web'), before, 'taken over, not restarted');
    assert.match(
      host.managerLog.slice(from),
      /web: its config file changed before this manager took it over: it runs with the config it was started with/,
    );
    const why = await host.dmctl('alice', 'web', 'why');
    assert.match(why.stdout, /changed before this manager took it over/);
    // `start` leaves it running, and says with what.
    const started = await host.dmctl('alice', 'web', 'start');
    assert.match(started.stdout, /with the config it was started with/);

    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    assert.match(rescan.stdout, /changed: .*web \(restarted\)/);
    const report = await waitFor('the new run to report its sockets', () =>
      listenReports(logOf('web')).find((entry) => entry.pid !== before),
    );
    assert.equal(report.fds, '1');
    assert.equal(report.fd3, 'socket');
    assert.equal(await tryConnect({ port }), 'ok');
    await host.stopManager();
  });

  test('only comments changed meanwhile: no change, nothing restarted', async () => {
    host.writeDaemon('alice', 'web', start);
    await host.startManager();
    const before = await pidOf('web');
    await killManagerSaved(before);
    host.writeDaemon('alice', 'web', `# a note\n${start}\n# another\n`);
    await host.startManager();
    assert.equal(await pidOf('web'), before);
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    assert.match(rescan.stdout, /nothing changed/);
    assert.equal(await pidOf('web'), before);
    await host.stopManager();
  });

  // Outside reviews (22a, F3; 22c, 6): the file put back as the run was started with, the
  // next rescan restarted the daemon as "changed".
  test('changed meanwhile, then put back as its run was started with: kept as it runs', async () => {
    host.writeDaemon('alice', 'web', start);
    await host.startManager();
    const before = await pidOf('web');
    await killManagerSaved(before);
    host.writeDaemon('alice', 'web', `${start}umask=027\n`);
    await host.startManager();
    assert.equal(await pidOf('web'), before);
    host.writeDaemon('alice', 'web', start);
    const from = host.managerLog.length;
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, rescan.stderr);
    assert.equal(await pidOf('web'), before);
    assert.match(
      host.managerLog.slice(from),
      /web: its config file is back as its run was started with: kept as it runs/,
    );
    assert.doesNotMatch(host.managerLog.slice(from), /web: config changed/);
    await host.stopManager();
  });

  // An outside review (25a, F1): a file changed into one refused (a port root does not
  // give), then a kill -9: the run was stopped at the takeover, left down. (A file broken
  // meanwhile stops its run, as documented: no config claims it.) And (25a, F2, hunted
  // further): read before the kill -9 (`dmctl start` of the running daemon, a rescan),
  // the refused file was kept as the user's config, and the run stopped all the same.
  for (const read of ['not read', 'read by start', 'read by a rescan'] as const)
    test(`changed into a refused file before a kill -9, ${read}: taken over, going on as started`, async () => {
      host.writeMaster('[can_run_as]\n{alice}\n');
      host.writeDaemon('alice', 'web', start);
      await host.startManager();
      const before = await pidOf('web');
      // The state saved with the run's config (a save follows its start within a second).
      await waitFor('the run saved', () =>
        readFileSync(join(host.dir, 'state/state.json'), 'utf8').includes(`${before}`)
          ? true
          : undefined,
      );
      host.writeDaemon('alice', 'web', `${start}listen=tcp:0.0.0.0:1\n`);
      if (read === 'read by start') {
        const started = await host.dmctl('alice', 'web', 'start');
        assert.match(
          started.stdout,
          /already running, with the config it was started with \(its config file is refused: .*listen=tcp:0\.0\.0\.0:1/,
        );
        // A restart asked for is refused: what runs is not stopped for a file that cannot start.
        const restarted = await host.dmctl('alice', 'web', 'restart');
        assert.notEqual(restarted.code, 0);
        assert.match(
          restarted.stderr,
          /web is not restarted: its config file is refused \(.*\); it goes on with the config it was started with/,
        );
        assert.equal(await pidOf('web'), before, 'not restarted');
      }
      if (read === 'read by a rescan') await host.dmctl('alice', 'rescan');
      // The configs as read are kept (a write in the background) before the kill -9.
      await waitFor('the configs kept', () =>
        read === 'not read' ||
        readFileSync(join(host.dir, 'state/configs', `${host.user('alice').name}.json`), 'utf8')
          .length > 0
          ? true
          : undefined,
      );
      await killManager();
      const from = host.managerLog.length;
      await host.startManager();
      assert.equal(await pidOf('web'), before, 'taken over, not stopped');
      assert.doesNotMatch(host.managerLog.slice(from), /web: refused now/);
      await host.stopManager();
    });

  /** The command line of a process, its words joined by spaces ('' once it is gone). */
  const commandOf = (pid: number): string => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ');
    } catch {
      return '';
    }
  };

  // An outside review (26a, F1): a run restarted onto a new config while the state could
  // not be saved (a full state directory), its file then changed into a refused one, then
  // a kill -9: the next manager took the copy of the config before for the run's, said it
  // went on with it, and its respawn ran that older config.
  test('a run the save does not know, its file refused now: it goes on, and never runs an older config', async () => {
    await unknownRunRefused('listen=tcp:0.0.0.0:1\n');
  });

  // An outside review (28a, F1): the same with a `user=` not granted: the next change of
  // /etc/passwd (anyone's chfn) or SIGHUP stopped the run, judged on the file's user.
  test('a run the save does not know, its file naming a user not granted: a SIGHUP leaves it running', async () => {
    host.user('carol');
    await unknownRunRefused(`user=${host.expand('{carol}')}\n`, async (pid) => {
      await host.reload(host.expand('[can_run_as]\n{alice}\n'));
      await host.dmctl('alice', 'rescan');
      assert.equal(await pidOf('web'), pid, 'not stopped for the user only its file names');
    });
  });

  // An outside review (29a, F1): the same run, as bob (granted), its file naming a user
  // not granted; bob deleted and made again under his name (another uid). The config its
  // run has is not known: it is stopped, and starts as the new bob once its file is
  // accepted (it was stopped and left down, "may no longer run as uid N").
  test('a run the save does not know, its file refused, its run-as account made again: it starts as the new one once its file is accepted', async () => {
    host.user('carol');
    const bobName = host.user('bob').name;
    host.writeMaster('[can_run_as]\n{alice}: {bob}\n');
    const refusal = `user=${host.expand('{carol}')}\n`;
    await takeOverUnknownRun(refusal, `user=${bobName}\n`, async (pid, from) => {
      const bob = makeAccountAgain(host, 'bob');
      process.kill(host.managerPid(), 'SIGHUP');
      await waitFor(
        'its run to be stopped',
        () =>
          /web: its run-as account .* is another account now .* starts again once its file is accepted/.test(
            host.managerLog.slice(from),
          ) && !isAlive(pid)
            ? true
            : undefined,
        { timeoutMs: 60_000, describe: () => `pid ${pid} alive: ${isAlive(pid)}` },
      );
      assert.doesNotMatch(host.managerLog.slice(from), /may no longer run as/);
      host.writeDaemon('alice', 'web', `start=exec sleep 6800073\nuser=${bobName}\n`);
      await host.dmctl('alice', 'rescan');
      const back = await pidOf('web');
      assert.equal(uidOfPid(back), bob.uid, 'runs as the new bob');
    });
  });

  // An outside review (30b, F2): the same run, with its keeper killed too: what survived
  // was stopped, and the daemon, wanted up, was never started once its file was accepted.
  test('a run the save does not know, its file refused, its manager and keeper killed: it starts once its file is accepted', async () => {
    host.user('carol');
    host.writeMaster('[can_run_as]\n{alice}\n');
    const refusal = `user=${host.expand('{carol}')}\n`;
    await takeOverUnknownRun(
      refusal,
      '',
      async (pid, from) => {
        await waitFor('what survived to be stopped', () => (isAlive(pid) ? undefined : true));
        assert.match(
          host.managerLog.slice(from),
          /web: .*it starts again once its file is accepted/,
        );
        host.writeDaemon('alice', 'web', 'start=exec sleep 6800073\n');
        await host.dmctl('alice', 'rescan');
        const back = await pidOf('web');
        assert.match(commandOf(back), /sleep 6800073/);
      },
      { withKeeper: true },
    );
  });

  // An outside review (30b, F1): the same run as bob (granted), bob deleted and made again
  // (another uid) while no manager ran: its run was stopped, and the daemon left down.
  test('a run the save does not know, its file refused, its run-as account made again while no manager ran: it starts as the new one once its file is accepted', async () => {
    host.user('carol');
    const bobName = host.user('bob').name;
    host.writeMaster('[can_run_as]\n{alice}: {bob}\n');
    const refusal = `user=${host.expand('{carol}')}\n`;
    let uid = 0;
    await takeOverUnknownRun(
      refusal,
      `user=${bobName}\n`,
      async (pid, from) => {
        await waitFor('its run to be stopped', () => (isAlive(pid) ? undefined : true));
        assert.match(
          host.managerLog.slice(from),
          /web: .*it starts again once its file is accepted/,
        );
        host.writeDaemon('alice', 'web', `start=exec sleep 6800073\nuser=${bobName}\n`);
        await host.dmctl('alice', 'rescan');
        const back = await pidOf('web');
        assert.equal(uidOfPid(back), uid, 'runs as the new bob');
      },
      {
        whileDown: () => {
          uid = makeAgainWithNewUid(bobName);
        },
      },
    );
  });

  // An outside review (31a, F1): the same, then a kill -9 (or an upgrade) of the manager
  // that waited for the file: the wait was not saved, and the daemon was left down, wanted
  // down, once its file was accepted.
  test('a run the save does not know, stopped to wait for its file: the wait survives a kill -9 and an upgrade', async () => {
    host.user('carol');
    const bobName = host.user('bob').name;
    host.writeMaster('[can_run_as]\n{alice}: {bob}\n');
    const refusal = `user=${host.expand('{carol}')}\n`;
    let uid = 0;
    const stillWaits = /web: its config file is still refused: it starts once its file is accepted/;
    await takeOverUnknownRun(
      refusal,
      `user=${bobName}\n`,
      async (pid) => {
        await waitFor('its run to be stopped', () => (isAlive(pid) ? undefined : true));
        const stateFile = join(host.dir, 'state', 'state.json');
        await waitFor('the wait to be saved', () =>
          readFileSync(stateFile, 'utf8').includes('"waitsForFile":true') ? true : undefined,
        );
        await host.killManager();
        let from = host.managerLog.length;
        await host.startManager();
        assert.match(host.managerLog.slice(from), stillWaits);
        from = host.managerLog.length;
        await host.upgrade();
        assert.match(host.managerLog.slice(from), stillWaits);
        host.writeDaemon('alice', 'web', `start=exec sleep 6800073\nuser=${bobName}\n`);
        await host.dmctl('alice', 'rescan');
        const back = await pidOf('web');
        assert.equal(uidOfPid(back), uid, 'runs as the new bob');
      },
      {
        whileDown: () => {
          uid = makeAgainWithNewUid(bobName);
        },
      },
    );
  });

  // An outside review (31a, F1): the same run ended while no manager ran, its keeper alive
  // (the save the next manager read was older still): it was respawned with its refused
  // file at once, refused, left down, and not started once its file was accepted.
  test('a run the save does not know, its file refused, ended while no manager ran: not respawned with that file, started once it is accepted', async () => {
    host.user('carol');
    host.writeMaster('[can_run_as]\n{alice}\n');
    const refusal = `user=${host.expand('{carol}')}\n`;
    await takeOverUnknownRun(
      refusal,
      '',
      async (_pid, from) => {
        await waitFor('its respawn to be held', () =>
          /web: not respawned: its config file is refused/.test(host.managerLog.slice(from))
            ? true
            : undefined,
        );
        assert.doesNotMatch(host.managerLog.slice(from), /web: cannot start/);
        const row = (await host.status('alice')).find((d) => d.name === 'web');
        assert.equal(row?.wanted, 'up', 'it waits for its file, wanted up');
        // Its owner's start, refused for the file, changes nothing (an outside review, 32a,
        // F2: it ended the wait, and left the daemon wanted down).
        const started = await host.dmctl('alice', 'web', 'start');
        assert.match(started.stderr, /; it starts once its file is accepted/);
        host.writeDaemon('alice', 'web', 'start=exec sleep 6800073\n');
        await host.dmctl('alice', 'rescan');
        assert.match(commandOf(await pidOf('web')), /sleep 6800073/);
      },
      {
        whileDown: async (pid) => {
          process.kill(pid, 'SIGKILL');
          await waitFor('its run to end', () => (isAlive(pid) ? undefined : true));
        },
      },
    );
  });

  // An outside review (31a, F2): manager and keeper killed, the grant of its run-as account
  // taken back while no manager ran and given back after the file was fixed: the daemon
  // said it started once its file was accepted, and stayed stopped, wanted up.
  test('a run the save does not know, its file refused, its manager and keeper killed, a grant taken back and given again: it starts once its file is accepted', async () => {
    host.user('carol');
    const bob = host.user('bob');
    host.writeMaster('[can_run_as]\n{alice}: {bob}\n');
    const refusal = `user=${host.expand('{carol}')}\n`;
    await takeOverUnknownRun(
      refusal,
      `user=${bob.name}\n`,
      async (pid) => {
        await waitFor('what survived to be stopped', () => (isAlive(pid) ? undefined : true));
        // Fixed, and refused still: bob is not granted now.
        host.writeDaemon('alice', 'web', `start=exec sleep 6800073\nuser=${bob.name}\n`);
        const rescan = await host.dmctl('alice', 'rescan');
        assert.match(rescan.stdout, /refused: .*web/);
        await host.reload('[can_run_as]\n{alice}: {bob}\n');
        const back = await pidOf('web');
        // Its uid now (an earlier test made the account again).
        const uid = Number(execFileSync('id', ['-u', bob.name], { encoding: 'utf8' }));
        assert.equal(uidOfPid(back), uid, 'runs as bob');
      },
      { withKeeper: true, whileDown: () => host.writeMaster('[can_run_as]\n{alice}\n') },
    );
  });

  // An outside review (33b, F1 and F2): a daemon cooling down (no run) whose grant root took
  // back, then a kill -9 or an upgrade of the manager before any reload: the new manager had
  // it wait for its file, and started it by itself when the grant came back, where a
  // SIGHUP leaves it stopped.
  for (const takeover of ['kill -9', 'upgrade'] as const)
    test(`a daemon cooling down whose grant root took back before a ${takeover}: stays stopped when it comes back`, async () => {
      const bob = host.user('bob');
      host.writeMaster('[can_run_as]\n{alice}: {bob}\n');
      host.writeDaemon(
        'alice',
        'flaky',
        `start=exec sh -c 'sleep 0.2; exit 1'\nuser=${bob.name}\n`,
      );
      await host.startManager();
      await host.waitForDaemon(
        'alice',
        'alice/flaky',
        (d) => d.state === 'coolingdown',
        'to cool down',
      );
      // Taken back with no reload: the next manager reads it.
      host.writeMaster('[can_run_as]\n{alice}\n');
      if (takeover === 'upgrade') await host.upgrade();
      else {
        await host.killManager();
        await host.startManager();
      }
      const from = host.managerLog.length;
      await host.reload('[can_run_as]\n{alice}: {bob}\n');
      // Whatever the reload starts is started once the rescan it made is answered.
      await host.dmctl('alice', 'rescan');
      const row = (await host.status('alice')).find((d) => d.name === 'flaky');
      assert.equal(row?.wanted, 'down', host.managerLog.slice(from));
      assert.doesNotMatch(host.managerLog.slice(from), /alice\/flaky: started/);
      await host.stopManager();
      rmSync(host.daemonFile('alice', 'flaky'));
    });

  /** Deletes an account and makes it again under its name with another uid, free; that uid. */
  function makeAgainWithNewUid(name: string): number {
    // The uid it has now (an earlier test may have made it again): another one, free.
    const old = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }));
    execFileSync('userdel', ['-f', name]);
    let uid = old + 1;
    while (spawnSync('getent', ['passwd', String(uid)]).status === 0) uid++;
    execFileSync('useradd', ['-M', '-N', '-u', String(uid), name]);
    return uid;
  }

  async function unknownRunRefused(
    refusal: string,
    meanwhile: (pid: number) => Promise<void> = async () => {},
  ): Promise<void> {
    host.writeMaster('[can_run_as]\n{alice}\n');
    await takeOverUnknownRun(refusal, '', async (pid, from) => {
      await meanwhile(pid);
      process.kill(pid, 'SIGKILL');
      await waitFor('its respawn to be held, for its file', () =>
        /web: not respawned: its config file is refused/.test(host.managerLog.slice(from))
          ? true
          : undefined,
      );
      const rows = await host.status('alice');
      assert.notEqual(rows.find((d) => d.name === 'web')?.state, 'running');
      assert.doesNotMatch(host.managerLog.slice(from), /web: started, pid/);
      // Its file accepted again: it starts, as it waited for it (an outside review, 27a,
      // F1: left down, wanted down, for good).
      host.writeDaemon('alice', 'web', 'start=exec sleep 6800073\n');
      await host.dmctl('alice', 'rescan');
      const back = await pidOf('web');
      assert.match(commandOf(back), /sleep 6800073/);
    });
  }

  /**
   * alice's `web` (`base` beside its command) runs a config the save does not know (every
   * save fails), its file is changed into one refused by `refusal`, and a new manager takes
   * it over after a kill -9; then `then` (the run's pid, where the new manager's log begins).
   */
  async function takeOverUnknownRun(
    refusal: string,
    base: string,
    then: (pid: number, from: number) => Promise<void>,
    {
      withKeeper = false,
      whileDown = () => {},
    }: { withKeeper?: boolean; whileDown?: (pid: number) => void | Promise<void> } = {},
  ): Promise<void> {
    host.writeDaemon('alice', 'web', `start=exec sleep 6800072\n${base}`);
    await host.startManager();
    const first = await pidOf('web');
    const state = join(host.dir, 'state');
    await waitFor('the run saved, and the configs kept', () =>
      readFileSync(join(state, 'state.json'), 'utf8').includes(`${first}`) &&
      readFileSync(join(state, 'configs', `${host.user('alice').name}.json`), 'utf8').includes(
        '6800072',
      )
        ? true
        : undefined,
    );
    // Every save fails from now on (a directory where each temporary file goes).
    const held = [
      join(state, 'state.json.tmp'),
      join(state, 'state.json.tmp-async'),
      join(state, 'configs', `${host.user('alice').name}.json.tmp-async`),
    ];
    for (const path of held) mkdirSync(path);
    try {
      host.writeDaemon('alice', 'web', `start=exec sleep 6800073\n${base}`);
      await host.dmctl('alice', 'web', 'restart');
      const second = await host.waitForDaemon(
        'alice',
        'alice/web',
        (d) => d.state === 'running' && d.pid !== first,
        'to run its new config',
      );
      host.writeDaemon('alice', 'web', `start=exec sleep 6800073\n${base}${refusal}`);
      await (withKeeper ? host.killManagerAndKeeper() : killManager());
      for (const path of held) rmSync(path, { recursive: true });
      await whileDown(second.pid);
      const from = host.managerLog.length;
      await host.startManager();
      // Taken over, unless its keeper was killed too, or its account is gone, or it ended.
      if (
        !withKeeper &&
        isAlive(second.pid) &&
        !/is not known here: it runs as/.test(host.managerLog.slice(from))
      ) {
        assert.equal(await pidOf('web'), second.pid, 'taken over, not stopped');
        assert.match(
          host.managerLog.slice(from),
          /web: its config file is refused now .*the config its run was started with is not known here/,
        );
      }
      await then(second.pid, from);
    } finally {
      for (const path of held) rmSync(path, { recursive: true, force: true });
      await host.stopManager();
    }
  }

  // An outside review (26a, F6): the same file refused, the manager and its keeper killed
  // together: what survived was stopped and the daemon started with the refused file, and
  // left down. It is started again with the config its run was started with.
  test('changed into a refused file, the manager and its keeper killed: started again as it ran', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6800074\n');
    await host.startManager();
    const before = await pidOf('web');
    await waitFor('the run saved', () =>
      readFileSync(join(host.dir, 'state/state.json'), 'utf8').includes(`${before}`)
        ? true
        : undefined,
    );
    host.writeDaemon('alice', 'web', 'start=exec sleep 6800075\nlisten=tcp:0.0.0.0:1\n');
    await host.killManagerAndKeeper();
    await host.startManager();
    const again = await host.waitForDaemon(
      'alice',
      'alice/web',
      (d) => d.state === 'running' && d.pid !== before,
      'to run again',
    );
    assert.match(commandOf(again.pid), /sleep 6800074/);
    await host.stopManager();
  });

  // An outside review (27a, F2): the same with `output=log`: its run dies of SIGPIPE with
  // the keeper (documented); the next manager never started it again, nor said its end.
  test('changed into a refused file, the manager and its keeper killed, its output logged: started again as it ran', async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    const writes = (mark: string): string =>
      `start=exec sh -c 'while :; do echo tick; sleep 0.2; done' ${mark}\noutput=log\n`;
    host.writeDaemon('alice', 'talk', writes('6800077'));
    await host.startManager();
    const before = await pidOf('talk');
    await waitFor('the run saved', () =>
      readFileSync(join(host.dir, 'state/state.json'), 'utf8').includes(`${before}`)
        ? true
        : undefined,
    );
    host.writeDaemon('alice', 'talk', `${writes('6800078')}listen=tcp:0.0.0.0:1\n`);
    await host.killManagerAndKeeper();
    await host.startManager();
    const again = await host.waitForDaemon(
      'alice',
      'alice/talk',
      (d) => d.state === 'running' && d.pid !== before,
      'to run again',
    );
    assert.match(commandOf(again.pid), /6800077/);
    await host.stopManager();
  });

  // An outside review (26a, F4): a running daemon's refused file was said again in `why`
  // and the log at every SIGHUP and rescan (two lines each time), and the `dmctl start`
  // that first read it said nothing there.
  test('a running daemon’s refused file is said once, not at each reload or rescan', async () => {
    const master = host.expand('[can_run_as]\n{alice}\n');
    host.writeMaster(master);
    host.writeDaemon('alice', 'once', 'start=exec sleep 6800076\n');
    await host.startManager();
    await pidOf('once');
    host.writeDaemon('alice', 'once', 'start=exec sleep 6800076\nlisten=tcp:0.0.0.0:1\n');
    const started = await host.dmctl('alice', 'once', 'start');
    assert.match(started.stdout, /its config file is refused/);
    const count = async (text: string): Promise<number> =>
      (await host.dmctl('alice', 'once', 'why')).stdout.split(text).length - 1;
    assert.equal(await count('config refused: '), 1, 'said by the start that read it');
    for (let round = 0; round < 2; round++) {
      await host.reload(master);
      // Its answer says the refusal (exit 1): waited for, not judged.
      await host.dmctl('alice', 'rescan');
    }
    assert.equal(await count('config refused: '), 1);
    const why = (await host.dmctl('alice', 'once', 'why')).stdout;
    assert.ok((await count('its changed config file is refused')) <= 1, why);
    await host.stopManager();
  });

  test('changed before an upgrade: the same, across the upgrade and a crash after it', async () => {
    host.writeDaemon('alice', 'web', start);
    await host.startManager();
    const before = await pidOf('web');
    host.writeDaemon('alice', 'web', `${start}stop_timeout=7s\n`);
    const from = host.managerLog.length;
    const old = host.managerPid();
    process.kill(old, 'SIGUSR2');
    await waitFor('the upgrade', () => {
      const since = host.managerLog.slice(from);
      return /upgrade done: /.test(since) && host.managerPid() !== old ? true : undefined;
    });
    assert.match(host.managerLog.slice(from), /web: its config file changed before this manager/);
    assert.equal(await pidOf('web'), before);
    // What the run was started with went on with it: a crash after the upgrade changes
    // nothing of that.
    // The old one holds the state directory's lock until its log is written out.
    await waitFor('the old manager to exit', () => (isAlive(old) ? undefined : true));
    const upgraded = host.managerPid();
    process.kill(upgraded, 'SIGKILL');
    await waitFor('the upgraded manager to go', () => (isAlive(upgraded) ? undefined : true));
    await host.startManager();
    assert.equal(await pidOf('web'), before);
    const rescan = await host.dmctl('alice', 'rescan');
    assert.match(rescan.stdout, /changed: .*web \(restarted\)/);
    await waitFor('a new run', async () => ((await pidOf('web')) !== before ? true : undefined));
    await host.stopManager();
  });
});
