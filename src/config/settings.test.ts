import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  applySetting,
  DEFAULT_SETTINGS,
  expandUserPath,
  SETTINGS_KEYS,
  type Settings,
} from './settings.ts';

/** The keys grow; one test below checks that the documented ones are among them. */
const KNOWN = SETTINGS_KEYS.join(', ');

describe('applySetting', () => {
  test('the known keys include every documented one', () => {
    const documented = [
      'daemon-path-daemon',
      'daemon-path-log',
      'daemon-path-daemon-root',
      'daemon-path-log-root',
      'socket-dir',
      'state-dir',
      'stop-timeout',
      'cooldown-step',
      'cooldown-max',
      'stable-uptime',
    ];
    assert.deepEqual(
      documented.filter((key) => !SETTINGS_KEYS.includes(key)),
      [],
    );
  });

  const accepted: { key: string; value: string; changes: Partial<Settings> }[] = [
    { key: 'daemon-path-daemon', value: '~/daemons', changes: { daemonPathDaemon: '~/daemons' } },
    {
      key: 'daemon-path-log',
      value: '/var/log/%username%',
      changes: { daemonPathLog: '/var/log/%username%' },
    },
    {
      key: 'daemon-path-daemon-root',
      value: '/etc/dm/',
      changes: { daemonPathDaemonRoot: '/etc/dm' },
    },
    {
      key: 'daemon-path-log-root',
      value: '/var/log/dm///',
      changes: { daemonPathLogRoot: '/var/log/dm' },
    },
    { key: 'daemon-path-log-root', value: '/', changes: { daemonPathLogRoot: '/' } },
    { key: 'daemon-path-log-root', value: '///', changes: { daemonPathLogRoot: '/' } },
    { key: 'socket-dir', value: '/run/dm', changes: { socketDir: '/run/dm' } },
    { key: 'state-dir', value: '/var/lib/dm/', changes: { stateDir: '/var/lib/dm' } },
    { key: 'stop-timeout', value: '3s', changes: { stopTimeoutMs: 3_000 } },
    { key: 'cooldown-step', value: '500ms', changes: { cooldownStepMs: 500 } },
    { key: 'cooldown-max', value: '2m', changes: { cooldownMaxMs: 120_000 } },
    { key: 'stable-uptime', value: '90', changes: { stableUptimeMs: 90_000 } },
  ];
  for (const { key, value, changes } of accepted) {
    test(`${key} = ${value} sets ${JSON.stringify(changes)} and nothing else`, () => {
      const settings = { ...DEFAULT_SETTINGS };
      assert.equal(applySetting(settings, key, value), undefined);
      assert.deepEqual(settings, { ...DEFAULT_SETTINGS, ...changes });
    });
  }

  const refused: { key: string; value: string; message: string }[] = [
    { key: 'daemon-path-log', value: '', message: "setting 'daemon-path-log' needs a path" },
    {
      key: 'daemon-path-daemon',
      value: 'daemons',
      message: "setting 'daemon-path-daemon' must be absolute or start with '~/', not 'daemons'",
    },
    {
      key: 'daemon-path-daemon',
      value: '~bob/daemons',
      message:
        "setting 'daemon-path-daemon' must be absolute or start with '~/', not '~bob/daemons'",
    },
    {
      key: 'socket-dir',
      value: '~/sockets',
      message: "setting 'socket-dir' must be an absolute path, not '~/sockets'",
    },
    {
      key: 'state-dir',
      value: 'var/lib',
      message: "setting 'state-dir' must be an absolute path, not 'var/lib'",
    },
    {
      key: 'stop-timeout',
      value: 'forever',
      message: "setting 'stop-timeout' must be a duration like 10s or 500ms, not 'forever'",
    },
    {
      key: 'cooldown-max',
      value: '25h',
      message: "setting 'cooldown-max' must be at most 24h, not '25h'",
    },
    {
      key: 'daemon_path_log',
      value: '/x',
      message: `unknown setting 'daemon_path_log' (known: ${KNOWN})`,
    },
    { key: '', value: '/x', message: `unknown setting '' (known: ${KNOWN})` },
  ];
  for (const { key, value, message } of refused) {
    test(`${key || '(empty key)'} = '${value}' is refused and leaves the settings alone`, () => {
      const settings = { ...DEFAULT_SETTINGS };
      assert.equal(applySetting(settings, key, value), message);
      assert.deepEqual(settings, DEFAULT_SETTINGS);
    });
  }
});

describe('expandUserPath', () => {
  const bob = { name: 'bob', home: '/home/bob' };
  const cases: { template: string; user: { name: string; home: string }; expected: string }[] = [
    {
      template: '~/.daemon-manager/daemons',
      user: bob,
      expected: '/home/bob/.daemon-manager/daemons',
    },
    { template: '/var/log/%username%', user: bob, expected: '/var/log/bob' },
    { template: '/srv/%username%/%username%.d', user: bob, expected: '/srv/bob/bob.d' },
    { template: '~/%username%', user: bob, expected: '/home/bob/bob' },
    { template: '/etc/daemon-manager/daemons', user: bob, expected: '/etc/daemon-manager/daemons' },
    { template: '~/logs', user: { name: 'root', home: '/' }, expected: '/logs' },
    { template: '~/logs', user: { name: 'amy', home: '/home/amy/' }, expected: '/home/amy/logs' },
    { template: '/a/~/b', user: bob, expected: '/a/~/b' },
  ];
  for (const { template, user, expected } of cases) {
    test(`'${template}' for ${user.name} (home ${user.home}) is '${expected}'`, () => {
      assert.equal(expandUserPath(template, user), expected);
    });
  }
});
