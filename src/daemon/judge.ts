import type { Problem } from '../config/problems.ts';
import { runAsRefusal } from '../policy/authorize.ts';
import type { Policy } from '../policy/policy.ts';
import { type DelayBounds, restartDelayRefusal } from '../policy/restart-delay.ts';
import type { LoadedConfig } from './scan.ts';

/**
 * Everything wrong with a loaded config of `owner`: what the parser found, whether the
 * user it asks to run as exists and is allowed (pointing at its `user=` line), and
 * whether its `restart_delay=` is within the admin's bounds. The manager, `save-config`
 * and `--check` judge a file the same way.
 */
export function judgeConfig(
  loaded: LoadedConfig,
  owner: string,
  policy: Policy,
  userExists: (name: string) => boolean,
  delayBounds: DelayBounds,
): readonly Problem[] {
  if (loaded.spec === undefined) return loaded.problems;
  const runAs = loaded.spec.runAs ?? owner;
  const refusals = [
    errorAt(loaded, loaded.runAsLine, runAsRefusal(policy, owner, runAs, userExists(runAs))),
    errorAt(
      loaded,
      loaded.restartDelayLine,
      restartDelayRefusal(loaded.spec.restartDelayMs, delayBounds),
    ),
  ].filter((problem) => problem !== undefined);
  return refusals.length === 0 ? loaded.problems : [...loaded.problems, ...refusals];
}

function errorAt(
  loaded: LoadedConfig,
  line: number | undefined,
  message: string | undefined,
): Problem | undefined {
  if (message === undefined) return undefined;
  return line === undefined
    ? { file: loaded.file, severity: 'error', message }
    : { file: loaded.file, line, severity: 'error', message };
}
