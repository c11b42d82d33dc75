import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { KeeperLink } from '../../src/keeper/link.ts';
import type { KeeperEvent } from '../../src/keeper/protocol.ts';
import { loadNative } from '../../src/process/native.ts';
import { KEEPER } from '../helpers/keeper-driver.ts';
import { waitFor } from '../helpers/wait.ts';

/*
 * The keeper answers each `signal` in order, and the link matches answers first in, first
 * out. A signal to a run the keeper no longer knows (released while the signal waited for
 * its cgroup's freeze) was answered with an error, which the link did not count as an
 * answer: that signal never resolved, and each later one took the answer of the one
 * before. The stop or dmctl kill waiting on it never ended, and a full run saw every
 * later `dmctl kill` of that user go unanswered.
 */
describe('a signal to a run the keeper does not know', () => {
  const dir = mkdtempSync('/tmp/dm-signal-answers-');
  let link: KeeperLink | undefined;
  after(() => {
    link?.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  test('is answered, and the next signal gets its own answer', async () => {
    const attached = await KeeperLink.attach(loadNative(), KEEPER, join(dir, 'keeper.sock'));
    link = attached.link;
    const events: KeeperEvent[] = [];
    link.handle({ event: (event) => events.push(event), lost: () => undefined });
    link.spawn(['1', 'd', 'start=sleep 1000', 'arg=sleep', 'arg=1000']);
    await waitFor('the run to be spawned', () =>
      events.some((event) => event.kind === 'spawned') ? true : undefined,
    );
    const unknown = link.signal(999, 0);
    const known = link.signal(1, 0);
    assert.deepEqual(await unknown, { reached: 0, errno: 3 });
    assert.deepEqual(await known, { reached: 1, errno: 0 });
    assert.deepEqual(await link.signal(1, 9), { reached: 1, errno: 0 });
    await waitFor('the run to end', () =>
      events.some((event) => event.kind === 'exited') ? true : undefined,
    );
  });
});
