import type { Problem } from '../config/problems.ts';
import { runAsRefusal } from '../policy/authorize.ts';
import type { Policy } from '../policy/policy.ts';
import type { LoadedConfig } from './scan.ts';

/**
 * Everything wrong with a loaded config of `owner`: what the parser found, and whether
 * the user it asks to run as exists and is allowed (pointing at its `user=` line). The
 * manager, `save-config` and `--check` judge a file the same way.
 */
export function judgeConfig(
  loaded: LoadedConfig,
  owner: string,
  policy: Policy,
  userExists: (name: string) => boolean,
): readonly Problem[] {
  if (loaded.spec === undefined) return loaded.problems;
  const runAs = loaded.spec.runAs ?? owner;
  const refusal = runAsRefusal(policy, owner, runAs, userExists(runAs));
  if (refusal === undefined) return loaded.problems;
  const problem: Problem =
    loaded.runAsLine === undefined
      ? { file: loaded.file, severity: 'error', message: refusal }
      : { file: loaded.file, line: loaded.runAsLine, severity: 'error', message: refusal };
  return [...loaded.problems, problem];
}
