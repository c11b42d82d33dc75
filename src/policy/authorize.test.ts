import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMasterConfig } from '../config/master.ts';
import { formatProblem } from '../config/problems.ts';
import {
  mayEditConfigs,
  mayManage,
  mayRunAs,
  mayRunDaemons,
  mayUseManager,
  runAsRefusal,
} from './authorize.ts';
import { type Directory, type Policy, personalPolicy, resolvePolicy } from './policy.ts';

const FILE = '/etc/daemon-manager/daemon-manager.conf';

const MASTER = `
[can_run_as]
david: www-data
bob                      # only as himself
user3: nobody, www-data
user4: @web              # a group on the right
@ops: carol, @web        # a group on the left, and on the right
david: nobody            # rules accumulate
@ops: dora
ghost: nobody            # no such user
erin: @nogroup           # no such group

[manages]
david: michaelc, amy
@helpdesk: @customers
frank: gina              # manages, but may run nothing
david: bob
`;

const USERS = [
  'root',
  ...['david', 'bob', 'user3', 'user4', 'carol', 'dora', 'erin', 'frank', 'gina', 'zed'],
  ...[
    'www-data',
    'nginx',
    'nobody',
    'michaelc',
    'amy',
    'olga',
    'oscar',
    'hank',
    'ivy',
    'joe',
    'kim',
  ],
];
const GROUPS: Record<string, string[]> = {
  web: ['www-data', 'nginx'],
  ops: ['olga', 'oscar'],
  helpdesk: ['hank', 'ivy'],
  customers: ['joe', 'kim'],
};

/** A name service that knows exactly USERS and GROUPS. */
const directory: Directory = {
  hasUser: (name) => USERS.includes(name),
  membersOf: (group) => GROUPS[group],
};

function policyOf(text: string): ReturnType<typeof resolvePolicy> {
  const { config, problems } = parseMasterConfig(text, FILE);
  assert.deepEqual(problems, []);
  return resolvePolicy(config, directory);
}

type Question =
  | readonly ['manages', string, string]
  | readonly ['runs daemons', string]
  | readonly ['runs as', string, string]
  | readonly ['gets a socket', string]
  | readonly ['edits the configs of', string, string];

function ask(policy: Policy, question: Question): boolean {
  switch (question[0]) {
    case 'manages':
      return mayManage(policy, question[1], question[2]);
    case 'runs daemons':
      return mayRunDaemons(policy, question[1]);
    case 'runs as':
      return mayRunAs(policy, question[1], question[2]);
    case 'gets a socket':
      return mayUseManager(policy, question[1]);
    case 'edits the configs of':
      return mayEditConfigs(question[1], question[2]);
  }
}

