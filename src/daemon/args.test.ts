import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ManagerArgs, parseManagerArgs } from './args.ts';

const DEFAULTS: ManagerArgs = {
  config: undefined,
  personal: false,
  foreground: false,
  verbose: false,
  debug: false,
  syslog: undefined,
  pidfile: undefined,
  check: false,
  help: false,
  version: false,
  takeover: false,
};

describe('parseManagerArgs', () => {
  const cases: [string[], Partial<ManagerArgs>][] = [
    [[], {}],
    [['-f'], { foreground: true }],
    [['-v'], { verbose: true }],
    // The original's -d: foreground, every detail, on stderr.
    [['-d'], { debug: true, foreground: true, verbose: true }],
    [['--debug'], { debug: true, foreground: true, verbose: true }],
    [['--syslog'], { syslog: '/dev/log' }],
    [['--syslog=/run/log.sock'], { syslog: '/run/log.sock' }],
    [['-V'], { version: true }],
    [['--check', '--config', '/x.conf'], { check: true, config: '/x.conf' }],
    [['--config=/x.conf', '--check'], { check: true, config: '/x.conf' }],
    [['--version'], { version: true }],
    [
      ['--config=/x.conf', '--pidfile', '/run/dm.pid'],
      { config: '/x.conf', pidfile: '/run/dm.pid' },
    ],
    // Short options run together, as getopt takes them.
    [['-fv'], { foreground: true, verbose: true }],
    [['-fc', '/x.conf'], { foreground: true, config: '/x.conf' }],
    [['-c/x.conf'], { config: '/x.conf' }],
    [['-fV'], { foreground: true, version: true }],
    [['-f', '--'], { foreground: true }],
  ];
  for (const [argv, expected] of cases)
    test(`daemon-manager ${argv.join(' ') || '(no arguments)'}`, () => {
      assert.deepEqual(parseManagerArgs(argv), { ...DEFAULTS, ...expected });
    });

  test('a relative syslog socket is refused, naming it', () => {
    assert.deepEqual(parseManagerArgs(['--syslog=log.sock']), {
      error: "--syslog needs an absolute socket path, not 'log.sock'",
    });
  });

  const refused: [string[], string][] = [
    [['--frobnicate'], "unknown option '--frobnicate'"],
    [['--frobnicate=3'], "unknown option '--frobnicate'"],
    [['-x'], "unknown option '-x'"],
    [['-fx'], "unknown option '-x'"],
    [['-fc'], '-c needs a file'],
    [['--', '-V'], "unexpected argument '-V' (daemon-manager takes options only)"],
    [['status'], "unexpected argument 'status' (daemon-manager takes options only)"],
    [['--config'], '--config needs a file'],
    [['--foreground=no'], "--foreground takes no value (got '--foreground=no')"],
    [['--personal=1'], "--personal takes no value (got '--personal=1')"],
  ];
  for (const [argv, error] of refused)
    test(`${argv.join(' ')} is refused: ${error}`, () => {
      assert.deepEqual(parseManagerArgs(argv), { error });
    });
});
