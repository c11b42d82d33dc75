import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { DaemonStatus } from '../../src/protocol/messages.ts';
import { showLogIfFailed } from '../helpers/cli.ts';
import { TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';

const root = process.getuid?.() === 0;

/**
 * A review sent about 2,000 `kill -HUP` in a loop, then a SIGTERM: 129 full reloads ran
 * one after the other, and the manager began to stop 11.7 s after the SIGTERM. SIGHUPs
 * that come while a reload runs or waits make one more reload now, and a SIGTERM goes
 * ahead of the reload waiting, which is dropped.
 */
describe('a burst of SIGHUPs, then SIGTERM', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();
  const running = (d: DaemonStatus): boolean => d.state === 'running' && d.pid > 0;

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    for (const name of ['a', 'b', 'c'])
      host.writeDaemon('alice', name, `start=exec sleep ${6600000 + name.charCodeAt(0)}\n`);
    await host.startManager();
  });
  afterEach(showLogIfFailed(() => host.managerLog));
  after(() => host.cleanup());

  test('makes at most one reload more than the one under way, and the manager stops', async () => {
    const pids: number[] = [];
    for (const name of ['a', 'b', 'c'])
      pids.push((await host.waitForDaemon('alice', `alice/${name}`, running, 'to run')).pid);
    const child = host.managerProcess();
    assert.ok(child?.pid !== undefined);
    const exited = new Promise<number | null>((resolve) =>
      child.once('close', (code) => resolve(code)),
    );
    const from = host.managerLog.length;
    for (let i = 0; i < 2000; i++) process.kill(child.pid, 'SIGHUP');
    process.kill(child.pid, 'SIGTERM');
    assert.equal(await exited, 0, 'the manager exits 0');
    const log = host.managerLog.slice(from);
    const reloads = log.match(/SIGHUP: reloading/g)?.length ?? 0;
    assert.ok(reloads <= 3, `${reloads} reloads: the SIGHUPs were not merged`);
    const stopAt = log.indexOf('SIGTERM: stopping every daemon');
    assert.ok(stopAt >= 0, 'the SIGTERM was acted on');
    assert.doesNotMatch(log.slice(stopAt), /SIGHUP: reloading/, 'no reload after the SIGTERM');
    assert.match(log, /all daemons stopped; exiting/);
    for (const pid of pids) assert.ok(!isAlive(pid), `daemon ${pid} is stopped`);
  });
});
