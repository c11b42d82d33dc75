import type { Entry } from './types.ts';

/** The options of `daemon-manager`, `daemon-manager(8)`. */
export const MANAGER_OPTIONS: readonly Entry[] = [
  {
    name: '-c, --config FILE',
    meaning:
      'the master config (default: `$DAEMON_MANAGER_CONFIG`, else `/etc/daemon-manager/daemon-manager.conf`, else `/etc/daemon-manager.conf`)',
  },
  {
    name: '--personal',
    meaning: 'run only your own daemons, with no master config and no root',
  },
  {
    name: '-f, --foreground',
    meaning:
      'stay in the foreground (as under systemd); without it the manager goes to the background once it runs, logging to `daemon-manager.log` in its state directory',
  },
  {
    name: '-d, --debug',
    meaning: 'stay in the foreground and log every detail to stderr (as the original `-d`)',
  },
  { name: '-v, --verbose', meaning: 'log every detail, wherever the log goes' },
  {
    name: '--syslog[=SOCKET]',
    meaning:
      "log to syslog, facility daemon, at `/dev/log` or the socket given (below directories only root may change, as `state-dir`, and a socket of root's: one another user bound is refused at the start, and no line is sent to one found so later); under systemd the manager logs to the journal by itself",
  },
  {
    name: '--pidfile FILE',
    meaning:
      "write the manager's pid to `FILE` (rewritten by an upgrade), below directories only root may change, as `state-dir`, in a directory only root writes (not `/tmp`)",
  },
  {
    name: '--check',
    meaning:
      "check the master config (or, with `--personal`, your own files) and every daemon config, print every problem with its file and line, exit 1 on an error (a `socket-dir` held by another config's manager or its keeper is one: this config's manager would be refused); starts and creates nothing (like `nginx -t`)",
  },
  { name: '-h, --help', meaning: 'print the usage and exit' },
  { name: '-V, --version', meaning: 'print the version and exit' },
];

/** What each signal to the manager does. */
export const MANAGER_SIGNALS: readonly Entry[] = [
  {
    name: 'SIGTERM, SIGINT',
    meaning:
      "stop every daemon (SIGTERM, then SIGKILL after its timeout), and wait for the stop of survivors no config claims under way (SIGKILL after `stop-timeout`), then exit 0; what is still there 5 s after the keeper carried out its SIGKILL (a process stuck in the kernel) is killed by the keeper as it quits (cgroup.kill, else SIGKILL to the run's process group), and the log names those daemons",
  },
  {
    name: 'SIGHUP',
    meaning:
      're-read the master config (users, rights, settings of daemons) and rescan; daemons whose config did not change are not touched. Any number of SIGHUPs that come while a reload runs or waits make one more; a SIGTERM or SIGINT goes ahead of a reload that waits, which is dropped, and ends one that waits for `getent` (the users and groups of LDAP, sssd...)',
  },
  {
    name: 'SIGUSR1',
    meaning: 'reopen every log file, its own included (after an external logrotate)',
  },
  {
    name: 'SIGUSR2',
    meaning:
      "upgrade: the manager's code from disk starts as a new process and takes over once it is ready (the old one exits; its pid becomes the manager's); every daemon keeps running with the same pid, uptime and counts, its output still reaching its log; refused, with the reason in the log, when the new code or the config does not load, when the keeper has not answered for 5 s (stopped, or starved of CPU), when the config names another `state-dir` or a `socket-dir` another config's manager or keeper holds (its own too, deleted and taken since), or when its state directory was deleted or replaced",
  },
];
