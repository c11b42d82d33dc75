import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';

const root = process.getuid?.() === 0;
const ROUNDS = 5;

/** Kills the manager with -9 and waits until it is gone. */
async function crash(manager: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => manager.once('exit', resolve));
  manager.kill('SIGKILL');
  await exited;
}

/**
 * The first review undid an answered `dmctl start` with a kill -9 right after it in 5 of
 * 5 rounds, and a `stop` in 1 of 5: the answer went out before the state was saved. An
 * answer now waits until the state behind it is on disk.
 */
describe('what dmctl answered survives a kill -9 of the manager right after', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const outcomes: string[] = [];

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n');
    host.writeDaemon('alice', 'job', 'start=exec sleep 6400001\nautostart=no\n');
    let manager = await host.startManager();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [verb, expected] of [
        ['start', 'running'],
        ['stop', 'stopped'],
      ] as const) {
        const answer = await host.dmctl('alice', 'job', verb);
        assert.equal(answer.code, 0, answer.stderr);
        await crash(manager);
        manager = await host.startManager();
        const row = await host.waitForDaemon(
          'alice',
          'alice/job',
          (d) => d.state === 'running' || d.state === 'stopped',
          'to settle',
        );
        outcomes.push(`${verb}: ${row.state === expected ? 'kept' : `undone (${row.state})`}`);
      }
    }
  });
  after(() => host.cleanup());

  test(`an answered start and stop are kept, ${ROUNDS} rounds of each`, () => {
    assert.deepEqual(
      outcomes.filter((outcome) => outcome.includes('undone')),
      [],
      outcomes.join(', '),
    );
    assert.equal(outcomes.length, 2 * ROUNDS);
  });
});
