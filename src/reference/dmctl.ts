import type { Entry } from './types.ts';

/** A dmctl command: `verb` is the word that selects it. */
export interface CommandEntry extends Entry {
  readonly verb: string;
}

/** What `dmctl` does, `dmctl(1)`; `dmctl help` prints these lines. */
export const DMCTL_COMMANDS: readonly CommandEntry[] = [
  {
    verb: 'status',
    name: 'dmctl',
    meaning: 'status of every daemon you may manage (same as `dmctl status`)',
  },
  { verb: 'list', name: 'dmctl list', meaning: 'their ids, one per line' },
  { verb: 'rescan', name: 'dmctl rescan', meaning: 'load new, changed and deleted config files' },
  { verb: 'status', name: 'dmctl [ID] status', meaning: 'status of one daemon, or all' },
  { verb: 'start', name: 'dmctl ID start', meaning: 'start now (even while cooling down)' },
  {
    verb: 'stop',
    name: 'dmctl ID stop',
    meaning: 'SIGTERM to its process group, SIGKILL after `stop_timeout`',
  },
  { verb: 'restart', name: 'dmctl ID restart', meaning: 'stop, then start' },
  {
    verb: 'kill',
    name: 'dmctl ID kill -SIGNAL',
    meaning: 'signal its process group: `-9`, `-KILL`, `-SIGKILL`, `KILL`, `SIGKILL`, `HUP`',
  },
  {
    verb: 'log',
    name: 'dmctl ID log',
    meaning: 'page its log (`$PAGER`, `less`, `more`; `cat` when piped)',
  },
  { verb: 'tail', name: 'dmctl ID tail', meaning: 'follow its log (`tail -F`)' },
  {
    verb: 'edit',
    name: 'dmctl ID edit',
    meaning: 'edit its config (`$VISUAL`, `$EDITOR`, else `vi`), then rescan',
  },
  {
    verb: 'why',
    name: 'dmctl ID why',
    meaning:
      'why it is in its state: its recent starts, exits, cooldowns, refusals and who ran which command on it',
  },
  {
    verb: 'completion',
    name: 'dmctl completion SHELL',
    meaning: 'print the completion script for `bash`, `zsh` or `fish`',
  },
  {
    verb: 'problems',
    name: 'dmctl problems [USER]',
    meaning: "every problem of the config files you may see (or of one user's), in full",
  },
  { verb: 'help', name: 'dmctl help', meaning: 'this summary' },
];

/** dmctl's options; they may stand anywhere on the line. */
export const DMCTL_OPTIONS: readonly Entry[] = [
  {
    name: '-c, --config FILE',
    meaning:
      "the master config that says where the system manager's sockets are (default: `$DAEMON_MANAGER_CONFIG`, else `/etc/daemon-manager/daemon-manager.conf`, else `/etc/daemon-manager.conf`)",
  },
  {
    name: '--json',
    meaning:
      "`status` and `list` print an array of objects (the stable interface for scripts); other commands print the manager's answer",
  },
  {
    name: '--personal',
    meaning:
      'talk to your personal manager (`daemon-manager --personal`); without it, dmctl finds it when no system manager serves you',
  },
  {
    name: '--wait[=DURATION]',
    meaning:
      '`start`, `stop` and `restart` return once the daemon runs (its program begun, and for a start run for a second more if the deadline allows, so that one that exits at once is a failure; for a restart, a new pid that has run for a second; with `ready=`, once it is ready; a `restart=no` task, once it has exited) or is stopped (one whose processes SIGKILL has not ended, in uninterruptible sleep as on a hung file system, is said stopped with them named: they end when they wake) (default: at most 90s, counted from the request); on a failure (it exits, even at once and respawned) or at the deadline dmctl says why (with the time it really waited and the manager\'s last word on the daemon since the request, such as `its program has not begun 10 s after its process (pid P) was made`), shows the last lines of its log and exits 1. A start whose program has not begun when the manager answers it (10 s: a program or `dir=` on a file system that is slow or does not answer) is waited for to the deadline, and a deadline shorter than that answer ends the wait without it (the start going on in the manager); without `--wait`, that answer ends `dmctl start` (exit 1), the start going on. A request whose connection the manager closes unanswered (an upgrade hands over, or it was killed) is waited for by its status to the deadline, as one under way, and so is a status nobody answers because no manager listens yet (the manager and its keeper killed, a new one starting); a daemon a manager then says is down and wanted down (the start never carried out, or undone by a `kill -9` before it was saved: no manager carries it out later) gets `whether the start of ID was carried out is not known` and exit 1 at once, not at the deadline (79a, F5), and so does a stop whose daemon runs on wanted up at the deadline (the stop never carried out, or lost to a `kill -9` before it was saved; 77b, F6 saw `running (pid N)` and exit 0 there). The status read before the request, cut the same way or refused by a socket nothing listens on any more, is asked again until the deadline, then the request is sent; with no socket at all (no manager started) dmctl fails at once. A stalled manager is waited for: the request for as long as the wait (at least 30 s), each status after it until the deadline; one that answered the request but no status by then gets `... was carried out ..., whether it runs now is not known` and exit 1. A request carried out but not saved (the state directory full: its answer says a restart of the manager would undo it) is waited for all the same; dmctl then says how it ended with that answer, and exits 1. With `--json`, a success is `{"ok":true,"message":...}`, as without `--wait`',
  },
  { name: '-h, --help', meaning: 'print the usage and exit' },
  { name: '-V, --version', meaning: 'print the version and exit' },
];

