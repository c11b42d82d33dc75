import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeReadyCheck, parseHealthCheck, parseReadyCheck } from './ready.ts';

describe('parseReadyCheck', () => {
  test('reads each kind, and says it back as written', () => {
    for (const text of [
      'tcp:127.0.0.1:8080',
      'tcp:[::1]:80',
      'unix:/run/app.sock',
      'exec:curl -fs x',
      'notify',
      'http://127.0.0.1:8080/health',
      'http://[::1]:8080/up?deep=1',
      'http://localhost:9000/',
    ])
      assert.equal(describeReadyCheck(parseReadyCheck(text) as never), text);
    assert.deepEqual(parseReadyCheck('tcp:localhost:5432'), {
      kind: 'tcp',
      host: 'localhost',
      port: 5432,
    });
  });

  test('refuses what it cannot check, saying what it wants', () => {
    const cases: [string, RegExp][] = [
      ['tcp:127.0.0.1', /needs HOST:PORT/],
      ['tcp:127.0.0.1:70000', /needs HOST:PORT/],
      ['unix:relative.sock', /absolute socket path/],
      [`unix:/${'x'.repeat(200)}`, /at most 107 bytes/],
      ['exec:', /needs a command/],
      [
        'yes',
        /must be notify, tcp:HOST:PORT, unix:PATH, http:\/\/127\.0\.0\.1:PORT\/PATH or exec:COMMAND/,
      ],
      ['http://10.0.0.1:80/', /only on the loopback .* not '10\.0\.0\.1'/],
      ['http://example.org/', /only on the loopback/],
      ['https://127.0.0.1/', /plain http:\/\/ on the loopback only/],
      ['http://u:p@127.0.0.1/', /no user or password/],
      ['http://', /needs a URL/],
      // The manager connects as root: nowhere but where anyone on the host could.
      ['tcp:10.255.255.1:80', /only on the loopback .* not '10\.255\.255\.1'; use exec:/],
      ['tcp:example.org:80', /only on the loopback/],
      ['tcp:[fe80::1]:80', /only on the loopback/],
    ];
    for (const [text, expected] of cases) {
      const parsed = parseReadyCheck(text);
      assert.ok('error' in parsed, text);
      assert.match(parsed.error, expected);
    }
  });
});

describe('parseHealthCheck', () => {
  test('takes what ready= takes but notify, naming its own key', () => {
    assert.deepEqual(parseHealthCheck('http://127.0.0.1:80/x'), {
      kind: 'http',
      url: 'http://127.0.0.1/x',
    });
    const notify = parseHealthCheck('notify');
    assert.ok('error' in notify && /use watchdog=/.test(notify.error));
    const far = parseHealthCheck('tcp:10.1.1.1:80');
    assert.ok('error' in far && far.error.startsWith("'health=tcp:'"));
  });
});
