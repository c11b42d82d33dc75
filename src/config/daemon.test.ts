import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DAEMON_CONFIG_LIMITS,
  type DaemonSpec,
  isValidDaemonName,
  parseDaemonConfig,
  parseUmask,
  parseYes,
} from './daemon.ts';
import { formatProblem, type Problem } from './problems.ts';

const FILE = '/home/bob/.daemon-manager/daemons/blog.conf';
/** Stands for the list of known keys, which grows; one test checks what it must hold. */
const KNOWN = '…';

/** The fields of the original's file format; other fields are other tests' business. */
type Documented = Pick<
  DaemonSpec,
  'name' | 'start' | 'dir' | 'runAs' | 'output' | 'autostart' | 'env' | 'stopTimeoutMs'
>;

/** The spec of a file with `start=exec ./blog` and nothing else. */
const MINIMAL: Documented = {
  name: 'blog',
  start: 'exec ./blog',
  dir: '/',
  runAs: undefined,
  output: 'discard',
  autostart: true,
  env: [],
  stopTimeoutMs: undefined,
};

function documented(spec: DaemonSpec): Documented {
  const { name, start, dir, runAs, output, autostart, env, stopTimeoutMs } = spec;
  return { name, start, dir, runAs, output, autostart, env, stopTimeoutMs };
}

function parse(text: string): { spec: Documented | undefined; problems: Problem[] } {
  const { spec, problems } = parseDaemonConfig(text, FILE, 'blog');
  return {
    spec: spec === undefined ? undefined : documented(spec),
    problems: problems.map((problem) => ({
      ...problem,
      message: problem.message.replace(/\(known: [^)]*\)$/, `(known: ${KNOWN})`),
    })),
  };
}

function problemsOf(text: string): string[] {
  return parse(text).problems.map(formatProblem);
}

