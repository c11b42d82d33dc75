import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { spawnCollecting } from '../helpers/cli.ts';
import { FIXTURES } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const dir = mkdtempSync('/tmp/dm-upgrade-stall-');
after(() => rmSync(dir, { recursive: true, force: true }));

/*
 * An upgrade's old manager gives the new code a deadline to say `ready`. Stalled past it
 * (SIGSTOP here; a starved CPU) while the new code said it in time, the old one ran the
 * deadline's timer first when it went on (libuv runs expired timers before it polls),
 * refused the upgrade and killed the new code. The handshake's own code is run here,
 * with a deadline of 1 s instead of the manager's 60 s.
 */
test('a ready said in time while the old manager stalled is taken', async () => {
  chmodSync(dir, 0o755);
  const old = spawnCollecting([process.execPath, join(FIXTURES, 'handover-old.ts'), dir, '1000']);
  try {
    await waitFor('the new code to start', () =>
      existsSync(join(dir, 'started')) ? true : undefined,
    );
    const pid = old.child.pid ?? 0;
    process.kill(pid, 'SIGSTOP');
    try {
      writeFileSync(join(dir, 'go'), '');
      await waitFor('the new code to say ready', () =>
        existsSync(join(dir, 'said')) ? true : undefined,
      );
      // Past the deadline before the old one reads it.
      await delay(1_500);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const outcome = await waitFor(
      'the outcome',
      () => /^(ready|refused.*)$/m.exec(old.output())?.[0],
      { describe: old.output },
    );
    assert.equal(outcome, 'ready');
  } finally {
    await old.stop();
  }
});
