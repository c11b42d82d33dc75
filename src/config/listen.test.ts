import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDaemonConfig } from './daemon.ts';
import { formatAddress, parseListenAddress } from './listen.ts';
import { formatProblem } from './problems.ts';

const FILE = '/home/alice/.daemon-manager/daemons/php.conf';

function load(text: string) {
  const { spec, problems } = parseDaemonConfig(text, FILE, 'php');
  return { spec, problems: problems.map(formatProblem) };
}

describe('parseListenAddress', () => {
  const good: [string, object][] = [
    ['unix:/home/alice/php.sock', { kind: 'unix', path: '/home/alice/php.sock' }],
    ['tcp:127.0.0.1:9000', { kind: 'tcp', host: '127.0.0.1', port: 9000 }],
    ['tcp:[::1]:9000', { kind: 'tcp', host: '::1', port: 9000 }],
    ['tcp:0.0.0.0:80', { kind: 'tcp', host: '0.0.0.0', port: 80 }],
  ];
  for (const [text, address] of good)
    test(`reads ${text}`, () => {
      assert.deepEqual(parseListenAddress(text), address);
      assert.equal(formatAddress(parseListenAddress(text) as never), text);
    });
  const bad = [
    'unix:php.sock',
    'unix:/home/alice/../bob/x.sock',
    `unix:/${'x'.repeat(120)}`,
    'tcp:localhost:9000',
    'tcp:127.0.0.1:0',
    'tcp:127.0.0.1:70000',
    'tcp:300.0.0.1:9000',
    'tcp:::1:9000',
    'udp:127.0.0.1:53',
    '/run/php.sock',
  ];
  // An outside review (36b): `[0::1]` was refused as "not the loopback".
  const written: [string, string][] = [
    ['tcp:[0::1]:9000', '::1'],
    ['tcp:[0:0:0:0:0:0:0:1]:9000', '::1'],
    ['tcp:[2001:DB8:0:0::1]:9000', '2001:db8::1'],
    ['tcp:127.000.0.01:9000', '127.0.0.1'],
  ];
  for (const [text, host] of written)
    test(`reads ${text} as the address it is`, () => {
      assert.deepEqual(parseListenAddress(text), { kind: 'tcp', host, port: 9000 });
    });
  bad.push('tcp:[::::]:9000', 'tcp:[1::2::3]:9000');
  for (const text of bad)
    test(`refuses ${text}`, () => {
      const parsed = parseListenAddress(text);
      assert.ok('error' in parsed, JSON.stringify(parsed));
      assert.match(parsed.error, /^'listen' /);
    });
});

describe('listen= in a daemon config', () => {
  test('several lines add up; mode, group and fd are read', () => {
    const { spec, problems } = load(
      'start=./server\nlisten=unix:/tmp/a.sock\nlisten=tcp:127.0.0.1:9000\nlisten_mode=0666\nlisten_group=www-data\n',
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(spec?.listen, {
      addresses: [
        { kind: 'unix', path: '/tmp/a.sock' },
        { kind: 'tcp', host: '127.0.0.1', port: 9000 },
      ],
      mode: 0o666,
      group: 'www-data',
      passing: 'systemd',
    });
  });
  test('listen_fd=0 passes the one socket on standard input', () => {
    const { spec } = load('start=php-cgi\nlisten=unix:/tmp/php.sock\nlisten_fd=0\n');
    assert.equal(spec?.listen.passing, 'stdin');
  });
  test('every problem is reported with its file and line', () => {
    const { spec, problems } = load(
      'start=php-cgi\nlisten=unix:/tmp/a.sock\nlisten=unix:/tmp/a.sock\nlisten=tcp:127.0.0.1:9000\nlisten_fd=0\nlisten_mode=999\nlisten_group=a b\nlisten=ftp:x\n',
    );
    assert.equal(spec, undefined);
    assert.deepEqual(problems, [
      `${FILE}:3: error: 'listen=unix:/tmp/a.sock' is already on line 2`,
      `${FILE}:6: error: 'listen_mode' must be an octal mode like 0660, not '999'`,
      `${FILE}:7: error: 'listen_group' must be a group name, not 'a b'`,
      `${FILE}:8: error: 'listen' must be unix:/PATH, tcp:127.0.0.1:PORT or tcp:[::1]:PORT, not 'ftp:x'`,
      `${FILE}:5: error: 'listen_fd=0' passes one socket on standard input, but 2 'listen' lines ask for more`,
    ]);
  });
  test('listen_mode without listen= is a warning', () => {
    const { spec, problems } = load('start=./x\nlisten_mode=0600\n');
    assert.ok(spec);
    assert.deepEqual(problems, [
      `${FILE}:2: warning: 'listen_mode' has no effect without a 'listen=' line`,
    ]);
  });
});
