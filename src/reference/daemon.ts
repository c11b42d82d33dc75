import type { Entry } from './types.ts';

/**
 * The keys of a daemon's `NAME.conf`, `daemon.conf(5)`. Adding a key is one entry here
 * (and its parsing in config/daemon.ts, which warns about keys not listed here).
 */
export const DAEMON_KEYS: readonly Entry[] = [
  {
    name: 'start',
    default: '(required)',
    meaning:
      "one line of shell. A plain command (words without quotes, `$`, globs, redirections, `;` `&` `|`) is run directly: it is the daemon's pid; a path that cannot be run fails the start, saying why (`cannot run PATH: No such file or directory`), and a script with no `#!` line, or a name not found in `PATH` (a shell builtin), is left to the shell. A line with shell syntax is run by `/bin/sh -c`, and dash (Debian's sh) forks even its last command: the shell stays the main process, so `status` and `why` show the shell's pid, not the program's, and a stop's SIGTERM may end the shell while the program runs on until its SIGKILL (`why` says so); start the program with `exec` (`cd app && exec ./server`) to make it the daemon's pid",
  },
  { name: 'dir', default: '/', meaning: 'working directory, entered as the run-as user' },
  {
    name: 'user',
    default: "the file's owner",
    meaning: 'run as this user; must be allowed by `[can_run_as]`',
  },
  {
    name: 'output',
    default: 'discard',
    meaning:
      '`log`: stdout and stderr, in order, appended to `NAME.log` with a banner line at each start (time, id, run-as user, command)',
  },
  {
    name: 'autostart',
    default: 'yes',
    meaning:
      'yes or no; as in the original, a first letter `y`, `t`, `1` or `o` means yes and `n`, `f`, `0` or `off` means no; anything else is an error',
  },
  {
    name: 'restart',
    default: 'always',
    meaning:
      'when a process that ended by itself is respawned: `always`; `on-failure` (a clean exit, see `success_exit`, leaves it down as `exited`); `no` (a one-shot task: `exited` or `failed`)',
  },
  {
    name: 'success_exit',
    default: '0',
    meaning:
      'exit statuses and signal names that count as a clean exit besides 0, such as `3 SIGHUP` (a stop by the manager is never a failure)',
  },
  {
    name: 'restart_delay',
    default: '`restart-delay-min`',
    meaning:
      "wait this long before every respawn, doubled after each quick exit (within the admin's `restart-delay-min` and `restart-delay-max`: a file outside them is refused)",
  },
  {
    name: 'ready',
    default: 'at once',
    meaning:
      'when a started daemon is ready (until then it is `starting`): `notify` (it sends `READY=1` to `$NOTIFY_SOCKET`, as under systemd: see sd_notify below), `tcp:HOST:PORT` (on the loopback) or `unix:PATH` accepts a connection, `http://127.0.0.1:PORT/PATH` (on the loopback) answers a GET with 2xx, or `exec:COMMAND`, run as the daemon runs, exits 0',
  },
  {
    name: 'ready_timeout',
    default: '60s',
    meaning: 'not ready by then is a failed start: it is stopped and respawned with back-off',
  },
  {
    name: 'health',
    default: 'none',
    meaning:
      'a check made while the daemon runs, once it is ready: `tcp:`, `unix:`, `http://` or `exec:`, as for `ready=`; after `health_retries` failures in a row it is unhealthy: stopped and respawned with back-off, counted and shown in `status` and `why`',
  },
  {
    name: 'health_interval',
    default: '30s',
    meaning: 'from the end of one check to the start of the next (at least 1s)',
  },
  {
    name: 'health_timeout',
    default: '5s',
    meaning: 'a check not passed by then has failed',
  },
  {
    name: 'health_retries',
    default: '3',
    meaning: 'failures in a row that make the daemon unhealthy (1 to 100)',
  },
  {
    name: 'watchdog',
    default: 'none',
    meaning:
      'once ready, the daemon must send `WATCHDOG=1` to `$NOTIFY_SOCKET` at least this often (it gets `WATCHDOG_USEC`, as from systemd; at least 1s); a missed ping, or `WATCHDOG=trigger`, is a failure: it is stopped and respawned with back-off',
  },
  {
    name: 'stop_timeout',
    default: '`stop-timeout`',
    meaning:
      "time between SIGTERM and SIGKILL for this daemon (at most the admin's `max-stop-timeout`)",
  },
  {
    name: 'log_max_size',
    default: '`log-max-size`',
    meaning: "rotate this daemon's log sooner (it cannot exceed the admin's size)",
  },
  {
    name: 'log_keep',
    default: '`log-keep`',
    meaning: "keep fewer rotated files (not more than the admin's)",
  },
  {
    name: 'log_timestamps',
    default: 'no',
    meaning: 'prefix every log line with the time it was read',
  },
  {
    name: 'limit_nofile',
    default: "the admin's",
    meaning: "lower the open files limit (asking for more than the admin's has no effect)",
  },
  {
    name: 'limit_nproc',
    default: "the admin's",
    meaning: "lower the processes limit (asking for more than the admin's has no effect)",
  },
  {
    name: 'limit_core',
    default: "the admin's",
    meaning: "lower the core file size limit (asking for more than the admin's has no effect)",
  },
  {
    name: 'limit_as',
    default: "the admin's",
    meaning: "lower the address space limit (asking for more than the admin's has no effect)",
  },
  {
    name: 'umask',
    default: '022',
    meaning:
      "the daemon's file-mode creation mask, in octal (the manager's own 077 is never passed on)",
  },
  {
    name: 'listen',
    default: 'none',
    meaning:
      "a socket the manager binds and holds while the daemon is wanted up (across respawns, restarts, upgrades and a crash of the manager), passed as fd 3 onwards with `LISTEN_FDS` (or on standard input with `listen_fd=0`); one line each: `unix:/PATH` (made as the file's owner, removed at `stop`), `tcp:127.0.0.1:PORT` or `tcp:[::1]:PORT` (port 1024 and up); other addresses and ports below 1024 only as the admin's `ports=` grants",
  },
  {
    name: 'listen_mode',
    default: '0660',
    meaning: 'the mode of the unix socket files of `listen=`, in octal',
  },
  {
    name: 'listen_group',
    default: "the owner's group",
    meaning: "the group of the unix socket files of `listen=`: one the file's owner is a member of",
  },
  {
    name: 'listen_fd',
    default: '3',
    meaning:
      "`3`: the sockets are fds 3, 4, ... with `LISTEN_FDS`, `LISTEN_FDNAMES` and `LISTEN_PID` (systemd's way); `0`: the one socket is standard input (FastCGI's way: `php-cgi`, `spawn-fcgi`)",
  },
  {
    name: 'export',
    default: '',
    meaning: '`export NAME=value` sets an environment variable; quotes are literal',
  },
];
