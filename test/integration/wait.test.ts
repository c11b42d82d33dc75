import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';

const root = process.getuid?.() === 0;

describe('dmctl start, stop and restart --wait', { skip: !root && 'needs root' }, () => {
  const host = new TestHost();

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'web', 'start=exec sleep 6600001\n');
    host.writeDaemon(
      'alice',
      'crashy',
      'start=echo "boom: no database at 127.0.0.1:5432"; exit 3\noutput=log\nautostart=no\n',
    );
    // Fails after a moment, as a program that loads for a while and then dies does.
    host.writeDaemon(
      'alice',
      'late',
      'start=sleep 0.3; echo "port 8080 in use" >&2; exit 1\noutput=log\nautostart=no\n',
    );
    host.writeDaemon('alice', 'slow', "start=trap '' TERM; exec sleep 6600002\nstop_timeout=60s\n");
    await host.startManager();
    await host.waitForDaemon('alice', 'alice/web', (d) => d.pid > 0, 'to run');
    await host.waitForDaemon('alice', 'alice/slow', (d) => d.pid > 0, 'to run');
  });
  after(() => host.cleanup());

  test('restart --wait returns once a new process runs, and names it', async () => {
    const [before_] = (await host.status('alice')).filter((d) => d.id === host.id('alice/web'));
    const result = await host.dmctl('alice', 'web', 'restart', '--wait');
    assert.equal(result.code, 0, result.stderr);
    const pid = Number(/running \(pid (\d+)\)/.exec(result.stdout)?.[1]);
    assert.ok(pid > 0 && pid !== before_?.pid, result.stdout);
    const [now] = (await host.status('alice')).filter((d) => d.id === host.id('alice/web'));
    assert.equal(now?.pid, pid);
    assert.equal(now?.state, 'running');
  });

  test('stop --wait returns once the daemon is stopped', async () => {
    const result = await host.dmctl('alice', 'web', 'stop', '--wait');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /web stopped/);
    const [now] = (await host.status('alice')).filter((d) => d.id === host.id('alice/web'));
    assert.equal(now?.state, 'stopped');
  });

  test('start --wait of a daemon that exits at once fails with why and its last log lines', async () => {
    const result = await host.dmctl('alice', 'crashy', 'start', '--wait');
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, /crashy (is coolingdown|exited at once) \(last exit: .*3/);
    assert.match(
      result.stderr,
      /last lines of its log:\n[\s\S]*boom: no database at 127\.0\.0\.1:5432/,
    );
  });

  // A review saw `start --wait` say "running" for daemons that died a moment later: a
  // started process counts once it has run for a second.
  test('start --wait of a daemon that dies after a moment fails too, every time', async () => {
    for (let round = 0; round < 3; round++) {
      const result = await host.dmctl('alice', 'late', 'start', '--wait');
      assert.equal(result.code, 1, `round ${round}: ${result.stdout}`);
      assert.match(result.stderr, /late (is coolingdown|exited)/);
      assert.match(result.stderr, /port 8080 in use/);
    }
  });

  test('at its deadline --wait fails and says what the daemon is still doing', async () => {
    const result = await host.dmctl('alice', 'slow', 'stop', '--wait=2s');
    assert.equal(result.code, 1, result.stdout);
    // The time really waited, to a tenth: never less than asked.
    const waited = /slow is still stopping after (\d+(?:\.\d)?) s/.exec(result.stderr)?.[1];
    assert.ok(waited !== undefined && Number(waited) >= 2, result.stderr);
  });
});
