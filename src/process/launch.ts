import type { ResourceLimits } from '../config/limits.ts';

/** Everything needed to start one daemon process, decided before the fork. */
export interface LaunchPlan {
  readonly start: string;
  readonly dir: string;
  readonly uid: number;
  readonly gid: number;
  /**
   * The owner's uid, for the keeper to keep with the run (see keeper/protocol.ts
   * RunReport): left out for a keeper that does not know the field.
   */
  readonly owner?: number | undefined;
  /** The run-as user's supplementary groups (as initgroups(3) would set them). */
  readonly groups: readonly number[];
  readonly env: Readonly<Record<string, string>>;
  /** Where stdout and stderr go: the daemon's output pipe (for the log), or /dev/null. */
  readonly output: 'pipe' | 'ignore';
  /** The line written to the log before this run's output. */
  readonly banner: string | undefined;
  /** The daemon's cgroup2 directory: it is born there (see cgroup.ts). */
  readonly cgroup: string | undefined;
  /** cgroup v1 `cgroup.procs` files to join, for the controllers its limits need. */
  readonly joins: readonly string[];
  /** Applied as both soft and hard limits, so the daemon cannot raise them back. */
  readonly limits: ResourceLimits;
  /** The daemon's file-mode creation mask (not the manager's 077). */
  readonly umask: number;
  /**
   * Sockets held for it, by their name in the keeper's store: passed as fds 3, 4, ...
   * (`fds`), or the one socket as standard input (`stdin`, FastCGI's way).
   */
  readonly sockets?: { readonly names: readonly string[]; readonly passing: 'systemd' | 'stdin' };
}

// A start line made only of these needs no shell: words of letters, digits and - _ . / :
// , @ % + = (no quotes, no $, no globs, no ~, no redirections, no ; & | ( ) < >).
const PLAIN_LINE = /^[A-Za-z0-9_@%+=:,./-]+(?:[ \t]+[A-Za-z0-9_@%+=:,./-]+)*$/;

/**
 * The words of a start line that means the same without a shell, run directly: one exec
 * fewer for every start, and the daemon's main process is the program itself (signals and
 * LISTEN_PID reach it). A leading `exec` (the original's habit) is dropped. A first word
 * holding `=` is a shell assignment and keeps the shell. The keeper falls back to
 * `/bin/sh -c` when the program cannot be executed directly (a builtin, a script without
 * `#!`, a name not in PATH, which the shell then reports as before).
 */
export function directWords(start: string): string[] | undefined {
  const line = start.trim();
  if (!PLAIN_LINE.test(line)) return undefined;
  const words = line.split(/[ \t]+/);
  if (words[0] === 'exec') words.shift();
  if (words.length === 0 || words[0]?.includes('=')) return undefined;
  return words;
}

/** A start banner as the keeper gets it (one field: no newline, no NUL). */
function bannerField(banner: string): string {
  return banner.replace(/[\n\0]/g, ' ');
}

/** A start banner as the keeper writes it into the daemon's output pipe. */
export function bannerLine(banner: string): string {
  return `${bannerField(banner)}\n`;
}

/**
 * The fields of a keeper `spawn` request (see native/keeper/spawn.c). A manager that is
 * not root (personal mode) runs daemons as itself: no switch of user is asked for. A
 * daemon that runs as root (root's own, or granted by root) keeps root's powers.
 */
export function spawnFields(
  seq: number,
  id: string,
  plan: LaunchPlan,
  managerIsRoot: boolean,
): string[] {
  const fields = [String(seq), id];
  if (managerIsRoot && plan.uid !== 0)
    fields.push(`uid=${plan.uid}`, `gid=${plan.gid}`, `groups=${plan.groups.join(',')}`);
  if (plan.owner !== undefined) fields.push(`owner=${plan.owner}`);
  const limits = Object.entries(plan.limits)
    .filter(([, value]) => value !== undefined)
    .map(([resource, value]) => `${resource}=${value}`)
    .join(',');
  if (limits !== '') fields.push(`limits=${limits}`);
  fields.push(`umask=${plan.umask.toString(8)}`, `dir=${plan.dir}`, `start=${plan.start}`);
  for (const word of directWords(plan.start) ?? []) fields.push(`arg=${word}`);
  for (const [name, value] of Object.entries(plan.env))
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !/[\n\0]/.test(value))
      fields.push(`env=${name}=${value}`);
  if (plan.cgroup !== undefined) fields.push(`cgroup=${plan.cgroup}`);
  for (const procs of plan.joins) fields.push(`join=${taskFileOf(procs)}`);
  if (plan.sockets?.passing === 'stdin' && plan.sockets.names[0] !== undefined)
    fields.push(`stdin=${plan.sockets.names[0]}`);
  else for (const name of plan.sockets?.names ?? []) fields.push(`listen=${name}`);
  fields.push(`stdout=${plan.output === 'pipe' ? 'pipe' : 'null'}`);
  if (plan.output === 'pipe' && plan.banner !== undefined)
    fields.push(`banner=${bannerField(plan.banner)}`);
  return fields;
}

/**
 * The file through which the keeper's child joins a v1 cgroup: its `tasks`, not the
 * `cgroup.procs` the manager reads and moves running daemons with. The child has one
 * thread, so either moves all of it, but a process that moves itself by `cgroup.procs`
 * takes the kernel's lock on every thread group, which waits for an RCU grace period
 * (10.6 ms per spawn here, the whole of the fair share's respawn cost), and one that
 * moves its own single thread by `tasks` does not (1.4 ms against 1.1 ms with no move:
 * bench/results/notes/2026-12-04-respawn.md).
 */
export function taskFileOf(procs: string): string {
  return procs.endsWith('/cgroup.procs') ? `${procs.slice(0, -'cgroup.procs'.length)}tasks` : procs;
}
