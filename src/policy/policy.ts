import type { MasterConfig, Principal, Rule } from '../config/master.ts';
import { type Problem, ProblemList } from '../config/problems.ts';

/** Who may run daemons as whom, and who may manage whose: user names only, groups expanded. */
export interface Policy {
  /** Users on the left of [can_run_as], each with the users their daemons may run as. */
  readonly runAs: ReadonlyMap<string, ReadonlySet<string>>;
  /** Users on the left of [manages], each with the users whose daemons they manage. */
  readonly manages: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The name service, as much of it as expanding a policy needs. */
export interface Directory {
  hasUser(name: string): boolean;
  membersOf(group: string): readonly string[] | undefined;
}

/** Expands users and `@groups` of the master config into a policy of plain user names. */
export function resolvePolicy(
  config: MasterConfig,
  directory: Directory,
): { policy: Policy; problems: Problem[] } {
  const problems = new ProblemList(config.file);
  const expand = (principal: Principal, line: number): string[] => {
    if (principal.kind === 'group') {
      const members = directory.membersOf(principal.name);
      if (members === undefined) problems.warning(line, `no such group '@${principal.name}'`);
      return [...(members ?? [])];
    }
    if (!directory.hasUser(principal.name))
      problems.warning(line, `no such user '${principal.name}'`);
    return [principal.name];
  };
  const accumulate = (rules: readonly Rule[]): Map<string, Set<string>> => {
    const table = new Map<string, Set<string>>();
    for (const rule of rules) {
      const rights = rule.right.flatMap((principal) => expand(principal, rule.line));
      for (const user of expand(rule.left, rule.line)) {
        const set = table.get(user) ?? new Set<string>();
        for (const right of rights) set.add(right);
        table.set(user, set);
      }
    }
    return table;
  };
  const runAs = accumulate(config.canRunAs);
  const manages = accumulate(config.manages);
  // [limits] names users and groups too: one that does not exist limits nobody.
  for (const rule of config.limits) expand(rule.left, rule.line);
  return {
    policy: { runAs, manages },
    problems: problems.items,
  };
}

/** The policy of personal mode: one user, running as and managing only themself. */
export function personalPolicy(user: string): Policy {
  return { runAs: new Map([[user, new Set<string>()]]), manages: new Map() };
}
