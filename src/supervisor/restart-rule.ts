import type { RestartRule, SuccessExit } from '../config/daemon.ts';
import type { Exit } from './state.ts';

/** What follows a process that ended by itself: a respawn, or the daemon stays down. */
export type AfterExit = 'respawn' | 'exited' | 'failed';

/**
 * Did the process end cleanly? Status 0, or a status or signal of `success_exit=`. A
 * process that could not start, was killed by the OOM killer, or ended in a way nobody
 * saw (a survivor of an older keeper) did not.
 */
export function isCleanExit(exit: Exit | undefined, success: SuccessExit): boolean {
  if (exit === undefined || exit.error !== undefined || exit.oom) return false;
  if (exit.signal !== null) return success.signals.includes(exit.signal);
  return exit.code !== null && (exit.code === 0 || success.codes.includes(exit.code));
}

/** `restart=` applied to an exit: `always` respawns, `on-failure` after a failure, `no` never. */
export function afterExit(
  rule: RestartRule,
  success: SuccessExit,
  exit: Exit | undefined,
): AfterExit {
  const clean = isCleanExit(exit, success);
  if (rule === 'always' || (rule === 'on-failure' && !clean)) return 'respawn';
  return clean ? 'exited' : 'failed';
}
