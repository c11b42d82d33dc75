import type { PortRange } from '../config/limits.ts';
import type { Problem } from '../config/problems.ts';
import { runAsRefusal } from '../policy/authorize.ts';
import type { Policy } from '../policy/policy.ts';
import { tcpRefusal } from '../policy/ports.ts';
import { type DelayBounds, restartDelayRefusal } from '../policy/restart-delay.ts';
import { directWords } from '../process/launch.ts';
import type { LoadedConfig } from './scan.ts';

/** What root lets an owner's `listen=` lines have. */
export interface ListenRights {
  /** The TCP ports granted in `[limits]` (`ports=`). */
  readonly ports: readonly PortRange[];
  /** The gid of a group the owner may give their socket files, or why they may not. */
  groupOf(name: string): number | { readonly refusal: string };
}

/**
 * Everything wrong with a loaded config of `owner`: what the parser found, whether the
 * user it asks to run as exists and is allowed (pointing at its `user=` line), and
 * whether root lets it listen where it asks (pointing at the `listen=` line), and whether
 * its `restart_delay=` is within the admin's bounds. The manager, `save-config` and
 * `--check` judge a file the same way.
 */
export function judgeConfig(
  loaded: LoadedConfig,
  owner: string,
  policy: Policy,
  userExists: (name: string) => boolean,
  rights?: ListenRights,
  delayBounds?: DelayBounds,
): readonly Problem[] {
  if (loaded.spec === undefined) return loaded.problems;
  const at = (line: number | undefined, message: string): Problem =>
    line === undefined
      ? { file: loaded.file, severity: 'error', message }
      : { file: loaded.file, line, severity: 'error', message };
  const found = [...loaded.problems];
  const runAs = loaded.spec.runAs ?? owner;
  const refusal = runAsRefusal(policy, owner, runAs, userExists(runAs));
  if (refusal !== undefined) found.push(at(loaded.runAsLine, refusal));
  const delayRefusal = delayBounds && restartDelayRefusal(loaded.spec.restartDelayMs, delayBounds);
  if (delayRefusal) found.push(at(loaded.restartDelayLine, delayRefusal));
  if (rights !== undefined) found.push(...listenRefusals(loaded, owner, rights));
  const warning = listenPidWarning(loaded);
  if (warning !== undefined) found.push(warning);
  return found;
}

/**
 * `LISTEN_PID` is the pid of the process the keeper execs. A plain start line is that
 * program itself; a line that needs /bin/sh is the shell, and dash (Debian's sh) forks
 * even the last command of `sh -c`, so a program that checks LISTEN_PID (sd_listen_fds)
 * would ignore its sockets unless the line starts it with `exec`.
 */
function listenPidWarning(loaded: LoadedConfig): Problem | undefined {
  const spec = loaded.spec;
  if (spec === undefined || spec.listen.addresses.length === 0) return undefined;
  if (spec.listen.passing !== 'systemd' || directWords(spec.start) !== undefined) return undefined;
  if (/(^|[\s;&|(])exec\s/.test(spec.start)) return undefined;
  const line = loaded.listenLines?.addresses[0];
  const message =
    "'start' needs /bin/sh, which forks the program it runs last: LISTEN_PID will be the shell's pid, and a program that checks it (sd_listen_fds) ignores its sockets; start the program with 'exec' ('cd app && exec ./server'), or make the line a plain command";
  return line === undefined
    ? { file: loaded.file, severity: 'warning', message }
    : { file: loaded.file, line, severity: 'warning', message };
}

/** Why root refuses the sockets a loaded config asks for: one problem per refused line. */
export function listenRefusals(
  loaded: LoadedConfig,
  owner: string,
  rights: ListenRights,
): Problem[] {
  const at = (line: number | undefined, message: string): Problem =>
    line === undefined
      ? { file: loaded.file, severity: 'error', message }
      : { file: loaded.file, line, severity: 'error', message };
  return listenProblems(loaded, owner, rights, at);
}

function listenProblems(
  loaded: LoadedConfig,
  owner: string,
  rights: ListenRights,
  at: (line: number | undefined, message: string) => Problem,
): Problem[] {
  const listen = loaded.spec?.listen;
  if (listen === undefined) return [];
  const problems: Problem[] = [];
  listen.addresses.forEach((address, index) => {
    if (address.kind !== 'tcp') return;
    const refusal = tcpRefusal(owner, address, rights.ports);
    if (refusal !== undefined) problems.push(at(loaded.listenLines?.addresses[index], refusal));
  });
  if (listen.group !== undefined && listen.addresses.some((address) => address.kind === 'unix')) {
    const group = rights.groupOf(listen.group);
    if (typeof group !== 'number') problems.push(at(loaded.listenLines?.group, group.refusal));
  }
  return problems;
}
