import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDaemonConfig } from './daemon.ts';
import { NO_LIMITS, parseLimitValue, parseLimitValues } from './limits.ts';
import { parseMasterConfig } from './master.ts';
import { formatProblem } from './problems.ts';
import { applySetting, DEFAULT_SETTINGS, type Settings } from './settings.ts';

const FILE = '/etc/daemon-manager/daemon-manager.conf';

describe('parseLimitValue', () => {
  const accepted: [Parameters<typeof parseLimitValue>[0], string, number | null][] = [
    ['nofile', '1024', 1024],
    ['nproc', '1', 1],
    ['maxDaemons', '0', 0],
    ['core', '0', 0],
    ['as', '512M', 512 * 1024 * 1024],
    ['as', '2G', 2 * 1024 ** 3],
    ['nofile', 'unlimited', null],
    ['core', 'unlimited', null],
    ['memory', '64M', 64 * 1024 * 1024],
    ['memory', 'unlimited', null],
    ['cpu', '50', 50],
    ['cpu', '150%', 150],
    ['cpuWeight', '1', 1],
    ['cpuWeight', '10000', 10_000],
    ['cpuWeight', 'unlimited', null],
    ['tasks', '500', 500],
  ];
  for (const [key, text, value] of accepted)
    test(`${key} = ${text}`, () => assert.deepEqual(parseLimitValue(key, text), value));

  const refused: [Parameters<typeof parseLimitValue>[0], string][] = [
    ['nofile', '0'],
    ['nproc', '-1'],
    ['nofile', '1.5'],
    ['nofile', '10K'],
    ['nofile', '99999999999'],
    ['maxDaemons', 'many'],
    ['as', 'lots'],
    ['core', ''],
    ['nofile', 'Unlimited'],
    ['memory', '100K'],
    ['memory', 'half'],
    ['cpu', '0'],
    ['cpu', '0.5'],
    ['cpu', '1000000'],
    ['cpuWeight', '0'],
    ['cpuWeight', '10001'],
    ['cpuWeight', '50%'],
    ['tasks', '0'],
  ];
  for (const [key, text] of refused)
    test(`${key} = '${text}' is refused`, () => {
      const parsed = parseLimitValue(key, text);
      assert.ok(parsed !== null && typeof parsed === 'object' && 'error' in parsed, String(parsed));
    });

  test('a refused value is quoted short, however long it is', () => {
    const parsed = parseLimitValue('nofile', 'x'.repeat(100_000));
    assert.ok(parsed !== null && typeof parsed === 'object');
    assert.ok(parsed.error.length < 200, parsed.error);
  });
});

describe('parseLimitValues', () => {
  test('reads every key of a [limits] line', () => {
    assert.deepEqual(
      parseLimitValues(' nofile=1024, nproc = 200,core=0 , as=1G, max-daemons=unlimited '),
      {
        values: { nofile: 1024, nproc: 200, core: 0, as: 1024 ** 3, maxDaemons: null },
        ports: undefined,
        errors: [],
      },
    );
  });
  test('names each bad item', () => {
    const { errors } = parseLimitValues('nofile=lots, stack=1M, nproc');
    assert.equal(errors.length, 3, errors.join('\n'));
    assert.match(errors[0] ?? '', /^nofile must be a whole number/);
    assert.match(errors[1] ?? '', /got 'stack=1M'/);
    assert.match(errors[2] ?? '', /got 'nproc'/);
  });
});

describe('ports= in [limits]', () => {
  test('reads ports and ranges separated by spaces', () => {
    assert.deepEqual(parseLimitValues('ports=80 9000-9099, nofile=10'), {
      values: { nofile: 10 },
      ports: [
        { from: 80, to: 80 },
        { from: 9000, to: 9099 },
      ],
      errors: [],
    });
  });
  test('names a bad range', () => {
    for (const bad of ['0', '9100-9000', '70000', 'http', ''])
      assert.match(
        parseLimitValues(`ports=${bad}`).errors[0] ?? '',
        /^ports (must be|needs)/,
        `ports=${bad}`,
      );
  });
});

