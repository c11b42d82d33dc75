import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeReadyCheck, parseReadyCheck } from './ready.ts';

describe('parseReadyCheck', () => {
  test('reads each kind, and says it back as written', () => {
    for (const text of [
      'tcp:127.0.0.1:8080',
      'tcp:[::1]:80',
      'unix:/run/app.sock',
      'exec:curl -fs x',
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
      ['http://localhost/', /must be tcp:HOST:PORT, unix:PATH or exec:COMMAND/],
      ['yes', /must be tcp:HOST:PORT/],
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
