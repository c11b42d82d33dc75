import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, afterEach, before, describe, test } from 'node:test';
import { showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive, livePidsOfUid } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const DAEMONS = 300;
/**
 * The keeper's send buffer to the manager is 4 MiB; at 64 KiB, 300 daemons' stop says more
 * than it holds before the manager reads, as 10,000 daemons' stop does at 4 MiB.
 */
const SEND_BUFFER = 64 * 1024;
const BATCH = 20;

/**
 * A manager whose keeper's send buffer is SEND_BUFFER, running DAEMONS daemons of alice's
 * (`exec sleep BASE+i`), started in batches whose reports the buffer holds.
 */
async function startFleet(host: TestHost, base: number): Promise<ChildProcess> {
  // The account is there before the manager starts, and so is its control socket.
  host.user('alice');
  host.writeMaster('[can_run_as]\n{alice}\n', 'stop-timeout = 2s');
  process.env.DM_TEST_KEEPER_SEND_BUFFER = String(SEND_BUFFER);
  let manager: ChildProcess;
  try {
    manager = await host.startManager();
  } finally {
    delete process.env.DM_TEST_KEEPER_SEND_BUFFER;
  }
  for (let batch = 0; batch < DAEMONS; batch += BATCH) {
    for (let i = batch; i < batch + BATCH; i++)
      host.writeDaemon('alice', `d${i}`, `start=exec sleep ${base + i}\n`);
    const rescan = await host.dmctl('alice', 'rescan');
    assert.equal(rescan.code, 0, `dmctl rescan: ${rescan.stdout}${rescan.stderr}`);
    await waitForRunning(host, batch + BATCH);
  }
  return manager;
}

/** Waits until `count` daemons of alice's run; their pids, by id. */
async function waitForRunning(host: TestHost, count: number): Promise<Map<string, number>> {
  let running = new Map<string, number>();
  return waitFor(
    `${count} daemons to run`,
    async () => {
      const rows = await host.status('alice');
      running = new Map(
        rows.filter((d) => d.state === 'running' && d.pid > 0).map((d) => [d.id, d.pid]),
      );
      return running.size === count ? running : undefined;
    },
    { timeoutMs: 120_000, describe: () => `${running.size} running` },
  );
}

/**
 * The bench's SIGTERM to a manager of 10,000 daemons left 6,694 of them running: the
 * stop's reports filled the keeper's socket, the keeper dropped the manager ("not reading
 * its events") and with it the requests it had not read yet (SIGTERMs, SIGKILLs), the
 * manager gave up on the runs it had not reached and told the keeper to quit.
 */
describe(`a SIGTERM to a manager of ${DAEMONS} daemons whose reports fill the keeper's socket`, {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let manager: ChildProcess | undefined;
  let exitCode: number | null = null;
  let from = 0;
  let keeper = 0;

  before(async () => {
    manager = await startFleet(host, 6_700_000);
    keeper = host.keeperPid();
    const exited = new Promise<number | null>((resolve) =>
      manager?.once('exit', (code) => resolve(code)),
    );
    from = host.managerLog.length;
    manager.kill('SIGTERM');
    exitCode = await exited;
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('the manager exits 0', () => {
    assert.equal(exitCode, 0);
  });

  test('no process of the daemons is left once the manager has exited', async () => {
    await noneLeft(host.user('alice').uid);
  });

  // The manager hangs up with the stop's last answers unread: the keeper's socket says
  // ECONNRESET before the releases and the quit, which were lost with it.
  test('the keeper exits with the manager', async () => {
    assert.notEqual(keeper, 0);
    await waitFor('the keeper to exit', () => (isAlive(keeper) ? undefined : true), {
      timeoutMs: 30_000,
    });
  });

  test('the keeper never dropped the manager during the stop', () => {
    assert.doesNotMatch(host.managerLog.slice(from), /manager disconnected/);
  });
});

/**
 * A manager killed (a crash, or the old side of an upgrade) leaves its keeper with every
 * run; the next one says hello and gets them all, as events, at once: at 10,000 daemons
 * more than the keeper's socket holds. Dropped at its hello, the next manager could not
 * take over (it fails its start, and the daemons are nobody's).
 */
describe(`a manager started again after a kill -9, its keeper holding ${DAEMONS} runs that fill the socket`, {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  let pidsBefore: Map<string, number> = new Map();
  let pidsAfter: Map<string, number> = new Map();

  before(async () => {
    const first = await startFleet(host, 6_750_000);
    pidsBefore = await waitForRunning(host, DAEMONS);
    const exited = new Promise((resolve) => first.once('exit', resolve));
    first.kill('SIGKILL');
    await exited;
    await host.startManager();
    pidsAfter = await waitForRunning(host, DAEMONS);
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('takes every run over, same pids, none started again', () => {
    assert.deepEqual(pidsAfter, pidsBefore);
  });

  test('its SIGTERM leaves no process of the daemons', async () => {
    assert.equal(await host.stopManager(), 0);
    await noneLeft(host.user('alice').uid);
  });
});

/** Waits until no process of `uid` is left: what was killed last may take a moment to go; what was never signalled stays. */
async function noneLeft(uid: number): Promise<void> {
  let left: number[] = [];
  await waitFor(
    "every process of the daemons' user to be gone",
    () => {
      left = livePidsOfUid(uid);
      return left.length === 0 ? true : undefined;
    },
    { timeoutMs: 30_000, describe: () => `${left.length} left: ${left.slice(0, 10).join(' ')}` },
  );
}
