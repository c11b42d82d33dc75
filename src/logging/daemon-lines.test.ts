import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collecting } from '../../test/helpers/collecting-logger.ts';
import { DaemonLines } from './daemon-lines.ts';
import { DAEMON_LINES_AT_ONCE, DAEMON_LINES_PER_MINUTE } from './user-lines.ts';

test("the lines about one user's daemons are limited, by owner; others never", () => {
  const { log, lines } = collecting();
  let now = 1_000_000;
  const limited = new DaemonLines(log, () => now);
  for (let index = 0; index < DAEMON_LINES_AT_ONCE + 40; index++)
    (index % 2 === 0 ? limited.info : limited.warn).call(limited, `mallory/d${index}: exited`);
  limited.error('mallory/d0: failed');
  limited.info('alice/web: started, pid 5');
  limited.info('root/backup: started, pid 6');
  limited.info('mallory: 3 config problems');
  limited.info('rescan of mallory: done');
  limited.debug('mallory/d1: debug detail');
  const counted = lines.filter((line) => line.startsWith('mallory/') && !line.includes('debug'));
  assert.equal(counted.length, DAEMON_LINES_AT_ONCE);
  for (const line of [
    'alice/web: started, pid 5',
    'root/backup: started, pid 6',
    'mallory: 3 config problems',
    'rescan of mallory: done',
    'mallory/d1: debug detail',
  ])
    assert.ok(lines.includes(line), line);
  now += 60_000 / DAEMON_LINES_PER_MINUTE;
  limited.info('mallory/d0: started, pid 7');
  assert.match(
    lines.at(-2) ?? '',
    /^mallory: 41 more lines about their daemons not logged one by one since .*dmctl ID why/,
  );
  assert.equal(lines.at(-1), 'mallory/d0: started, pid 7');
  limited.info('mallory/d0: over');
  limited.tellUntold();
  assert.match(lines.at(-1) ?? '', /^mallory: 1 more lines about their daemons/);
});
