import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type MasterConfig, type Principal, parseMasterConfig, type Rule } from './master.ts';
import { formatProblem, type Problem } from './problems.ts';
import { DEFAULT_SETTINGS } from './settings.ts';

const FILE = '/etc/daemon-manager/daemon-manager.conf';
/** Stands for the lists of known sections and keys, which grow; tests below check their core. */
const KNOWN = '…';

/** The parts of the master config the original had; other sections are other tests' business. */
type Documented = Pick<MasterConfig, 'file' | 'settings' | 'canRunAs' | 'manages'>;

const user = (name: string): Principal => ({ kind: 'user', name });
const group = (name: string): Principal => ({ kind: 'group', name });
const rule = (line: number, left: Principal, ...right: Principal[]): Rule => ({
  line,
  left,
  right,
});

function parse(text: string): { config: Documented; problems: Problem[] } {
  const { config, problems } = parseMasterConfig(text, FILE);
  const { file, settings, canRunAs, manages } = config;
  return {
    config: { file, settings, canRunAs, manages },
    problems: problems.map((problem) => ({
      ...problem,
      message: problem.message.replace(/\(known: [^)]*\)$/, `(known: ${KNOWN})`),
    })),
  };
}

/** Parses and returns the problems as `file:line: severity: message` strings. */
function problemsOf(text: string): string[] {
  return parse(text).problems.map(formatProblem);
}

/** The list in the `(known: ...)` of the first problem of `text`. */
function knownListOf(text: string): string[] {
  const message = parseMasterConfig(text, FILE).problems[0]?.message ?? '';
  return /\(known: ([^)]*)\)$/.exec(message)?.[1]?.split(', ') ?? [];
}

