import type { Entry } from './types.ts';

/** The sections of the master config, `daemon-manager.conf(5)`. */
export const MASTER_SECTIONS: readonly (Entry & { readonly line: string })[] = [
  {
    name: '[can_run_as]',
    line: 'user: other, @group',
    meaning:
      '`user` may run daemons, as themself and as the users listed (`@group`: its members). `user` alone (or `user:`) runs daemons only as themself. `@group` on the left gives the rule to each member. Lines accumulate. The old name `[runs_as]` is accepted with a warning.',
  },
  {
    name: '[manages]',
    line: 'user: other, @group',
    meaning:
      '`user` may see and start, stop, restart and signal the daemons of the users listed, besides their own.',
  },
  {
    name: '[limits]',
    line: 'user: key=value, ...',
    meaning:
      "limits for that user's (or group's) daemons: `nofile`, `nproc`, `core`, `as`, `max-daemons`, as the `limit-` settings, each daemon; and quotas on the sum of the user's daemons: `memory` (a size), `cpu` (percent of one CPU) and `tasks` (processes and threads); `cpu-weight` (1 to 10000, 100 by default: the user's share of a busy CPU against each other user's, see `cpu-fair-share`); and `ports=` (ports and ranges separated by spaces, such as `ports=80 9000-9099`): the TCP ports the user's daemons may `listen=` on any address (without it, only the loopback above 1023), added up over the user's and their groups' lines",
  },
  {
    name: '[settings]',
    line: 'key = value',
    meaning: 'where files are, timings, log rotation, limits: the keys below',
  },
];

/**
 * The keys of `[settings]`. Adding a key is one entry here (and its parsing in
 * config/settings.ts, which refuses keys that are not listed here).
 */
