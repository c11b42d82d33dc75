import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestHost } from '../helpers/host.ts';
import { waitFor } from '../helpers/wait.ts';

const root = process.getuid?.() === 0;
const LINES = 4_000;
const RUNS = 12;
const BANNER = /^--- \S+ daemon-manager: starting /;

/**
 * Each run writes a token of its own, then LINES numbered lines and an end line, and exits;
 * `background` runs also leave a child holding the pipe for a moment, which writes last.
 */
function startLine(background: boolean): string {
  const lines = `awk 'BEGIN { srand(); t = int(rand() * 1e9); for (i = 1; i <= ${LINES}; i++) print t, i; print t, "end" }'`;
  return background ? `(sleep 0.2; echo late) & ${lines}` : lines;
}

/** What is wrong with the runs of one log: each banner starts one complete run. */
function runProblems(text: string, background: boolean): { runs: number; problems: string[] } {
  const problems: string[] = [];
  const runs = text.split('\n').reduce<string[][]>((all, line) => {
    if (BANNER.test(line)) all.push([]);
    else if (line !== '') {
      const current = all[all.length - 1];
      if (current === undefined) problems.push(`a line before any banner: ${line}`);
      else current.push(line);
    }
    return all;
  }, []);
  runs.forEach((lines, index) => {
    const own = lines.filter((line) => line !== 'late');
    const token = own[0]?.split(' ')[0] ?? '';
    const expected = [
      ...Array.from({ length: LINES }, (_, i) => `${token} ${i + 1}`),
      `${token} end`,
    ];
    // The last run was stopped by dmctl, maybe before its end: what it wrote comes in order,
    // its last line maybe cut where awk's last full buffer ended.
    const last = index === runs.length - 1;
    const wrong = own.findIndex(
      (line, at) =>
        expected[at] !== line && !(last && at === own.length - 1 && expected[at]?.startsWith(line)),
    );
    if (wrong !== -1 || (!last && own.length !== expected.length))
      problems.push(
        `run ${index + 1} of ${runs.length}: ${own.length} lines, first wrong at ${wrong}: ${own[wrong]}`,
      );
    if (background && lines.filter((line) => line === 'late').length > 1)
      problems.push(`run ${index + 1}: more than one late line`);
  });
  return { runs: runs.length, problems };
}

for (const [cgroups, background] of [
  ['yes', false],
  ['no', true],
] as const)
  describe(`runs that exit at once, respawned at once (cgroups = ${cgroups}${background ? ', a child left holding the pipe' : ''})`, {
    skip: !root && 'needs root',
  }, () => {
    const host = new TestHost();
    const names = ['a', 'b', 'c', 'd'];
    const logOf = (name: string): string =>
      join(host.user('alice').home, `.daemon-manager/logs/${name}.log`);
    const respawns = new Map<string, number>();

    before(async () => {
      // Every run counts as stable: respawned at once, however short.
      host.writeMaster(
        '[can_run_as]\n{alice}\n',
        `cgroups = ${cgroups}\nstable-uptime = 0s\nlog-max-size = 0`,
      );
      for (const name of names)
        host.writeDaemon('alice', name, `start=${startLine(background)}\noutput=log\n`);
      await host.startManager();
      await waitFor(
        `every daemon to run ${RUNS} times`,
        async () => {
          const rows = await host.status('alice');
          return rows.length === names.length && rows.every((row) => row.respawns >= RUNS)
            ? true
            : undefined;
        },
        { timeoutMs: 120_000 },
      );
      for (const name of names) assert.equal((await host.dmctl('alice', name, 'stop')).code, 0);
      for (const row of await host.status('alice'))
        respawns.set(row.id.slice(row.id.indexOf('/') + 1), row.respawns);
      // A clean stop of the manager: what is in the pipes reaches the logs first.
      assert.equal(await host.stopManager(), 0);
    });
    after(() => host.cleanup());

    for (const name of names)
      test(`${name}: every run is in the log, whole and in order`, () => {
        const { runs, problems } = runProblems(readFileSync(logOf(name), 'utf8'), background);
        assert.deepEqual(problems, []);
        // The last respawn may have been stopped before its exec: no banner for it then.
        const started = (respawns.get(name) ?? 0) + 1;
        assert.ok(
          runs >= started - 1 && runs <= started,
          `${runs} runs logged, ${started} started`,
        );
      });
  });