/** The columns of `dmctl status`, with their `--json` field. */
export const STATUS_COLUMNS: readonly (Entry & { readonly field: string })[] = [
  { name: 'daemon-id', field: 'id', meaning: '`user/name`' },
  {
    name: 'state',
    field: 'state',
    meaning:
      '`running`, `starting` (its process not forked yet, its program not begun yet (its exec still under way, as on a slow file system), or its `ready=` check not passed yet), `reloading` (it sent `RELOADING=1`, and no `READY=1` since), `stopped`, `stopping` (also after its `STOPPING=1`), `coolingdown`, `exited` or `failed` (stopped by itself, left down by its `restart=`), or `broken` (stopped, its config file refused: see `last-exit`); `wanted` says `up` or `down`',
  },
  {
    name: 'pid',
    field: 'pid',
    meaning: 'its main process (its process group while stopping), `0` when it has none',
  },
  {
    name: 'respawns',
    field: 'respawns',
    meaning: 'automatic respawns since the last explicit start',
  },
  {
    name: 'cooldown',
    field: 'cooldown',
    meaning:
      'time left before the next respawn while `coolingdown`, else `0s` (`cooldownStep`: the current back-off step)',
  },
  {
    name: 'uptime',
    field: 'uptime',
    meaning:
      'time since the program of its run began (its exec done, which on a slow file system may be long after the spawn), while it has a process, else `0s`',
  },
  {
    name: 'total',
    field: 'total',
    meaning:
      'time since the last explicit start (`start`, `restart`, autostart), while it has a process, else `0s`; a daemon that waited for the run of the account that had its name before counts from its own first run',
  },
  {
    name: 'run-as',
    field: 'runAs',
    meaning:
      'the user it runs as (of a daemon listed `broken`: its owner, since nothing runs and its file may ask for an account not granted)',
  },
  {
    name: 'last-exit',
    field: 'lastExit',
    meaning:
      'how its last process ended (`exit 1`, `SIGKILL`) or why it could not start; for a refused config file, why (the whole problem is `problem` in `--json`); `-` when it has not ended yet',
  },
  {
    name: 'status',
    field: 'status',
    meaning:
      'shown when a daemon has something in it: its `health=` when not `healthy` (`failing 1/3`, `unchecked`; `health` in `--json`), how many runs were restarted as unhealthy (`unhealthy`), `pid P still there after SIGKILL` while processes of a stopped run that SIGKILL has not ended yet remain (uninterruptible sleep, as on a hung file system; `unkilled` in `--json`), and the `STATUS=` it last sent (sd_notify), escaped and at most 200 characters',
  },
];
