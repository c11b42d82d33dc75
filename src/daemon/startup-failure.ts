import { KeeperNotAnswering } from '../keeper/hello.ts';
import { GetentFailed } from '../users/getent.ts';

/** The open-files limit, soft and hard, as setrlimit(2) counts it; -1 is unlimited. */
export type DescriptorLimit = readonly [soft: number, hard: number];

/**
 * What the manager says when its start-up throws, before it exits: one line an operator
 * can act on. An error of the system (one with an errno code) is its message; running
 * out of descriptors says the limit and how to raise it (an outside review saw only a
 * stack trace from `scandir '/proc'`). A keeper that does not answer says which and what
 * to look at, a `getent` that fails or runs out of time which. Anything else is a bug,
 * and keeps its stack.
 */
export function startupFailure(error: unknown, limit: DescriptorLimit | undefined): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'EMFILE')
    return `daemon-manager: cannot start: out of file descriptors (${message}): its open-files limit${limit === undefined ? '' : ` is ${count(limit[0])} (hard limit ${count(limit[1])})`}, too low for this manager and its daemons; start it with a higher one (LimitNOFILE= in its systemd unit, ulimit -n in a shell)`;
  if (code === 'ENFILE')
    return `daemon-manager: cannot start: the system's table of open files is full (${message}); see fs.file-max`;
  if (error instanceof GetentFailed)
    return `daemon-manager: cannot start: ${message}; the manager reads every user and group (from the sources /etc/nsswitch.conf names) before it starts`;
  if (typeof code === 'string' || error instanceof KeeperNotAnswering)
    return `daemon-manager: cannot start: ${message}`;
  const stack = error instanceof Error && error.stack !== undefined ? `\n${error.stack}` : '';
  return `daemon-manager: cannot start: ${message} (a bug: please report it with what follows)${stack}`;
}

function count(value: number): string {
  return value < 0 ? 'unlimited' : String(value);
}
