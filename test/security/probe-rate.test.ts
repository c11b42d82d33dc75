import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { cleanUp, showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const DAEMONS = 60;
/** The rate of one user's checks that start a process, and the burst after a pause. */
const PER_SECOND = 10;
const READY_DAEMONS = 50;

/**
 * Every check that runs a command is a fork by the keeper, which forks every user's
 * respawns too: an outside review's 200 daemons with `health=exec:/bin/true` every second
 * made another user's respawn wait 1.3-2 s. One user's such checks now start at most 10
 * a second; past that they wait their turn.
 */
describe("one user's exec checks start at most 10 processes a second", {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  afterEach(showLogIfFailed(() => host.managerLog.slice(-6000)));
  after(() => cleanUp(host));

  test(`${DAEMONS} daemons checked every second`, async () => {
    host.user('alice');
    host.writeMaster('[can_run_as]\n{mallory}\n{alice}\n');
    const mallory = host.user('mallory');
    const stamps = join(mallory.home, 'checks');
    for (let index = 0; index < DAEMONS; index++)
      host.writeDaemon(
        'mallory',
        `c${index}`,
        `start=exec sleep 6000031\nhealth=exec:date +%s%N >> ${stamps}\nhealth_interval=1s\n`,
      );
    await host.startManager();
    const times = await waitFor(
      'checks to run for a while',
      () => {
        if (!existsSync(stamps)) return undefined;
        const lines = readFileSync(stamps, 'utf8').split('\n').filter(Boolean);
        return lines.length >= 3 * DAEMONS ? lines.map((line) => Number(line) / 1e6) : undefined;
      },
      { timeoutMs: 120_000 },
    );
    // Over the whole span, not per second: a keeper held up for a moment by the load
    // runs the checks it was asked for meanwhile close together.
    const seconds = (Math.max(...times) - Math.min(...times)) / 1000;
    const rate = (times.length - PER_SECOND) / seconds;
    assert.ok(rate <= 1.5 * PER_SECOND, `${times.length} checks in ${seconds.toFixed(1)} s`);
  });

  test("waiting for the user's turn does not count against ready_timeout", async () => {
    // 50 daemons whose check passes the third time, 150 checks: 14 s at 10 a second,
    // against a ready_timeout of 5 s (the checks' own run counts: room for a loaded host).
    // A check that fails once its wait took the daemon past the deadline would fail it.
    const alice = host.user('alice');
    for (let index = 0; index < READY_DAEMONS; index++) {
      const tries = join(alice.home, `tries-${index}`);
      host.writeDaemon(
        'alice',
        `r${index}`,
        `start=exec sleep 6000032\nready=exec:n=$(cat ${tries} 2>/dev/null || echo 0); echo $((n + 1)) > ${tries}; [ "$n" -ge 2 ]\nready_timeout=5s\n`,
      );
    }
    const from = host.managerLog.length;
    const said = await host.dmctl('alice', 'rescan');
    assert.match(said.stdout, /added: \S+alice\/r49/);
    for (let index = 0; index < READY_DAEMONS; index++)
      await host.waitForDaemon('alice', `alice/r${index}`, (d) => d.state === 'running', 'ready');
    assert.doesNotMatch(host.managerLog.slice(from), /not ready after/);
  });
});
