import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type LimitRule,
  NO_LIMITS,
  type ResourceLimits,
  type UserLimits,
} from '../config/limits.ts';
import { limitsForDaemon, limitsForUser } from './limits.ts';

const DEFAULTS: UserLimits = { ...NO_LIMITS, nofile: 1024, nproc: 100, maxDaemons: 10 };
const GROUPS: Record<string, readonly string[]> = { web: ['alice', 'bob'], ops: ['bob'] };
const inGroup =
  (user: string) =>
  (group: string): boolean =>
    GROUPS[group]?.includes(user) ?? false;

const userRule = (line: number, name: string, values: LimitRule['values']): LimitRule => ({
  line,
  left: { kind: 'user', name },
  values,
});
const groupRule = (line: number, name: string, values: LimitRule['values']): LimitRule => ({
  line,
  left: { kind: 'group', name },
  values,
});

describe('limitsForUser', () => {
  const cases: { name: string; user: string; rules: LimitRule[]; expected: UserLimits }[] = [
    { name: 'no [limits] line: the defaults', user: 'alice', rules: [], expected: DEFAULTS },
    {
      name: 'a line for the user replaces the defaults it names, and only those',
      user: 'alice',
      rules: [userRule(1, 'alice', { nofile: 256, core: 0 })],
      expected: { ...DEFAULTS, nofile: 256, core: 0 },
    },
    {
      name: 'a line may raise a default too: the admin wrote both',
      user: 'alice',
      rules: [userRule(1, 'alice', { nproc: 5000 })],
      expected: { ...DEFAULTS, nproc: 5000 },
    },
    {
      name: "'unlimited' lifts a default",
      user: 'alice',
      rules: [userRule(1, 'alice', { maxDaemons: null })],
      expected: { ...DEFAULTS, maxDaemons: undefined },
    },
    {
      name: 'a line for another user changes nothing',
      user: 'alice',
      rules: [userRule(1, 'bob', { nofile: 1 })],
      expected: DEFAULTS,
    },
    {
      name: "a group's line applies to its members",
      user: 'alice',
      rules: [groupRule(1, 'web', { maxDaemons: 3 })],
      expected: { ...DEFAULTS, maxDaemons: 3 },
    },
    {
      name: "a group's line does not apply to others",
      user: 'carol',
      rules: [groupRule(1, 'web', { maxDaemons: 3 })],
      expected: DEFAULTS,
    },
    {
      name: "the user's own line wins over a group's, wherever it is",
      user: 'bob',
      rules: [userRule(1, 'bob', { nofile: 64 }), groupRule(2, 'web', { nofile: 4096 })],
      expected: { ...DEFAULTS, nofile: 64 },
    },
    {
      name: 'between two groups of the user, the later line wins',
      user: 'bob',
      rules: [groupRule(1, 'web', { nproc: 10 }), groupRule(2, 'ops', { nproc: 20 })],
      expected: { ...DEFAULTS, nproc: 20 },
    },
    {
      name: 'lines accumulate: each sets its own keys',
      user: 'bob',
      rules: [groupRule(1, 'web', { as: 1 << 30 }), userRule(2, 'bob', { core: 0 })],
      expected: { ...DEFAULTS, as: 1 << 30, core: 0 },
    },
  ];
  for (const { name, user, rules, expected } of cases)
    test(name, () =>
      assert.deepEqual(limitsForUser(user, inGroup(user), DEFAULTS, rules), expected),
    );
});

describe('limitsForDaemon', () => {
  const admin: ResourceLimits = { nofile: 1024, nproc: 100, core: undefined, as: undefined };
  const asked = (values: Partial<ResourceLimits>): ResourceLimits => ({
    nofile: undefined,
    nproc: undefined,
    core: undefined,
    as: undefined,
    ...values,
  });

  test("a daemon that asks nothing gets the admin's limits", () => {
    assert.deepEqual(limitsForDaemon(admin, asked({})), admin);
  });
  test('a daemon may lower a limit', () => {
    assert.deepEqual(limitsForDaemon(admin, asked({ nofile: 64 })), { ...admin, nofile: 64 });
  });
  test("a daemon asking for more than the admin's limit gets the admin's", () => {
    assert.deepEqual(limitsForDaemon(admin, asked({ nofile: 1_000_000, nproc: 101 })), admin);
  });
  test('where the admin sets nothing, the daemon may set its own', () => {
    assert.deepEqual(limitsForDaemon(admin, asked({ core: 0, as: 512 * 1024 * 1024 })), {
      ...admin,
      core: 0,
      as: 512 * 1024 * 1024,
    });
  });
  test('a limit of 0 is a limit, not an absence', () => {
    const noCore: ResourceLimits = { ...admin, core: 0 };
    assert.deepEqual(limitsForDaemon(noCore, asked({ core: 1 << 20 })), noCore);
  });
});
