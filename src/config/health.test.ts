import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDaemonConfig } from './daemon.ts';

const parse = (text: string) =>
  parseDaemonConfig(text, '/home/a/.daemon-manager/daemons/web.conf', 'web');

describe('health= and watchdog= in a daemon file', () => {
  test('a file without them has neither', () => {
    const { spec } = parse('start=./web\n');
    assert.equal(spec?.health, undefined);
    assert.equal(spec?.watchdogMs, undefined);
  });

  test('health= alone takes the defaults; each key may change them', () => {
    assert.deepEqual(parse('start=./web\nhealth=tcp:127.0.0.1:80\n').spec?.health, {
      check: { kind: 'tcp', host: '127.0.0.1', port: 80 },
      intervalMs: 30_000,
      timeoutMs: 5_000,
      retries: 3,
    });
    const text =
      'start=./web\nhealth=exec:true\nhealth_interval=2s\nhealth_timeout=500ms\nhealth_retries=1\nwatchdog=10s\n';
    const { spec } = parse(text);
    assert.deepEqual(spec?.health, {
      check: { kind: 'exec', command: 'true' },
      intervalMs: 2_000,
      timeoutMs: 500,
      retries: 1,
    });
    assert.equal(spec?.watchdogMs, 10_000);
  });

  test('bad values are errors naming the file, the line and the key, all at once', () => {
    const text =
      'start=./web\nhealth=notify\nhealth_interval=10ms\nhealth_timeout=soon\nhealth_retries=0\nwatchdog=100ms\n';
    const { spec, problems } = parse(text);
    assert.equal(spec, undefined);
    const found = problems.map((problem) => [problem.line, problem.message.slice(0, 20)]);
    assert.deepEqual(
      found.map(([line]) => line),
      [6, 2, 3, 4, 5],
    );
    for (const problem of problems) {
      assert.equal(problem.severity, 'error');
      assert.equal(problem.file, '/home/a/.daemon-manager/daemons/web.conf');
    }
    assert.match(problems[0]?.message ?? '', /'watchdog' must be a duration of at least 1s/);
    assert.match(problems[1]?.message ?? '', /'health=notify' is not a check/);
    assert.match(problems[2]?.message ?? '', /'health_interval' must be a duration of at least 1s/);
    assert.match(problems[3]?.message ?? '', /'health_timeout' must be a duration/);
    assert.match(
      problems[4]?.message ?? '',
      /'health_retries' must be a whole number from 1 to 100/,
    );
  });

  test('health_* keys without health= are warned about, not errors', () => {
    const { spec, problems } = parse('start=./web\nhealth_interval=5s\n');
    assert.ok(spec !== undefined);
    assert.equal(problems[0]?.severity, 'warning');
    assert.match(
      problems[0]?.message ?? '',
      /'health_interval' has no effect without a 'health=' line/,
    );
  });
});
