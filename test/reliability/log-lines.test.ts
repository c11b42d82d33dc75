import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

/**
 * A daemon that writes each line in two write()s with a pause between them, so that it
 * is in the middle of a line nearly all the time: `piece N ` ... `rest-of-line-N\n`.
 */
const PIECES =
  'start=i=0; while :; do i=$((i+1)); printf "piece %d " $i; sleep 0.02; printf "rest-of-line-%d\\n" $i; done\noutput=log\n';

describe('log lines stay whole across a reopen and a new run', {
  skip: !root && 'needs root',
}, () => {
  const host = new TestHost();
  const logOf = (name: string): string =>
    join(host.user('alice').home, `.daemon-manager/logs/${name}.log`);
  const read = (path: string): string => (existsSync(path) ? readFileSync(path, 'utf8') : '');

  before(async () => {
    host.writeMaster('[can_run_as]\n{alice}\n', 'log-max-size = 0\nstable-uptime = 1s');
    host.writeDaemon('alice', 'pieces', PIECES);
    host.writeDaemon('alice', 'stamped', `${PIECES}log_timestamps=yes\n`);
    // Each run's output ends without a newline; it fails and is started again.
    host.writeDaemon(
      'alice',
      'partial',
      "start=printf 'partial-without-newline'; exit 1\nrestart_delay=100ms\n" + 'output=log\n',
    );
    await host.startManager();
  });
  after(() => host.cleanup());

  for (const name of ['pieces', 'stamped'])
    test(`${name}: a SIGUSR1 reopen in the middle of a line leaves the line whole in the old file`, async () => {
      const log = logOf(name);
      const files: string[] = [];
      for (let round = 1; round <= 8; round++) {
        await waitFor(`${name}.log to get a line (round ${round})`, () =>
          read(log).includes('rest-of-line') ? true : undefined,
        );
        const moved = `${log}.old${round}`;
        renameSync(log, moved);
        files.push(moved);
        process.kill(host.managerPid(), 'SIGUSR1');
        await waitFor(`a fresh ${name}.log (round ${round})`, () =>
          existsSync(log) ? true : undefined,
        );
      }
      await waitFor(`the fresh ${name}.log to get a line`, () =>
        read(log).includes('rest-of-line') ? true : undefined,
      );
      const stop = await host.dmctl('alice', name, 'stop');
      assert.equal(stop.code, 0, stop.stderr);
      files.push(log);
      const torn: string[] = [];
      const numbers: number[] = [];
      for (const file of files) {
        const text = read(file);
        const lines = text.split('\n');
        // The last run may have been stopped in the middle of a line: only there.
        const last = lines.pop() ?? '';
        if (file !== log && last !== '') torn.push(`${file} ends in ${JSON.stringify(last)}`);
        for (const line of lines) {
          const body = name === 'stamped' ? line.replace(STAMP, '') : line;
          if (body.startsWith('--- ')) continue;
          const match = /^piece (\d+) rest-of-line-(\d+)$/.exec(body);
          if (match === null || match[1] !== match[2])
            torn.push(`${file}: ${JSON.stringify(line)}`);
          else numbers.push(Number(match[1]));
        }
      }
      assert.deepEqual(torn, [], 'no line cut between two files');
      const first = numbers[0] ?? 1;
      const gaps = numbers.filter((n, index) => n !== first + index);
      assert.deepEqual(gaps.slice(0, 3), [], 'every line once, in order, across the files');
    });

  test('a start banner begins a line of its own after a run that ended without a newline', async () => {
    const log = logOf('partial');
    await waitFor('partial.log to hold 4 runs', () =>
      (read(log).match(/daemon-manager: starting /g)?.length ?? 0) >= 4 ? true : undefined,
    );
    const text = read(log);
    const glued = text
      .split('\n')
      .filter((line) => /.--- \S+ daemon-manager: starting /.test(line));
    assert.deepEqual(glued, [], 'no banner glued to the line before');
    const banners = text.split('\n').filter((line) => line.startsWith('--- '));
    assert.ok(banners.length >= 4, `a banner per run at a line's start (${banners.length})`);
  });
});