export const SETTINGS: readonly Entry[] = [
  {
    name: 'daemon-path-daemon',
    default: '~/.daemon-manager/daemons',
    meaning:
      "where a user's `NAME.conf` files are; `~/` is the user's home, `%username%` their login",
  },
  {
    name: 'daemon-path-log',
    default: '~/.daemon-manager/logs',
    meaning: "where a user's `NAME.log` files go",
  },
  {
    name: 'daemon-path-daemon-root',
    default: '/etc/daemon-manager/daemons',
    meaning: "root's daemon configs",
  },
  {
    name: 'daemon-path-log-root',
    default: '/var/log/daemon-manager',
    meaning: "root's daemon logs",
  },
  {
    name: 'socket-dir',
    default: '/run/daemon-manager',
    meaning:
      'the control sockets, one per user (`NAME.sock`), in a root-owned directory, writable by root alone, below directories owned by root that others may write only with the sticky bit (else the manager refuses to start and dmctl to ask there). One manager per socket-dir: its `sockets.lock` is held by the manager and its keeper (a manager killed leaves it with the keeper), and a manager of another config given one in use refuses to start, naming the holder and its state directory',
  },
  {
    name: 'state-dir',
    default: '/var/lib/daemon-manager',
    meaning:
      "the state file, the logs' journals (`log-journals/`), the keeper's record of the runs it holds without a cgroup (`keeper-runs/`), each user's configs as last read (`configs/`) and the manager's own log when it runs in the background. Like `socket-dir`, `daemon-path-daemon-root` and `daemon-path-log-root`, it must be below directories (and links) owned by root that others may write only with the sticky bit (else the manager, `--check` and a reload by SIGHUP refuse it; so are the directories of `--pidfile` and `--syslog=SOCKET`)",
  },
  {
    name: 'stop-timeout',
    default: '10s',
    meaning: 'time between SIGTERM and SIGKILL when stopping',
  },
  {
    name: 'max-stop-timeout',
    default: '5m',
    meaning:
      "the longest a daemon's `stop_timeout` may make a stop last (a longer one is cut to this), so a shutdown of the manager stops every daemon within this time (the manager itself then exits 12 to 23 ms after its last daemon ended, measured over 6 shutdowns with one daemon; up to 2 s more while a slow log (syslog, a full pipe) takes its last lines, and 0.7 s more while a tail through the manager reads the daemons' last output)",
  },
  {
    name: 'cooldown-step',
    default: 'unset',
    meaning:
      'a daemon that exits before `stable-uptime` waits longer each time: twice as long, from 1 s, or, when this is set, this much longer (the original rule, with `10s`)...',
  },
  { name: 'cooldown-max', default: '60s', meaning: '...up to this' },
  {
    name: 'restart-delay-min',
    default: '0s',
    meaning:
      "the least wait before any respawn, and the shortest `restart_delay` a daemon's file may ask for",
  },
  {
    name: 'restart-delay-max',
    default: '5m',
    meaning: 'the longest `restart_delay` a daemon may ask for (a file asking for more is refused)',
  },
  {
    name: 'stable-uptime',
    default: '60s',
    meaning:
      'a daemon that ran this long is respawned at once (after its `restart_delay`, if any) and its back-off forgotten',
  },
  {
    name: 'log-max-size',
    default: '10M',
    meaning: 'logs rotate when they would grow past this (`0`: never)',
  },
  {
    name: 'log-keep',
    default: '5',
    meaning: 'rotated logs kept (`NAME.log.1` ... `NAME.log.5`)',
  },
  {
    name: 'cgroups',
    default: 'yes',
    meaning:
      'put each daemon in a cgroup2 cgroup of its own where the manager can (root, with a cgroup2 hierarchy: stop then reaches processes that left the process group, a crash leaves no unknown survivor); it is forked straight into it, at no cost. A daemon with `limit-nproc` also joins a v1 `pids` cgroup where that controller is mounted, which costs 10-20 ms per start on a v1 kernel',
  },
  {
    name: 'cpu-fair-share',
    default: 'yes',
    meaning:
      "put all of a user's daemons in one v1 `cpu` cgroup of the user's (`cpu.shares` 1024, or as `cpu-weight` says; no cap unless `cpu=` sets one), so that the scheduler gives each user with busy daemons an equal share of a busy CPU whatever their number of processes: one user's thousands of processes no longer slow other users' daemons and the manager. It costs each start a move into a v1 cgroup, made by the daemon's process itself before its exec through the cgroup's `tasks` file, which waits for no RCU grace period: a respawn alone took 4.1-4.8 ms (median, loaded machine) against 3.9-4.1 ms without it (`bench/cpu-share-cost.ts`). `no`: a user's daemons join a `cpu` cgroup only for a `cpu=` or `cpu-weight=` quota, and each of their processes competes alone. A change by SIGHUP moves running daemons at once, as a quota does. Without a v1 `cpu` hierarchy (personal mode, `cgroups = no`, a pure cgroup2 host) it does nothing, and the manager's log says so when it starts",
  },
  {
    name: 'max-daemons',
    default: 'unset',
    meaning: 'how many daemons one user may have running or cooling down at once',
  },
  { name: 'limit-nofile', default: 'unset', meaning: 'open files of each daemon process' },
  {
    name: 'limit-nproc',
    default: 'unset',
    meaning:
      "processes of the run-as user (RLIMIT_NPROC); where cgroups are used, also each daemon's `pids.max`",
  },
  { name: 'limit-core', default: 'unset', meaning: 'core file size (`0` forbids core dumps)' },
  { name: 'limit-as', default: 'unset', meaning: 'address space of each daemon process' },
  {
    name: 'metrics-listen',
    default: 'unset',
    meaning:
      "serve Prometheus metrics on `HOST:PORT` (such as `127.0.0.1:9815`): every daemon's state, uptime, respawns, cooldown and last exit, and the manager's requests, errors and process figures. Whoever can connect sees every daemon id, so keep it on the loopback or behind a firewall",
  },
];
