import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VERBS } from '../cli/args.ts';
import { parseDaemonConfig } from '../config/daemon.ts';
import { applySetting, DEFAULT_SETTINGS, type Settings } from '../config/settings.ts';
import { DAEMON_KEYS } from './daemon.ts';
import { DMCTL_COMMANDS } from './dmctl.ts';
import { SETTINGS } from './master.ts';

/** A value each kind of setting accepts, to show the parser knows the key. */
function sampleValue(key: string): string {
  if (key.startsWith('daemon-path') || key.endsWith('-dir')) return '/srv/x';
  if (key === 'cgroups' || key === 'cpu-fair-share') return 'no';
  if (key === 'metrics-listen') return '127.0.0.1:9815';
  if (key === 'limit-core' || key === 'limit-as' || key === 'log-max-size') return '1M';
  return /timeout|cooldown|uptime/.test(key) ? '5s' : '3';
}

describe('the reference and the parsers agree', () => {
  for (const { name, default: fallback } of SETTINGS) {
    test(`[settings] ${name} is parsed`, () => {
      const settings = { ...DEFAULT_SETTINGS } as { -readonly [K in keyof Settings]: Settings[K] };
      assert.equal(applySetting(settings, name, sampleValue(name)), undefined);
      assert.notDeepEqual(settings, DEFAULT_SETTINGS, `${name} changed nothing`);
      // A documented default that is a value must be one the parser takes.
      if (fallback !== undefined && fallback !== 'unset')
        assert.equal(applySetting(settings, name, fallback), undefined, `default of ${name}`);
    });
  }

  test('an unknown setting is refused, naming every documented key', () => {
    const message = applySetting({ ...DEFAULT_SETTINGS }, 'no-such-key', '1') ?? '';
    for (const { name } of SETTINGS) assert.ok(message.includes(name), name);
  });

  for (const { name } of DAEMON_KEYS) {
    test(`daemon config key ${name} is known`, () => {
      const line = name === 'export' ? 'export A=b' : `${name}=1`;
      const { problems } = parseDaemonConfig(`start=x\n${line}\n`, 'x.conf', 'x');
      assert.ok(
        problems.every((problem) => !problem.message.startsWith('unknown key')),
        JSON.stringify(problems),
      );
    });
  }

  test('every dmctl command word is documented, and every documented one parses', () => {
    assert.deepEqual(
      [...new Set(DMCTL_COMMANDS.map((command) => command.verb))].sort(),
      [...VERBS].sort(),
    );
  });
});
