import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDaemonConfig, parseSuccessExit } from './daemon.ts';
import { formatProblem } from './problems.ts';

const FILE = '/home/bob/.daemon-manager/daemons/task.conf';

function parse(lines: readonly string[]) {
  const parsed = parseDaemonConfig(['start=./task', ...lines].join('\n'), FILE, 'task');
  return { ...parsed, problems: parsed.problems.map(formatProblem) };
}

describe('restart=, success_exit= and restart_delay=', () => {
  test('a file without them restarts always, on no exit but 0 clean, with no delay of its own', () => {
    const { spec, problems } = parse([]);
    assert.deepEqual(problems, []);
    assert.equal(spec?.restart, 'always');
    assert.deepEqual(spec?.successExit, { codes: [], signals: [] });
    assert.equal(spec?.restartDelayMs, undefined);
  });

  test('each restart rule is read', () => {
    for (const rule of ['always', 'on-failure', 'no'] as const)
      assert.equal(parse([`restart=${rule}`]).spec?.restart, rule);
  });

  test('an unknown restart rule is an error on its line', () => {
    assert.deepEqual(parse(['restart=sometimes']).problems, [
      `${FILE}:2: error: 'restart' must be 'always', 'on-failure' or 'no', not 'sometimes'`,
    ]);
  });

  test('success_exit takes statuses and signal names, with or without SIG, spaces or commas', () => {
    assert.deepEqual(parse(['success_exit = 3, 42 SIGHUP term']).spec?.successExit, {
      codes: [3, 42],
      signals: ['SIGHUP', 'SIGTERM'],
    });
  });

  test('success_exit refuses what is neither a status nor a signal, naming it', () => {
    assert.deepEqual(parseSuccessExit('3 256 SIGNOPE -9'), { bad: ['256', 'SIGNOPE', '-9'] });
    assert.deepEqual(parse(['success_exit=']).problems, [
      `${FILE}:2: error: 'success_exit' takes exit statuses (0-255) and signal names such as 3 SIGHUP, not ''`,
    ]);
  });

  test('restart_delay is a duration, and its line is given to point at it', () => {
    const { spec, restartDelayLine } = parse(['dir=/', 'restart_delay=2500ms']);
    assert.equal(spec?.restartDelayMs, 2_500);
    assert.equal(restartDelayLine, 3);
    assert.deepEqual(parse(['restart_delay=soon']).problems, [
      `${FILE}:2: error: 'restart_delay' must be a duration like 5s or 500ms, not 'soon'`,
    ]);
  });
});
