import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseDaemonConfig } from '../../src/config/daemon.ts';
import { DEFAULT_SETTINGS } from '../../src/config/settings.ts';
import { DaemonLogs } from '../../src/daemon/daemon-logs.ts';
import type { Owner } from '../../src/daemon/owner.ts';
import { UserFiles } from '../../src/files/user-files.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { numberedFeed, numberedText } from '../helpers/pipes.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The logs of daemons as the manager keeps them, with the real pump: a daemon's log is
 * opened by a rescan and by a start at once, or its pipe comes while its log is being
 * opened, and its output still goes into its log once, whole.
 */
describe('the daemons’ logs', () => {
  const dir = mkdtempSync('/tmp/dm-daemon-logs-');
  after(() => rmSync(dir, { recursive: true, force: true }));
  const errors: string[] = [];
  const logger = createLogger(false, {
    write: (level, message) => {
      if (level === 'error') errors.push(message);
    },
    reopen: () => {},
    drain: async () => {},
  });
  const account = { name: 'root', uid: 0, gid: 0, home: dir };
  const owner: Owner = {
    account,
    groupIds: [0],
    privateGid: undefined,
    daemonDir: dir,
    logDir: dir,
    createDirs: false,
    files: new UserFiles(account, [0]),
  };
  const ended: string[] = [];
  /** Told of each pipe read to its end, as the manager is. */
  let onEnded: (id: string) => void = () => {};
  // One pump per process: every test here shares it.
  const logs = new DaemonLogs(DEFAULT_SETTINGS, logger, (id) => {
    ended.push(id);
    onEnded(id);
  });
  const specOf = (name: string, extra = '') => {
    const { spec } = parseDaemonConfig(`start=x\noutput=log\n${extra}`, join(dir, name), name);
    assert.ok(spec !== undefined);
    return spec;
  };

  for (const when of ['before', 'while'] as const)
    test(`two opens of one log at once, its pipe come ${when} they are under way: every line once`, async () => {
      const name = `twice-${when}`;
      const spec = specOf(name);
      const feed = numberedFeed(dir, name, 2000);
      if (when === 'before') logs.pipe(name, feed.readFd, true);
      const opens = [logs.open(owner, name, spec), logs.open(owner, name, spec)];
      if (when === 'while') logs.pipe(name, feed.readFd, true);
      const third = logs.open(owner, name, specOf(name, 'log_max_size=1M\n'));
      for (const readiness of await Promise.all([...opens, third]))
        assert.deepEqual(readiness, { ok: true });
      // The pipe ends once the writer has written all and exited: released before, it
      // could end before the writer opened it, and a drain that began while the pipe
      // moved to the log opened anew found nothing to wait for (an empty log, 1 run in 8).
      await waitFor('every line in the log', () =>
        readFileSync(join(dir, `${name}.log`), 'utf8') === numberedText(2000) ? true : undefined,
      );
      assert.deepEqual(errors, []);
    });

  // A daemon's next pipe (its next run's, after its last one was let go) came while the
  // pump still let go of the one that ended: it was attached to nothing, and the run's
  // output waited in it unread (a full run of account-again.test.ts, 1 in 10).
  test('a pipe that comes as the one before it ends goes into the log, whole', async () => {
    const second = numberedFeed(dir, 'next-2', 20);
    onEnded = (id) => {
      if (id === 'next') logs.pipe('next', second.readFd, true);
    };
    assert.deepEqual(await logs.open(owner, 'next', specOf('next')), { ok: true });
    const first = numberedFeed(dir, 'next-1', 10);
    // Each pipe ends once its writer has written all and exited.
    logs.pipe('next', first.readFd, true);
    await waitFor('both pipes in the log', () =>
      readFileSync(join(dir, 'next.log'), 'utf8') === numberedText(10) + numberedText(20)
        ? true
        : undefined,
    );
    assert.deepEqual(errors, []);
  });

  // The left-over run of an account deleted while the manager was down had no log (its
  // home was gone); its pipe waited, and the log of the daemon of that name of the account
  // made again under the name got what the old account's run wrote.
  test('a pipe that waited for a log no longer wanted is emptied, not left to the next one', async () => {
    const feed = numberedFeed(dir, 'waited', 10);
    logs.pipe('waited', feed.readFd, true);
    await logs.discard('waited');
    assert.deepEqual(await logs.open(owner, 'waited', specOf('waited')), { ok: true });
    await logs.drain(['waited'], 30_000);
    assert.equal(readFileSync(join(dir, 'waited.log'), 'utf8'), '');
    assert.deepEqual(errors, []);
  });
});
