import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseManagerArgs } from './args.ts';

describe('parseManagerArgs', () => {
  test('no arguments: system mode, in the background', () => {
    assert.deepEqual(parseManagerArgs([]), {
      config: undefined,
      personal: false,
      foreground: false,
      verbose: false,
      pidfile: undefined,
      logFile: undefined,
      check: false,
      help: false,
    });
  });

  test('--check with --config, in either form', () => {
    for (const argv of [
      ['--check', '--config', '/x.conf'],
      ['--config=/x.conf', '--check'],
    ]) {
      const args = parseManagerArgs(argv);
      assert.ok(!('error' in args));
      assert.equal(args.check, true);
      assert.equal(args.config, '/x.conf');
    }
  });

  test('--log-file takes a file', () => {
    const args = parseManagerArgs(['-f', '--log-file', '/var/lib/dm/daemon-manager.log']);
    assert.ok(!('error' in args));
    assert.equal(args.logFile, '/var/lib/dm/daemon-manager.log');
    assert.deepEqual(parseManagerArgs(['--log-file']), { error: '--log-file needs a file' });
  });

  const refused: [string[], string][] = [
    [['--frobnicate'], "unknown option '--frobnicate'"],
    [['--frobnicate=3'], "unknown option '--frobnicate'"],
    [['-x'], "unknown option '-x'"],
    [['status'], "unexpected argument 'status' (daemon-manager takes options only)"],
    [['--config'], '--config needs a file'],
  ];
  for (const [argv, error] of refused)
    test(`${argv.join(' ')} is refused: ${error}`, () => {
      assert.deepEqual(parseManagerArgs(argv), { error });
    });
});
