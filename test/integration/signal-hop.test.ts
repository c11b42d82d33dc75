import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FIXTURES, TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The keeper signals the processes its run's cgroup lists: a process forking and exiting
 * in a loop had forked a child the list did not name by the time the signal came, and
 * the child never got it (nor a stop's SIGTERM: only SIGKILL, after stop_timeout, reached
 * it). The run's cgroup is frozen while it is signalled.
 */
describe('a signal to a daemon whose processes hop from pid to pid', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  const host = new TestHost();
  let where = '';

  before(async () => {
    host.writeMaster('[can_run_as]\n{dave}\n');
    const dave = host.user('dave');
    where = join(dave.home, 'hop');
    host.mkdirAs(dave, where);
    host.writeDaemon('dave', 'hop', `start=exec python3 ${FIXTURES}/pid-hopper.py ${where} 10\n`);
    await host.startManager();
  });
  after(async () => {
    // Chains that hop outrun a kill of the pids a look found: they settle first.
    if (where !== '') writeFileSync(join(where, 'stop'), '');
    await host.cleanup();
  });

  /** The chains (by number) that wrote a line to the file. */
  const chainsIn = (file: string): Set<string> => {
    try {
      const lines = readFileSync(join(where, file), 'utf8').split('\n').filter(Boolean);
      return new Set(lines.map((line) => line.split(' ')[0] ?? ''));
    } catch {
      return new Set();
    }
  };

  test('dmctl kill reaches every process, the ones forked while it was sent too', async () => {
    const hop = await host.waitForDaemon('dave', 'dave/hop', (d) => d.pid > 0, 'to run');
    await waitFor('the ten chains to hop', () =>
      chainsIn('started').size === 10 ? true : undefined,
    );

    const kill = await host.dmctl('dave', 'hop', 'kill', '-USR1');
    assert.equal(kill.code, 0, kill.stderr);
    // Each chain stops hopping at the signal; one it missed hops on, and never says so.
    await waitFor(
      'every chain to get SIGUSR1 and settle',
      () => (chainsIn('settled').size === 10 ? true : undefined),
      { describe: () => `chains settled: ${[...chainsIn('settled')].sort().join(' ')}` },
    );
    const now = await host.waitForDaemon('dave', 'dave/hop', (d) => d.pid > 0, 'to run');
    assert.equal(now.pid, hop.pid);
  });
});