describe('authorization rules', () => {
  const { policy } = policyOf(MASTER);
  const table: { rule: string; question: Question; expected: boolean }[] = [
    // Root manages all and runs as anyone.
    {
      rule: 'root manages a user named in the config',
      question: ['manages', 'root', 'david'],
      expected: true,
    },
    {
      rule: 'root manages a user the config never names',
      question: ['manages', 'root', 'zed'],
      expected: true,
    },
    {
      rule: 'root may run daemons without being in [can_run_as]',
      question: ['runs daemons', 'root'],
      expected: true,
    },
    { rule: 'root runs as any user', question: ['runs as', 'root', 'nobody'], expected: true },
    { rule: 'root runs as itself', question: ['runs as', 'root', 'root'], expected: true },
    { rule: 'root gets a socket', question: ['gets a socket', 'root'], expected: true },
    // A user manages self plus [manages].
    {
      rule: 'a user manages their own daemons',
      question: ['manages', 'david', 'david'],
      expected: true,
    },
    {
      rule: 'a user the config never names still manages self',
      question: ['manages', 'zed', 'zed'],
      expected: true,
    },
    {
      rule: 'a user manages whom [manages] lists',
      question: ['manages', 'david', 'michaelc'],
      expected: true,
    },
    {
      rule: 'every name on the right of [manages] counts',
      question: ['manages', 'david', 'amy'],
      expected: true,
    },
    {
      rule: '[manages] rules accumulate across lines',
      question: ['manages', 'david', 'bob'],
      expected: true,
    },
    {
      rule: 'a user does not manage anyone unlisted',
      question: ['manages', 'david', 'user3'],
      expected: false,
    },
    {
      rule: 'a user does not manage root',
      question: ['manages', 'david', 'root'],
      expected: false,
    },
    {
      rule: '[manages] is not symmetric',
      question: ['manages', 'michaelc', 'david'],
      expected: false,
    },
    {
      rule: '[can_run_as] does not grant [manages]',
      question: ['manages', 'david', 'www-data'],
      expected: false,
    },
    {
      rule: 'a user not in the config manages nobody else',
      question: ['manages', 'zed', 'bob'],
      expected: false,
    },
    // Group expansion on both sides of [manages].
    {
      rule: 'a member of a left-hand group manages a member of a right-hand group',
      question: ['manages', 'hank', 'joe'],
      expected: true,
    },
    {
      rule: 'every member of the left-hand group gets the rule',
      question: ['manages', 'ivy', 'kim'],
      expected: true,
    },
    {
      rule: 'members of the same left-hand group do not manage each other',
      question: ['manages', 'hank', 'ivy'],
      expected: false,
    },
    // Run-as only self plus [can_run_as].
    {
      rule: 'a user on the left of [can_run_as] may run daemons',
      question: ['runs daemons', 'bob'],
      expected: true,
    },
    {
      rule: 'a bare name may run daemons as self',
      question: ['runs as', 'bob', 'bob'],
      expected: true,
    },
    {
      rule: 'a bare name may run as nobody else',
      question: ['runs as', 'bob', 'www-data'],
      expected: false,
    },
    {
      rule: 'a user may run as whom [can_run_as] lists',
      question: ['runs as', 'david', 'www-data'],
      expected: true,
    },
    {
      rule: 'a user listing others may still run as self',
      question: ['runs as', 'david', 'david'],
      expected: true,
    },
    {
      rule: '[can_run_as] rules accumulate across lines',
      question: ['runs as', 'david', 'nobody'],
      expected: true,
    },
    {
      rule: 'no user may run as root unless listed',
      question: ['runs as', 'david', 'root'],
      expected: false,
    },
    {
      rule: 'every name on the right of [can_run_as] counts',
      question: ['runs as', 'user3', 'www-data'],
      expected: true,
    },
    {
      rule: '[manages] does not grant run-as',
      question: ['runs as', 'david', 'michaelc'],
      expected: false,
    },
    {
      rule: 'run-as is not symmetric',
      question: ['runs as', 'www-data', 'david'],
      expected: false,
    },
    // Group expansion on both sides of [can_run_as].
    {
      rule: 'a right-hand group lets a user run as each member',
      question: ['runs as', 'user4', 'nginx'],
      expected: true,
    },
    {
      rule: 'a right-hand group does not add non-members',
      question: ['runs as', 'user4', 'nobody'],
      expected: false,
    },
    {
      rule: 'a member of a left-hand group may run daemons',
      question: ['runs daemons', 'olga'],
      expected: true,
    },
    {
      rule: 'a member of a left-hand group runs as the named users',
      question: ['runs as', 'oscar', 'carol'],
      expected: true,
    },
    {
      rule: 'a member of a left-hand group runs as a right-hand group',
      question: ['runs as', 'olga', 'www-data'],
      expected: true,
    },
    {
      rule: 'rules through a group accumulate across lines',
      question: ['runs as', 'olga', 'dora'],
      expected: true,
    },
    {
      rule: 'a member of a left-hand group runs as self',
      question: ['runs as', 'oscar', 'oscar'],
      expected: true,
    },
    {
      rule: 'members of a left-hand group do not run as each other',
      question: ['runs as', 'olga', 'oscar'],
      expected: false,
    },
    {
      rule: 'a group that is only on the right runs nothing',
      question: ['runs daemons', 'nginx'],
      expected: false,
    },
    // Users not on the left of [can_run_as] run nothing.
    {
      rule: 'a user not on the left of [can_run_as] runs nothing',
      question: ['runs daemons', 'zed'],
      expected: false,
    },
    {
      rule: 'a user not on the left of [can_run_as] may not even run as self',
      question: ['runs as', 'zed', 'zed'],
      expected: false,
    },
    {
      rule: 'being on the right of [can_run_as] is not being on the left',
      question: ['runs daemons', 'www-data'],
      expected: false,
    },
    {
      rule: 'a user in no rule gets no socket',
      question: ['gets a socket', 'zed'],
      expected: false,
    },
    // [manages]-only users get a socket but run nothing.
    {
      rule: 'a [manages]-only user gets a socket',
      question: ['gets a socket', 'frank'],
      expected: true,
    },
    {
      rule: 'a [manages]-only user runs nothing',
      question: ['runs daemons', 'frank'],
      expected: false,
    },
    {
      rule: 'a [manages]-only user may not run as self',
      question: ['runs as', 'frank', 'frank'],
      expected: false,
    },
    {
      rule: 'a [manages]-only user manages whom it lists',
      question: ['manages', 'frank', 'gina'],
      expected: true,
    },
    {
      rule: 'a [manages]-only member of a group gets a socket',
      question: ['gets a socket', 'hank'],
      expected: true,
    },
    {
      rule: 'a [can_run_as] user gets a socket',
      question: ['gets a socket', 'bob'],
      expected: true,
    },
    {
      rule: 'being managed does not give a socket',
      question: ['gets a socket', 'michaelc'],
      expected: false,
    },
    // Configs are edited by their owner and root only, whatever [manages] says.
    {
      rule: 'a user edits their own configs',
      question: ['edits the configs of', 'david', 'david'],
      expected: true,
    },
    {
      rule: 'root edits the configs of anyone',
      question: ['edits the configs of', 'root', 'david'],
      expected: true,
    },
    {
      rule: 'a manager does not edit the configs of whom they manage',
      question: ['edits the configs of', 'david', 'michaelc'],
      expected: false,
    },
    {
      rule: 'a [manages]-only user does not edit configs of whom it lists',
      question: ['edits the configs of', 'frank', 'gina'],
      expected: false,
    },
    // Unknown names warn but the rule's other names still count.
    {
      rule: 'a user whose only right-hand group is unknown runs as self only',
      question: ['runs as', 'erin', 'erin'],
      expected: true,
    },
  ];
  for (const { rule, question, expected } of table) {
    test(`${rule} (${question.join(' ')}: ${expected ? 'yes' : 'no'})`, () => {
      assert.equal(ask(policy, question), expected);
    });
  }
});

