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
  const logs = new DaemonLogs(DEFAULT_SETTINGS, logger, (id) => ended.push(id));
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
      feed.release();
      await logs.drain([name], 30_000);
      assert.deepEqual(errors, []);
      assert.equal(readFileSync(join(dir, `${name}.log`), 'utf8'), numberedText(2000));
    });
});