describe('limits in [settings]', () => {
  const apply = (key: string, value: string): Settings | string => {
    const settings = { ...DEFAULT_SETTINGS };
    return applySetting(settings, key, value) ?? settings;
  };
  test('set nothing by default', () => {
    assert.deepEqual(DEFAULT_SETTINGS.limits, NO_LIMITS);
  });
  test('max-daemons and limit-* set the defaults of every user', () => {
    const settings = { ...DEFAULT_SETTINGS };
    for (const [key, value] of [
      ['max-daemons', '20'],
      ['limit-nofile', '4096'],
      ['limit-nproc', '500'],
      ['limit-core', '0'],
      ['limit-as', '4G'],
    ] as const)
      assert.equal(applySetting(settings, key, value), undefined, key);
    assert.deepEqual(settings.limits, {
      maxDaemons: 20,
      nofile: 4096,
      nproc: 500,
      core: 0,
      as: 4 * 1024 ** 3,
      memory: undefined,
      cpu: undefined,
      tasks: undefined,
      cpuWeight: undefined,
    });
  });
  test("'unlimited' leaves a limit unset", () => {
    const settings = apply('limit-nofile', 'unlimited');
    assert.equal(typeof settings === 'object' && settings.limits.nofile, undefined);
  });
  test('a bad value names the key and the value', () => {
    assert.equal(
      apply('limit-nproc', 'some'),
      "setting 'limit-nproc' must be a whole number from 1 or 'unlimited', not 'some'",
    );
  });
  test('limit-max-daemons is not a key', () => {
    assert.match(String(apply('limit-max-daemons', '3')), /^unknown setting 'limit-max-daemons'/);
  });
});

describe('[limits] in the master config', () => {
  test('parses user and group lines, in order', () => {
    const text = '[limits]\nalice: nofile=1024, nproc=200\n@web: max-daemons=3 # comment\n';
    const { config, problems } = parseMasterConfig(text, FILE);
    assert.deepEqual(problems, []);
    assert.deepEqual(config.limits, [
      { line: 2, left: { kind: 'user', name: 'alice' }, values: { nofile: 1024, nproc: 200 } },
      { line: 3, left: { kind: 'group', name: 'web' }, values: { maxDaemons: 3 } },
    ]);
  });
  test('reports every bad line with its number, and keeps none of them', () => {
    const text = '[limits]\nalice nofile=1\nbob: nofile=none\n!x: nproc=1\ncarol: core=0\n';
    const { config, problems } = parseMasterConfig(text, FILE);
    assert.deepEqual(problems.map(formatProblem), [
      `${FILE}:2: error: expected 'user: limit=value, ...' in [limits], got 'alice nofile=1'`,
      `${FILE}:3: error: nofile must be a whole number from 1 or 'unlimited', not 'none'`,
      `${FILE}:4: error: '!x' is not a valid user name`,
    ]);
    assert.deepEqual(
      config.limits.map((rule) => rule.line),
      [5],
    );
  });
});

describe('limit_* keys of a daemon config', () => {
  test('are read into the spec', () => {
    const text = 'start=x\nlimit_nofile=64\nlimit_nproc=10\nlimit_core=0\nlimit_as=256M\n';
    const { spec, problems } = parseDaemonConfig(text, 'f.conf', 'f');
    assert.deepEqual(problems, []);
    assert.deepEqual(spec?.limits, { nofile: 64, nproc: 10, core: 0, as: 256 * 1024 ** 2 });
  });
  test("are unset by default and by 'unlimited' (which asks for nothing)", () => {
    const { spec } = parseDaemonConfig('start=x\nlimit_nofile=unlimited\n', 'f.conf', 'f');
    assert.deepEqual(spec?.limits, NO_LIMITS_RESOURCES);
  });
  test('a bad value is an error that names the key', () => {
    const { spec, problems } = parseDaemonConfig('start=x\nlimit_nproc=lots\n', 'f.conf', 'f');
    assert.equal(spec, undefined);
    assert.deepEqual(problems.map(formatProblem), [
      "f.conf:2: error: 'limit_nproc' must be a whole number from 1 or 'unlimited', not 'lots'",
    ]);
  });
  test('there is no max-daemons key for a daemon', () => {
    const { problems } = parseDaemonConfig('start=x\nlimit_max-daemons=1\n', 'f.conf', 'f');
    assert.match(
      formatProblem(problems[0] ?? { file: '', severity: 'error', message: '' }),
      /warning: unknown key/,
    );
  });
});

const NO_LIMITS_RESOURCES = {
  nofile: NO_LIMITS.nofile,
  nproc: NO_LIMITS.nproc,
  core: NO_LIMITS.core,
  as: NO_LIMITS.as,
};