describe('parseMasterConfig', () => {
  test('the example of the original documentation parses to its rules, settings and no problem', () => {
    const text = [
      '[settings]                       # optional',
      'daemon-path-daemon      = ~/.daemon-manager/daemons',
      'daemon-path-log         = ~/.daemon-manager/logs',
      'daemon-path-daemon-root = /etc/daemon-manager/daemons',
      'daemon-path-log-root    = /var/log/daemon-manager',
      '',
      '[can_run_as]                     # old name [runs_as]: accepted, with a warning',
      'david: www-data',
      'bob                              # may run daemons, only as himself',
      'user3: nobody, www-data          # comments anywhere',
      'user4: @group1                   # a Unix group: its members',
      '@group2: user1, @group3          # on the left: each member of group2 gets the rule',
      '',
      '[manages]',
      'david: michaelc, amy, joann      # david may start/stop/restart/inspect their daemons',
      '@helpdesk: @customers',
      '',
    ].join('\n');
    const expected: Documented = {
      file: FILE,
      settings: DEFAULT_SETTINGS,
      canRunAs: [
        rule(8, user('david'), user('www-data')),
        rule(9, user('bob')),
        rule(10, user('user3'), user('nobody'), user('www-data')),
        rule(11, user('user4'), group('group1')),
        rule(12, group('group2'), user('user1'), group('group3')),
      ],
      manages: [
        rule(15, user('david'), user('michaelc'), user('amy'), user('joann')),
        rule(16, group('helpdesk'), group('customers')),
      ],
    };
    assert.deepEqual(parse(text), { config: expected, problems: [] });
  });

  test('an empty file gives the default settings, no rules and no problem', () => {
    assert.deepEqual(parse(''), {
      config: { file: FILE, settings: DEFAULT_SETTINGS, canRunAs: [], manages: [] },
      problems: [],
    });
  });

  const ruleCases: { name: string; line: string; expected: Rule }[] = [
    { name: 'a bare user', line: 'bob', expected: rule(2, user('bob')) },
    { name: 'a user with a trailing colon', line: 'bob:', expected: rule(2, user('bob')) },
    {
      name: 'a user with a colon and only blanks after it',
      line: 'bob:   ',
      expected: rule(2, user('bob')),
    },
    {
      name: 'white space around names, colon and commas',
      line: '  \t david  :  www-data ,nobody  ,  amy\t',
      expected: rule(2, user('david'), user('www-data'), user('nobody'), user('amy')),
    },
    {
      name: 'empty items between commas',
      line: 'david: a,, b ,',
      expected: rule(2, user('david'), user('a'), user('b')),
    },
    {
      name: 'groups on both sides',
      line: '@ops: @www, carol',
      expected: rule(2, group('ops'), group('www'), user('carol')),
    },
    {
      name: 'a comment right after the name',
      line: 'bob# runs as himself',
      expected: rule(2, user('bob')),
    },
    {
      name: 'a comment cutting the right-hand side',
      line: 'bob: alice # , mallory',
      expected: rule(2, user('bob'), user('alice')),
    },
    {
      name: 'names with dots, dashes, underscores and a trailing dollar',
      line: '_svc.a-b: host$, x_1',
      expected: rule(2, user('_svc.a-b'), user('host$'), user('x_1')),
    },
  ];
  for (const { name, line, expected } of ruleCases) {
    test(`a [can_run_as] rule with ${name} parses exactly`, () => {
      const { config, problems } = parse(`[can_run_as]\n${line}\n`);
      assert.deepEqual(problems, []);
      assert.deepEqual(config.canRunAs, [expected]);
      assert.deepEqual(config.manages, []);
    });
  }

  test('[runs_as] is accepted as [can_run_as], with a warning on its header line', () => {
    const { config, problems } = parse('# old file\n[runs_as]\nbob: www-data\n');
    assert.deepEqual(config.canRunAs, [rule(3, user('bob'), user('www-data'))]);
    assert.deepEqual(problems, [
      {
        file: FILE,
        line: 2,
        severity: 'warning',
        message: '[runs_as] is the old name of [can_run_as]',
      },
    ]);
  });

  test('section headers may have blanks inside the brackets and a trailing comment', () => {
    const { config, problems } = parse('[ manages ]  # who\nann: bob\n');
    assert.deepEqual(problems, []);
    assert.deepEqual(config.manages, [rule(2, user('ann'), user('bob'))]);
  });

  test('a [settings] key set twice is warned about, and the last one counts', () => {
    const { config, problems } = parse('[settings]\nstop-timeout = 5s\nstop-timeout = 7s\n');
    assert.equal(config.settings.stopTimeoutMs, 7000);
    assert.deepEqual(problems.map(formatProblem), [
      `${FILE}:3: warning: 'stop-timeout' is set again (first on line 2); this one counts`,
    ]);
  });

  test('a section may appear twice and its rules accumulate in file order', () => {
    const text = '[manages]\nann: bob\n[can_run_as]\nann\n[manages]\nann: carol\n';
    const { config, problems } = parse(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(config.manages, [
      rule(2, user('ann'), user('bob')),
      rule(6, user('ann'), user('carol')),
    ]);
    assert.deepEqual(config.canRunAs, [rule(4, user('ann'))]);
  });

  test('[settings] values override the defaults, trailing slashes removed', () => {
    const text = [
      '[settings]',
      'daemon-path-daemon=/srv/%username%/daemons/',
      '  daemon-path-log   =   ~/logs  # per user',
      'stop-timeout = 3s',
      'cooldown-step = 500ms',
      'cooldown-max = 2m',
      'stable-uptime = 30',
      'socket-dir = /run/dm',
      'state-dir = /var/lib/dm',
    ].join('\n');
    const { config, problems } = parse(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(config.settings, {
      ...DEFAULT_SETTINGS,
      daemonPathDaemon: '/srv/%username%/daemons',
      daemonPathLog: '~/logs',
      stopTimeoutMs: 3000,
      cooldownStepMs: 500,
      cooldownMaxMs: 120_000,
      stableUptimeMs: 30_000,
      socketDir: '/run/dm',
      stateDir: '/var/lib/dm',
    });
  });

  const errorCases: { name: string; text: string; expected: string[] }[] = [
    {
      name: 'an unknown section',
      text: '[can_run_as]\nbob\n[managers]\n',
      expected: [`${FILE}:3: error: unknown section [managers] (known: ${KNOWN})`],
    },
    {
      name: 'a line before any section',
      text: '# header comment\n\nbob: www-data\n[can_run_as]\nbob\n',
      expected: [`${FILE}:3: error: this line is outside any known section`],
    },
    {
      name: 'a [settings] line without =',
      text: '[settings]\ndaemon-path-log /var/log\n',
      expected: [
        `${FILE}:2: error: expected 'key = value' in [settings], got 'daemon-path-log /var/log'`,
      ],
    },
    {
      name: 'an unknown settings key',
      text: '[settings]\ndaemon-path-logs = /var/log\n',
      expected: [`${FILE}:2: error: unknown setting 'daemon-path-logs' (known: ${KNOWN})`],
    },
    {
      name: 'a bad user name on the left',
      text: '[can_run_as]\nbob smith: www-data\n',
      expected: [`${FILE}:2: error: 'bob smith' is not a valid user name`],
    },
    {
      name: 'a bad group name on the right',
      text: '[manages]\nann: @9lives\n',
      expected: [`${FILE}:2: error: '@9lives' is not a valid group name`],
    },
    {
      name: 'an empty left-hand side',
      text: '[manages]\n: bob\n',
      expected: [`${FILE}:2: error: '' is not a valid user name`],
    },
    {
      name: 'a lone @',
      text: '[can_run_as]\n@\n',
      expected: [`${FILE}:2: error: '@' is not a valid group name`],
    },
    {
      name: 'a path in place of a user name',
      text: '[can_run_as]\nbob: ../root\n',
      expected: [`${FILE}:2: error: '../root' is not a valid user name`],
    },
  ];
  for (const { name, text, expected } of errorCases) {
    test(`${name} is an error naming the file and line`, () => {
      assert.deepEqual(problemsOf(text), expected);
    });
  }

  test('the unknown-section error lists the documented sections', () => {
    assert.deepEqual(
      ['[settings]', '[can_run_as]', '[manages]'].filter(
        (name) => !knownListOf('[x]').includes(name),
      ),
      [],
    );
  });

  test('the unknown-setting error lists the documented settings', () => {
    const documented = [
      'daemon-path-daemon',
      'daemon-path-log',
      'daemon-path-daemon-root',
      'daemon-path-log-root',
    ];
    const known = knownListOf('[settings]\nx = y\n');
    assert.deepEqual(
      documented.filter((key) => !known.includes(key)),
      [],
    );
  });

  test('a rule whose left side is bad is dropped; a bad right-hand name drops only that name', () => {
    const { config } = parse('[can_run_as]\nb@d: x\nann: ok, b@d, fine\n');
    assert.deepEqual(config.canRunAs, [rule(3, user('ann'), user('ok'), user('fine'))]);
  });

  test('lines under an unknown section are each reported as outside any known section', () => {
    assert.deepEqual(problemsOf('[bogus]\na\nb\n[manages]\nc\n'), [
      `${FILE}:1: error: unknown section [bogus] (known: ${KNOWN})`,
      `${FILE}:2: error: this line is outside any known section`,
      `${FILE}:3: error: this line is outside any known section`,
    ]);
  });

  test('every problem in the file is reported at once, in line order', () => {
    const text = [
      'stray line', // 1
      '[settings]', // 2
      'no equals here', // 3
      'colour = blue', // 4
      'stop-timeout = soon', // 5
      '[runs_as]', // 6
      'bad name: x', // 7
      'bob', // 8
      '[frobnicate]', // 9
    ].join('\n');
    assert.deepEqual(problemsOf(text), [
      `${FILE}:1: error: this line is outside any known section`,
      `${FILE}:3: error: expected 'key = value' in [settings], got 'no equals here'`,
      `${FILE}:4: error: unknown setting 'colour' (known: ${KNOWN})`,
      `${FILE}:5: error: setting 'stop-timeout' must be a duration like 10s or 500ms, not 'soon'`,
      `${FILE}:6: warning: [runs_as] is the old name of [can_run_as]`,
      `${FILE}:7: error: 'bad name' is not a valid user name`,
      `${FILE}:9: error: unknown section [frobnicate] (known: ${KNOWN})`,
    ]);
  });

  test('the good lines of a file with errors are still parsed', () => {
    const { config } = parse('[can_run_as]\nbad name\nbob\n');
    assert.deepEqual(config.canRunAs, [rule(3, user('bob'))]);
  });

  test('line numbers count blank and comment lines, including CRLF line ends', () => {
    assert.deepEqual(problemsOf('\r\n# c\r\n\r\n[nope]\r\n'), [
      `${FILE}:4: error: unknown section [nope] (known: ${KNOWN})`,
    ]);
  });
});