describe('parseDaemonConfig', () => {
  test('a file with only start= gets the defaults: dir /, output discard, autostart yes', () => {
    assert.deepEqual(parse('start=exec ./blog\n'), { spec: MINIMAL, problems: [] });
  });

  test('a file using every key parses to exactly that spec', () => {
    const text = [
      '# my blog',
      'start = exec ./daemon --flags   # fed to /bin/sh -c',
      'dir=/some/working/dir',
      'user=www-data',
      'output=log',
      'autostart=no',
      'stop_timeout=30s',
      'export PATH=/opt/bin:/usr/bin',
      'export LANG=C.UTF-8',
    ].join('\n');
    assert.deepEqual(parse(text), {
      spec: {
        name: 'blog',
        start: 'exec ./daemon --flags',
        dir: '/some/working/dir',
        runAs: 'www-data',
        output: 'log',
        autostart: false,
        env: [
          ['PATH', '/opt/bin:/usr/bin'],
          ['LANG', 'C.UTF-8'],
        ],
        stopTimeoutMs: 30_000,
      },
      problems: [],
    });
  });

  const valueCases: { name: string; text: string; expected: Partial<DaemonSpec> }[] = [
    {
      name: 'white space around key, = and value is trimmed',
      text: '  start   =   exec ./blog  \t',
      expected: {},
    },
    {
      name: 'an = inside the value belongs to the value',
      text: 'start=FOO=1 exec ./blog',
      expected: { start: 'FOO=1 exec ./blog' },
    },
    {
      name: 'CRLF line ends are trimmed',
      text: 'start=exec ./blog\r\noutput=log\r\n',
      expected: { output: 'log' },
    },
    { name: 'output=discard', text: 'start=exec ./blog\noutput=discard', expected: {} },
    { name: 'dir=/', text: 'start=exec ./blog\ndir=/', expected: {} },
    {
      name: 'stop-timeout with a dash is the same key as stop_timeout',
      text: 'start=exec ./blog\nstop-timeout=500ms',
      expected: { stopTimeoutMs: 500 },
    },
    {
      name: 'a user name ending in $',
      text: 'start=exec ./blog\nuser=host$',
      expected: { runAs: 'host$' },
    },
  ];
  for (const { name, text, expected } of valueCases) {
    test(`${name}`, () => {
      assert.deepEqual(parse(text), { spec: { ...MINIMAL, ...expected }, problems: [] });
    });
  }

  // As in the original, a # starts a comment anywhere; within a word it is said, for a
  // password, a URL's fragment or a colour was cut without a word (an outside review, 74a, F7).
  test('a # cuts the value (comments anywhere), said when it begins within a word', () => {
    const { spec, problems } = parse(
      'start=exec ./blog#--verbose\nexport PASS=ab#cd\nexport COLOR=#fff\noutput=log # a comment\nexport Q="a #b"\n',
    );
    assert.equal(spec?.start, 'exec ./blog');
    assert.deepEqual(spec?.env, [
      ['PASS', 'ab'],
      ['COLOR', ''],
      ['Q', '"a'],
    ]);
    assert.equal(spec?.output, 'log');
    assert.deepEqual(
      problems.map((problem) => [problem.line, problem.severity]),
      [
        [1, 'warning'],
        [2, 'warning'],
        [3, 'warning'],
        // Within quotes, after a space (an outside review, 75a, F2).
        [5, 'warning'],
      ],
    );
    assert.match(
      problems[1]?.message ?? '',
      /^'#' starts a comment, even within a word or quotes: the line ends before it, as 'export PASS=ab'/,
    );
  });

  const exportCases: { line: string; env: [string, string][]; why: string }[] = [
    { why: 'a plain assignment', line: 'export A=b', env: [['A', 'b']] },
    {
      why: 'double quotes are literal, not shell quoting',
      line: 'export GREETING="hello world"',
      env: [['GREETING', '"hello world"']],
    },
    {
      why: 'single quotes are literal too',
      line: "export Q='x'",
      env: [['Q', "'x'"]],
    },
    { why: 'a dollar is not expanded', line: 'export P=$HOME/bin', env: [['P', '$HOME/bin']] },
    { why: 'blanks around = are trimmed', line: 'export  A  =  b c ', env: [['A', 'b c']] },
    { why: 'an empty value is allowed', line: 'export EMPTY=', env: [['EMPTY', '']] },
    { why: 'a second = is part of the value', line: 'export X=a=b', env: [['X', 'a=b']] },
    {
      why: 'underscores and digits after the first letter',
      line: 'export _a1=v',
      env: [['_a1', 'v']],
    },
  ];
  for (const { why, line, env } of exportCases) {
    test(`export: ${why}`, () => {
      assert.deepEqual(parse(`start=exec ./blog\n${line}\n`), {
        spec: { ...MINIMAL, env },
        problems: [],
      });
    });
  }

  test('a later export of the same name overrides the earlier value, keeping its place', () => {
    const { spec } = parse('start=exec ./blog\nexport A=1\nexport B=2\nexport A=3\n');
    assert.deepEqual(spec?.env, [
      ['A', '3'],
      ['B', '2'],
    ]);
  });

  const badExports = [
    'export 1BAD=x',
    'export A-B=x',
    'export NOVALUE',
    'export =x',
    'export A B=x',
  ];
  for (const line of badExports) {
    test(`'${line}' is an error naming the line`, () => {
      assert.deepEqual(parse(`start=exec ./blog\n${line}\n`), {
        spec: undefined,
        problems: [
          {
            file: FILE,
            line: 2,
            severity: 'error',
            message: `expected 'export NAME=value' with a valid variable name, got '${line}'`,
          },
        ],
      });
    });
  }

  const problemCases: { name: string; text: string; expected: string[]; loads: boolean }[] = [
    {
      name: 'an unknown key is a warning naming the key, and the daemon still loads',
      text: 'start=exec ./blog\noutptu=log\n',
      expected: [`${FILE}:2: warning: unknown key 'outptu' ignored (known: ${KNOWN})`],
      loads: true,
    },
    {
      name: 'a key set twice is a warning naming both lines',
      text: 'start=exec ./old\n\nstart=exec ./blog\n',
      expected: [`${FILE}:3: warning: 'start' was already set on line 1; this line wins`],
      loads: true,
    },
    {
      name: 'a missing start= is an error about the whole file',
      text: 'dir=/srv\noutput=log\n',
      expected: [`${FILE}: error: no 'start=' line: nothing to run`],
      loads: false,
    },
    {
      name: 'an empty file has nothing to run',
      text: '',
      expected: [`${FILE}: error: no 'start=' line: nothing to run`],
      loads: false,
    },
    {
      name: 'an empty start= is one error, not two',
      text: 'start=   # nothing\n',
      expected: [`${FILE}:1: error: 'start' is empty`],
      loads: false,
    },
    {
      name: 'an output other than log or discard is an error',
      text: 'start=exec ./blog\noutput=syslog\n',
      expected: [`${FILE}:2: error: 'output' must be 'log' or 'discard', not 'syslog'`],
      loads: false,
    },
    {
      name: 'output is case-sensitive',
      text: 'start=exec ./blog\noutput=Log\n',
      expected: [`${FILE}:2: error: 'output' must be 'log' or 'discard', not 'Log'`],
      loads: false,
    },
    {
      name: 'a relative dir is an error',
      text: 'start=exec ./blog\ndir=srv/blog\n',
      expected: [`${FILE}:2: error: 'dir' must be an absolute path, not 'srv/blog'`],
      loads: false,
    },
    {
      name: 'a user that is not a user name is an error',
      text: 'start=exec ./blog\nuser=www data\n',
      expected: [`${FILE}:2: error: 'user' must be a user name, not 'www data'`],
      loads: false,
    },
    {
      name: 'a line without = is an error',
      text: 'start=exec ./blog\nautostart\n',
      expected: [`${FILE}:2: error: expected 'key=value', got 'autostart'`],
      loads: false,
    },
    {
      name: 'a bad stop_timeout is an error',
      text: 'start=exec ./blog\nstop_timeout=soon\n',
      expected: [
        `${FILE}:2: error: 'stop_timeout' must be a duration like 10s or 500ms, not 'soon'`,
      ],
      loads: false,
    },
    {
      name: 'a duration past the longest one says the longest',
      text: 'start=exec ./blog\nwatchdog=100h\nstop_timeout=1441m\n',
      expected: [
        `${FILE}:2: error: 'watchdog' must be at most 24h, not '100h'`,
        `${FILE}:3: error: 'stop_timeout' must be at most 24h, not '1441m'`,
      ],
      loads: false,
    },
    {
      name: 'a watchdog under a second says the shortest',
      text: 'start=exec ./blog\nwatchdog=500ms\n',
      expected: [
        `${FILE}:2: error: 'watchdog' must be a duration of at least 1s, such as 30s, not '500ms'`,
      ],
      loads: false,
    },
    {
      name: 'every problem is reported at once, in line order',
      text: 'dir=relative\noutput=file\ncolour=red\nexport 9=x\nuser=\n',
      expected: [
        `${FILE}:1: error: 'dir' must be an absolute path, not 'relative'`,
        `${FILE}:2: error: 'output' must be 'log' or 'discard', not 'file'`,
        `${FILE}:3: warning: unknown key 'colour' ignored (known: ${KNOWN})`,
        `${FILE}:4: error: expected 'export NAME=value' with a valid variable name, got 'export 9=x'`,
        `${FILE}:5: error: 'user' must be a user name, not ''`,
        `${FILE}: error: no 'start=' line: nothing to run`,
      ],
      loads: false,
    },
  ];
  for (const { name, text, expected, loads } of problemCases) {
    test(name, () => {
      const { spec, problems } = parse(text);
      assert.deepEqual(problems.map(formatProblem), expected);
      assert.equal(spec !== undefined, loads);
    });
  }

  test('the last of two start= lines wins', () => {
    assert.equal(parse('start=exec ./old\nstart=exec ./blog\n').spec?.start, 'exec ./blog');
  });

  const durationCases: [string, number][] = [
    ['5', 5_000],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['250ms', 250],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['10 s', 10_000],
    ['0', 0],
  ];
  for (const [value, ms] of durationCases) {
    test(`stop_timeout=${value} is ${ms} ms`, () => {
      assert.equal(parse(`start=exec ./blog\nstop_timeout=${value}\n`).spec?.stopTimeoutMs, ms);
    });
  }

  const autostartCases: [string, boolean][] = [
    ['yes', true],
    ['y', true],
    ['Y', true],
    ['true', true],
    ['T', true],
    ['1', true],
    ['on', true],
    ['O', true],
    ['off', false],
    ['OFF', false],
    ['no', false],
    ['false', false],
    ['0', false],
  ];
  for (const [value, expected] of autostartCases) {
    test(`autostart=${value} means ${expected ? 'yes' : 'no'}`, () => {
      assert.equal(parse(`start=exec ./blog\nautostart=${value}\n`).spec?.autostart, expected);
    });
  }

  for (const key of ['autostart', 'log_timestamps'])
    for (const value of ['maybe', 'disabled', '', '2'])
      test(`${key}=${value} is an error, not a silent no`, () => {
        assert.deepEqual(problemsOf(`start=exec ./blog\n${key}=${value}\n`), [
          `${FILE}:2: error: '${key}' must be yes or no, not '${value}'`,
        ]);
      });

  const umaskCases: [string, number][] = [
    ['022', 0o022],
    ['0027', 0o027],
    ['000', 0],
    ['7', 0o007],
    ['0777', 0o777],
  ];
  for (const [value, mask] of umaskCases)
    test(`umask=${value} is ${mask.toString(8).padStart(3, '0')}`, () => {
      const { spec, problems } = parseDaemonConfig(`start=x\numask=${value}\n`, FILE, 'blog');
      assert.deepEqual(problems, []);
      assert.equal(spec?.umask, mask);
    });

  test('without umask= a daemon gets 022', () => {
    assert.equal(parseDaemonConfig('start=x\n', FILE, 'blog').spec?.umask, 0o022);
  });

  for (const value of ['0o22', '888', '1022', '22a', '', '-1', '0x12'])
    test(`umask=${value} is an error naming the line`, () => {
      assert.deepEqual(problemsOf(`start=exec ./blog\numask=${value}\n`), [
        `${FILE}:2: error: 'umask' must be an octal mask like 022 or 0027, not '${value}'`,
      ]);
    });

  test('the line of the user= that counts is given with the spec', () => {
    const text = 'start=x\nuser=a\n\nuser=b\n';
    const { spec, runAsLine } = parseDaemonConfig(text, FILE, 'blog');
    assert.equal(spec?.runAs, 'b');
    assert.equal(runAsLine, 4);
  });

  test('control characters quoted from a value are escaped in the formatted problem', () => {
    assert.deepEqual(problemsOf('start=exec ./blog\noutput=\u001b[2J\rforged\n'), [
      `${FILE}:2: error: 'output' must be 'log' or 'discard', not '\\x1b[2J\\rforged'`,
    ]);
  });

  test(`${DAEMON_CONFIG_LIMITS.exports} distinct exports load; one more is an error on its line`, () => {
    const exports = (count: number): string =>
      Array.from({ length: count }, (_, index) => `export V${index}=x`).join('\n');
    const atLimit = parse(`start=exec ./blog\n${exports(DAEMON_CONFIG_LIMITS.exports)}\n`);
    assert.deepEqual(atLimit.problems, []);
    assert.equal(atLimit.spec?.env.length, DAEMON_CONFIG_LIMITS.exports);

    const over = parse(`start=exec ./blog\n${exports(DAEMON_CONFIG_LIMITS.exports + 1)}\n`);
    assert.equal(over.spec, undefined);
    assert.deepEqual(over.problems.map(formatProblem), [
      `${FILE}:${DAEMON_CONFIG_LIMITS.exports + 2}: error: too many export lines (at most 1000)`,
    ]);
  });

  test('re-exporting an existing name at the export limit is not "too many"', () => {
    const lines = Array.from({ length: DAEMON_CONFIG_LIMITS.exports }, (_, i) => `export V${i}=x`);
    const { problems, spec } = parse(`start=exec ./blog\n${lines.join('\n')}\nexport V0=y\n`);
    assert.deepEqual(problems, []);
    assert.deepEqual(spec?.env[0], ['V0', 'y']);
  });

  test('an environment of exactly the byte limit loads; one byte more is an error', () => {
    // Each export costs name + value + 2 (the '=' and the terminating NUL of environ).
    const limit = DAEMON_CONFIG_LIMITS.environmentBytes;
    const fits = parse(`start=exec ./blog\nexport A=${'v'.repeat(limit - 3)}\n`);
    assert.deepEqual(fits.problems, []);
    assert.equal(fits.spec?.env[0]?.[1].length, limit - 3);

    const over = parse(`start=exec ./blog\nexport A=${'v'.repeat(limit - 2)}\n`);
    assert.equal(over.spec, undefined);
    assert.deepEqual(over.problems.map(formatProblem), [
      `${FILE}:2: error: exported environment exceeds 131072 bytes`,
    ]);
  });

  test('the environment byte limit adds up across export lines', () => {
    const half = 'v'.repeat(DAEMON_CONFIG_LIMITS.environmentBytes / 2);
    assert.deepEqual(problemsOf(`start=exec ./blog\nexport A=${half}\nexport B=${half}\n`), [
      `${FILE}:3: error: exported environment exceeds 131072 bytes`,
    ]);
  });

  test('the environment byte limit counts UTF-8 bytes, not characters', () => {
    // 'é' is one UTF-16 unit but two UTF-8 bytes: half the limit in 'é' is the whole limit.
    const value = 'é'.repeat(DAEMON_CONFIG_LIMITS.environmentBytes / 2);
    assert.deepEqual(problemsOf(`start=exec ./blog\nexport A=${value}\n`), [
      `${FILE}:2: error: exported environment exceeds 131072 bytes`,
    ]);
  });

  test('the unknown-key warning lists every documented key', () => {
    const [problem] = parseDaemonConfig('start=x\nstrat=y\n', FILE, 'blog').problems;
    const listed = /\(known: ([^)]*)\)$/.exec(problem?.message ?? '')?.[1]?.split(', ') ?? [];
    for (const key of ['start', 'dir', 'user', 'output', 'autostart', 'stop_timeout', 'export'])
      assert.ok(listed.includes(key), `'${key}' missing from the known keys: ${listed.join(', ')}`);
  });

  test('the name given by the caller becomes the spec name', () => {
    assert.equal(parseDaemonConfig('start=x', FILE, 'other.name').spec?.name, 'other.name');
  });
});

