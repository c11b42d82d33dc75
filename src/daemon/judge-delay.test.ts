import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDaemonConfig } from '../config/daemon.ts';
import { formatProblem } from '../config/problems.ts';
import { personalPolicy } from '../policy/policy.ts';
import { judgeConfig } from './judge.ts';

const FILE = '/home/alice/.daemon-manager/daemons/web.conf';
const BOUNDS = { minMs: 1_000, maxMs: 30_000 };

function judge(text: string): string[] {
  const loaded = { name: 'web', file: FILE, ...parseDaemonConfig(text, FILE, 'web') };
  const problems = judgeConfig(
    loaded,
    'alice',
    personalPolicy('alice'),
    () => true,
    undefined,
    BOUNDS,
  );
  return problems.map(formatProblem);
}

test("a restart_delay within the admin's bounds is no problem", () => {
  assert.deepEqual(judge('start=./web\nrestart_delay=5s\n'), []);
});

test("a restart_delay outside the admin's bounds is an error on its line, naming the bound", () => {
  assert.deepEqual(judge('start=./web\n# slow\nrestart_delay=1h\n'), [
    `${FILE}:3: error: 'restart_delay' 1h is longer than the admin allows (restart-delay-max = 30s)`,
  ]);
  assert.deepEqual(judge('start=./web\nrestart_delay=200ms\n'), [
    `${FILE}:2: error: 'restart_delay' 200ms is shorter than the admin allows (restart-delay-min = 1s)`,
  ]);
});