describe('runAsRefusal', () => {
  const { policy } = policyOf(MASTER);
  const cases: [string, string, string, boolean, string | undefined][] = [
    ['runs as self', 'bob', 'bob', true, undefined],
    ['runs as a granted user', 'david', 'www-data', true, undefined],
    [
      'runs as a user not granted',
      'bob',
      'www-data',
      true,
      "user 'www-data' is not allowed for 'bob' (see [can_run_as])",
    ],
    [
      'runs as a user that does not exist',
      'bob',
      'nosuchuser',
      false,
      "no such user 'nosuchuser' (user=)",
    ],
    [
      'root runs as a user that does not exist',
      'root',
      'ghost',
      false,
      "no such user 'ghost' (user=)",
    ],
  ];
  for (const [what, owner, runAs, exists, expected] of cases)
    test(`${what}: ${expected ?? 'allowed'}`, () => {
      assert.equal(runAsRefusal(policy, owner, runAs, exists), expected);
    });
});

describe('resolvePolicy', () => {
  test('expands groups on both sides and accumulates rules into exact sets', () => {
    const { policy } = policyOf(MASTER);
    const asObject = (map: ReadonlyMap<string, ReadonlySet<string>>): Record<string, string[]> =>
      Object.fromEntries([...map].map(([user, set]) => [user, [...set].sort()]));
    assert.deepEqual(asObject(policy.runAs), {
      david: ['nobody', 'www-data'],
      bob: [],
      user3: ['nobody', 'www-data'],
      user4: ['nginx', 'www-data'],
      olga: ['carol', 'dora', 'nginx', 'www-data'],
      oscar: ['carol', 'dora', 'nginx', 'www-data'],
      ghost: ['nobody'],
      erin: [],
    });
    assert.deepEqual(asObject(policy.manages), {
      david: ['amy', 'bob', 'michaelc'],
      hank: ['joe', 'kim'],
      ivy: ['joe', 'kim'],
      frank: ['gina'],
    });
  });

  test('an unknown user and an unknown group are warnings on their lines', () => {
    assert.deepEqual(policyOf(MASTER).problems.map(formatProblem), [
      `${FILE}:10: warning: no such user 'ghost'`,
      `${FILE}:11: warning: no such group '@nogroup'`,
    ]);
  });

  test('unknown names are warned about on either side of either section', () => {
    const text = '[can_run_as]\nbob: nemo\n@gone: bob\n[manages]\nmissing: bob\nbob: @void\n';
    assert.deepEqual(policyOf(text).problems.map(formatProblem), [
      `${FILE}:2: warning: no such user 'nemo'`,
      `${FILE}:3: warning: no such group '@gone'`,
      `${FILE}:5: warning: no such user 'missing'`,
      `${FILE}:6: warning: no such group '@void'`,
    ]);
  });

  test('an unknown user or group in [limits] is warned about too', () => {
    const text = '[can_run_as]\nbob\n[limits]\nnosuchuser: nofile=10\n@void: nproc=5\n';
    assert.deepEqual(policyOf(text).problems.map(formatProblem), [
      `${FILE}:4: warning: no such user 'nosuchuser'`,
      `${FILE}:5: warning: no such group '@void'`,
    ]);
  });

  test('a known group with no members on the left grants nobody anything', () => {
    const empty: Directory = { hasUser: () => true, membersOf: () => [] };
    const { config } = parseMasterConfig('[can_run_as]\n@empty: bob\n', FILE);
    const { policy, problems } = resolvePolicy(config, empty);
    assert.deepEqual(problems, []);
    assert.equal(policy.runAs.size, 0);
  });

  test('an empty config lets only root run daemons', () => {
    const { policy, problems } = policyOf('');
    assert.deepEqual(problems, []);
    assert.equal(mayRunDaemons(policy, 'root'), true);
    assert.equal(mayRunDaemons(policy, 'bob'), false);
    assert.equal(mayUseManager(policy, 'bob'), false);
  });
});

describe('personalPolicy', () => {
  const policy = personalPolicy('bob');
  const table: { rule: string; question: Question; expected: boolean }[] = [
    { rule: 'the user runs daemons', question: ['runs daemons', 'bob'], expected: true },
    { rule: 'the user runs as self', question: ['runs as', 'bob', 'bob'], expected: true },
    {
      rule: 'the user runs as nobody else',
      question: ['runs as', 'bob', 'www-data'],
      expected: false,
    },
    { rule: 'the user manages self', question: ['manages', 'bob', 'bob'], expected: true },
    {
      rule: 'the user manages nobody else',
      question: ['manages', 'bob', 'alice'],
      expected: false,
    },
    { rule: 'another user runs nothing', question: ['runs daemons', 'alice'], expected: false },
    { rule: 'the user gets a socket', question: ['gets a socket', 'bob'], expected: true },
  ];
  for (const { rule, question, expected } of table) {
    test(`in personal mode ${rule}`, () => {
      assert.equal(ask(policy, question), expected);
    });
  }
});