describe('parseYes', () => {
  const cases: [string, boolean | undefined][] = [
    ['y', true],
    ['Y', true],
    ['yes', true],
    ['t', true],
    ['T', true],
    ['true', true],
    ['1', true],
    ['10', true],
    ['o', true],
    ['O', true],
    ['on', true],
    ['ok', true],
    ['off', false],
    ['Off', false],
    ['OFF', false],
    ['offline', true],
    ['n', false],
    ['no', false],
    ['N', false],
    ['false', false],
    ['F', false],
    ['0', false],
    ['', undefined],
    [' yes', undefined],
    ['enable', undefined],
    ['maybe', undefined],
    ['2', undefined],
  ];
  for (const [value, expected] of cases) {
    test(`'${value}' is ${expected === undefined ? 'neither' : expected ? 'yes' : 'no'}`, () => {
      assert.equal(parseYes(value), expected);
    });
  }
});

describe('parseUmask', () => {
  test('reads octal, refuses the rest', () => {
    assert.equal(parseUmask('022'), 0o022);
    assert.equal(parseUmask('9'), undefined);
  });
});

describe('isValidDaemonName', () => {
  const cases: [string, boolean][] = [
    ['blog', true],
    ['my.app', true],
    ['a@b+c-d_e', true],
    ['_x', true],
    ['9', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['', false],
    ['.hidden', false],
    ['..', false],
    ['-flag', false],
    ['a/b', false],
    ['a b', false],
    ['a\nb', false],
    ['blög', false],
    ['a:b', false],
  ];
  for (const [name, expected] of cases) {
    test(`${JSON.stringify(name.length > 20 ? `${name.length} x's` : name)} is ${expected ? 'valid' : 'invalid'}`, () => {
      assert.equal(isValidDaemonName(name), expected);
    });
  }
});
