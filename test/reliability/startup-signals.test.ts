import assert from 'node:assert/strict';
import { lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DAEMON_MANAGER, run, TestHost } from '../helpers/host.ts';
import { isAlive } from '../helpers/proc.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
/**
 * A review found the background launcher saying "running" as soon as the control socket
 * answered (a keeper left by a crashed manager holds it), before the new manager held its
 * lock or had written its pidfile; two launchers at once both said so.
 */
describe('starting in the background', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();

  before(() => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6900201\n');
  });
  after(() => host.cleanup());

  test('in the background, the launcher returns once the manager runs, its pidfile written', async () => {
    const pidfile = join(host.dir, 'manager.pid');
    // A link planted where the pidfile goes is replaced, never written through.
    const victim = join(host.dir, 'victim');
    writeFileSync(victim, 'root only\n', { mode: 0o600 });
    symlinkSync(victim, pidfile);
    const started = await run(
      [DAEMON_MANAGER],
      ['--config', host.configFile, '--pidfile', pidfile],
    );
    assert.equal(started.code, 0, started.stderr);
    const pid = Number(/running in the background, pid (\d+)/.exec(started.stdout)?.[1]);
    assert.ok(pid > 0, started.stdout);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(pid));
    assert.ok(lstatSync(pidfile).isFile(), 'the pidfile is a file of its own');
    assert.equal(readFileSync(victim, 'utf8'), 'root only\n');
    const second = await run([DAEMON_MANAGER], ['--config', host.configFile]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`another manager is already running \\(pid ${pid}\\)`));
    process.kill(pid, 'SIGTERM');
    await waitFor('the background manager to exit', () => (isAlive(pid) ? undefined : true));
  });
});
