import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildEnvironment } from './environment.ts';

const WWW = { name: 'www-data', home: '/var/www' };

describe('buildEnvironment', () => {
  const cases: {
    name: string;
    exports: [string, string][];
    expected: Record<string, string>;
  }[] = [
    {
      name: 'with no exports: HOME, LOGNAME and USER of the run-as user and the original PATH',
      exports: [],
      expected: { HOME: '/var/www', LOGNAME: 'www-data', USER: 'www-data', PATH: '/usr/bin:/bin' },
    },
    {
      name: 'an export overrides PATH',
      exports: [['PATH', '/opt/bin:/usr/bin']],
      expected: {
        HOME: '/var/www',
        LOGNAME: 'www-data',
        USER: 'www-data',
        PATH: '/opt/bin:/usr/bin',
      },
    },
    {
      name: 'an export overrides HOME',
      exports: [['HOME', '/srv/www']],
      expected: { HOME: '/srv/www', LOGNAME: 'www-data', USER: 'www-data', PATH: '/usr/bin:/bin' },
    },
    {
      name: 'exports add variables, values kept literally',
      exports: [
        ['GREETING', '"hello world"'],
        ['EMPTY', ''],
      ],
      expected: {
        HOME: '/var/www',
        LOGNAME: 'www-data',
        USER: 'www-data',
        PATH: '/usr/bin:/bin',
        GREETING: '"hello world"',
        EMPTY: '',
      },
    },
    {
      name: 'the last export of a name wins',
      exports: [
        ['A', '1'],
        ['A', '2'],
      ],
      expected: {
        HOME: '/var/www',
        LOGNAME: 'www-data',
        USER: 'www-data',
        PATH: '/usr/bin:/bin',
        A: '2',
      },
    },
  ];
  for (const { name, exports, expected } of cases) {
    test(name, () => {
      assert.deepEqual(buildEnvironment(WWW, exports), expected);
    });
  }

  test("nothing of the manager's own environment leaks in", () => {
    process.env.DM_TEST_SECRET = 'leak';
    try {
      const env = buildEnvironment(WWW, []);
      assert.equal('DM_TEST_SECRET' in env, false);
      assert.deepEqual(Object.keys(env).sort(), ['HOME', 'LOGNAME', 'PATH', 'USER']);
    } finally {
      delete process.env.DM_TEST_SECRET;
    }
  });

  test('each call returns a fresh object', () => {
    const first = buildEnvironment(WWW, [['A', '1']]);
    const second = buildEnvironment(WWW, []);
    assert.notEqual(first, second);
    assert.equal('A' in second, false);
  });
});
