import { DAEMON_KEYS } from '../reference/daemon.ts';
import { DMCTL_COMMANDS, DMCTL_OPTIONS, STATUS_COLUMNS } from '../reference/dmctl.ts';
import { MANAGER_OPTIONS, MANAGER_SIGNALS } from '../reference/manager.ts';
import { MASTER_SECTIONS, SETTINGS } from '../reference/master.ts';
import type { ManPage } from './roff.ts';

/** The four pages the original shipped, from the same reference as the README's tables. */
export const MAN_PAGES: readonly ManPage[] = [
  {
    name: 'dmctl',
    section: 1,
    summary: 'control the daemons that daemon-manager runs for you',
    synopsis: [
      '.B dmctl',
      '[\\fIOPTION\\fR...] [\\fICOMMAND\\fR | \\fIID COMMAND\\fR | \\fICOMMAND ID\\fR]',
    ],
    sections: [
      {
        heading: 'Description',
        blocks: [
          {
            p: '`dmctl` asks `daemon-manager` to show, start, stop, restart and signal the daemons you may manage: your own, and those of the users the master config lets you manage (`[manages]`). It talks to the manager over your own control socket; the kernel tells the manager who you are, so nothing you type can claim to be someone else.',
          },
          {
            p: '`ID` is `user/name`, or `name` when that is unambiguous among the daemons you may manage; an ambiguous name lists the candidates. Both orders work: `dmctl stop blog` as in versions before 0.98, and `dmctl blog stop`.',
          },
        ],
      },
      { heading: 'Commands', blocks: [{ entries: DMCTL_COMMANDS }] },
      { heading: 'Options', blocks: [{ entries: DMCTL_OPTIONS }] },
      {
        heading: 'Status',
        blocks: [
          {
            p: '`dmctl status` prints one line per daemon. On a terminal the table fits its width and colours the states (`NO_COLOR` turns colours off); into a pipe it keeps the original layout, with `run-as` and `last-exit` added at the end of each line. Times show their two largest units (`3w3d`, `12h57m`, `42s`). The columns, with their `--json` field:',
          },
          {
            entries: STATUS_COLUMNS.map((c) => ({
              ...c,
              meaning: `(\`${c.field}\`) ${c.meaning}`,
            })),
          },
          {
            example: [
              '$ dmctl status',
              'daemon-id                      state              pid respawns cooldown   uptime    total run-as   last-exit',
              'david/wordpress                running          27012       33       0s   12h57m     3w3d www-data exit 1',
            ],
          },
        ],
      },
      {
        heading: 'Completion',
        blocks: [
          {
            p: '`dmctl completion bash`, `zsh` or `fish` prints a script that completes commands, options, signals after `kill` and the daemon ids you may manage (asked of the manager, silently nothing when none runs). For example, in `~/.bashrc`: `source <(dmctl completion bash)`.',
          },
        ],
      },
      {
        heading: 'Exit status',
        blocks: [
          {
            p: '`0` on success; `1` with a one-line reason on stderr when the manager refused or could not be reached (unknown id, not allowed, not running); `2` for bad usage.',
          },
        ],
      },
      {
        heading: 'Environment',
        blocks: [
          {
            entries: [
              {
                name: 'DAEMON_MANAGER_CONFIG',
                meaning: 'the master config, when `--config` is not given',
              },
              { name: 'PAGER', meaning: 'the pager of `dmctl ID log`' },
              { name: 'VISUAL, EDITOR', meaning: 'the editor of `dmctl ID edit`' },
              {
                name: 'NO_COLOR',
                meaning: 'when set and not empty, `dmctl status` uses no colours',
              },
            ],
          },
        ],
      },
      {
        heading: 'See also',
        blocks: [{ p: 'daemon-manager(8), daemon.conf(5), daemon-manager.conf(5)' }],
      },
    ],
  },
  {
    name: 'daemon-manager',
    section: 8,
    summary: "run and supervise every user's daemons",
    synopsis: ['.B daemon-manager', '[\\fIOPTION\\fR...]'],
    sections: [
      {
        heading: 'Description',
        blocks: [
          {
            p: '`daemon-manager` runs as root and starts the daemons that ordinary users describe in `~/.daemon-manager/daemons/NAME.conf` (see daemon.conf(5)), as the users the master config allows (see daemon-manager.conf(5)). It restarts a daemon that exits, waits longer and longer before restarting one that keeps crashing (the cooldown), keeps their logs, and answers dmctl(1) on one control socket per user.',
          },
          {
            p: 'With `--personal` anyone can run it for their own daemons alone, with no master config and no root: its socket is `~/.daemon-manager/dmctl.sock` and its state and log are in `~/.daemon-manager/state/`.',
          },
        ],
      },
      { heading: 'Options', blocks: [{ entries: MANAGER_OPTIONS }] },
      { heading: 'Signals', blocks: [{ entries: MANAGER_SIGNALS }] },
      {
        heading: 'Logging',
        blocks: [
          {
            p: "Under systemd the manager logs to the journal, with priorities; with `--syslog`, to syslog (facility daemon); in the background, to `daemon-manager.log` in its state directory; in the foreground, to stderr. Every action and every refusal has an `audit:` line (those of one user's requests up to 1,000 at once, then 120 a minute: past that, counted, and the count logged). If its log cannot be written (a closed pipe, a reader that stopped reading), the manager goes on with its own file and says so there.",
          },
        ],
      },
      {
        heading: 'Systemd',
        blocks: [
          {
            p: 'The package has a unit for the system manager and one for a personal manager, with the paths of its install, in `build/systemd/` of the installed package. The system unit runs `daemon-manager --foreground` with `Type=notify` (the manager says when it is ready), `ExecReload` sends SIGHUP, and `KillMode=process`: the manager stops its daemons itself, so systemd never kills them behind its back, and a crashed manager restarted by `Restart=on-failure` finds them again. An upgrade that keeps every daemon running:',
          },
          { example: ['systemctl kill --kill-whom=main --signal=SIGUSR2 daemon-manager'] },
        ],
      },
      {
        heading: 'Exit status',
        blocks: [
          {
            p: '`0` after a stop by SIGTERM or SIGINT, and for `--help`, `--version` and a `--check` that found no error; `1` when it cannot run (a config error, another manager of the same state directory, a path it may not use) or `--check` found an error, with the reason on stderr or in its log; `2` for bad usage.',
          },
        ],
      },
      {
        heading: 'Files',
        blocks: [
          {
            entries: [
              {
                name: '/etc/daemon-manager/daemon-manager.conf',
                meaning: 'the master config, see daemon-manager.conf(5)',
              },
              {
                name: '~/.daemon-manager/daemons/NAME.conf',
                meaning: 'daemon configs, see daemon.conf(5)',
              },
              { name: '~/.daemon-manager/logs/NAME.log', meaning: 'their logs, with `output=log`' },
              { name: '/run/daemon-manager/USER.sock', meaning: 'the control sockets' },
              {
                name: '/run/daemon-manager/sockets.lock',
                meaning: 'held by the manager and its keeper: one manager per socket-dir',
              },
              {
                name: '/var/lib/daemon-manager/state.json',
                meaning: 'what the manager knows of each daemon, kept across restarts',
              },
              {
                name: '/var/lib/daemon-manager/state.json.copy',
                meaning: 'a copy of it (up to a second behind), used when state.json is damaged',
              },
            ],
          },
        ],
      },
      {
        heading: 'See also',
        blocks: [{ p: 'dmctl(1), daemon-manager.conf(5), daemon.conf(5), systemd.service(5)' }],
      },
    ],
  },
  {
    name: 'daemon-manager.conf',
    section: 5,
    summary: 'who may run daemons, as whom, and who manages whose',
    sections: [
      {
        heading: 'Description',
        blocks: [
          {
            p: 'The master config of daemon-manager(8): `/etc/daemon-manager/daemon-manager.conf`, else `/etc/daemon-manager.conf`, or the file given by `--config` or `$DAEMON_MANAGER_CONFIG`. It must be owned by root and writable by nobody else, or the manager refuses to start. `#` starts a comment anywhere; blank lines and white space around names, `=`, `:` and `,` are ignored. Every error (an unknown section or key, a line outside a section, a bad name) is reported at once with its file and line, and the manager refuses to start; on SIGHUP it keeps the config it had.',
          },
          {
            p: 'Root may manage every daemon and run daemons as anyone. A user not on the left of `[can_run_as]` runs nothing.',
          },
        ],
      },
      { heading: 'Sections', blocks: [{ entries: MASTER_SECTIONS }] },
      {
        heading: 'Settings',
        blocks: [
          { p: 'The keys of `[settings]`, all optional:' },
          { entries: SETTINGS, defaults: true },
          {
            p: "Durations take `ms`, `s`, `m`, `h` (a bare number is seconds); sizes take `K`, `M`, `G`. Limits may be `unlimited`; they are applied as both soft and hard limits after the switch to the daemon's user, so a daemon cannot raise them.",
          },
        ],
      },
      {
        heading: 'Example',
        blocks: [
          {
            example: [
              '[settings]',
              'stop-timeout = 20s',
              '',
              '[can_run_as]',
              'david: www-data',
              'jim',
              '@webdevs: www-data',
              '',
              '[manages]',
              '@helpdesk: david, jim',
              '',
              '[limits]',
              '@students: nofile=1024, nproc=200, core=0, as=1G, max-daemons=5',
            ],
          },
        ],
      },
      { heading: 'See also', blocks: [{ p: 'daemon-manager(8), daemon.conf(5), dmctl(1)' }] },
    ],
  },
  {
    name: 'daemon.conf',
    section: 5,
    summary: 'one daemon for daemon-manager to run',
    sections: [
      {
        heading: 'Description',
        blocks: [
          {
            p: "One file per daemon, `NAME.conf` in the user's daemon directory (`~/.daemon-manager/daemons/` unless the master config says otherwise); the daemon's id is `USER/NAME`. The file must be a regular file owned by that user, with one link, not executable, and not writable by others (group-write only for the user's private group); otherwise it is refused with a message saying why, which dmctl(1) shows. Lines are `key=value`; `#` starts a comment; unknown keys are warned about, with the file and line.",
          },
        ],
      },
      { heading: 'Keys', blocks: [{ entries: DAEMON_KEYS, defaults: true }] },
      {
        heading: 'Environment',
        blocks: [
          {
            p: "The environment is built from scratch: `HOME`, `LOGNAME` and `USER` of the run-as user, `PATH=/usr/bin:/bin`, then the `export` lines. Nothing of the manager's environment reaches a daemon, and no descriptor but 0, 1 and 2. With `ready=notify` or `watchdog=`, `NOTIFY_SOCKET` names the daemon's notify socket; with `watchdog=`, `WATCHDOG_USEC` gives its length in microseconds (as systemd gives them).",
          },
        ],
      },
      {
        heading: 'Readiness, health and sd_notify',
        blocks: [
          {
            p: 'A daemon with `ready=notify` speaks the sd_notify(3) protocol: `READY=1` makes it ready (until then, or until `ready_timeout`, it is `starting`); `STATUS=TEXT` is shown in the `status` column of `dmctl status` (control characters escaped, at most 200 characters) for as long as that run lasts; `RELOADING=1` shows it `reloading` until its next `READY=1`; `STOPPING=1` shows it `stopping`; `WATCHDOG=1` pings its watchdog and `WATCHDOG=trigger` counts as a missed ping. Other assignments (`MAINPID=`, `FDSTORE=`, `EXTEND_TIMEOUT_USEC=`) are ignored, and descriptors sent along are closed.',
          },
          {
            p: "Each daemon has a socket of its own, owned by its run-as user with mode 0700, so no other user can send to it. Within that user a message counts only if the kernel's credentials of its sender (SCM_CREDENTIALS, never the text) name a process of the daemon's current run: in its cgroup, or, without one (personal mode), the main process or one of its descendants. A message is at most 4096 bytes; a daemon sending more than 50 a second (after a burst of 100) is not read for a second, its messages waiting in the kernel, and the log says so.",
          },
          {
            p: '`health=` is checked every `health_interval` once the daemon is ready; `health_retries` failures in a row make it unhealthy, as does a missed `watchdog=` ping: it is stopped (SIGTERM, then SIGKILL after `stop_timeout`) and respawned as after a crash, its back-off counting how long it ran; `restart=no` leaves it `failed`. `dmctl status` shows `failing N/M`, how many runs were restarted as unhealthy, and `last-exit` says why; `dmctl why` lists each failed check. `tcp:` and `http://` checks are made by the manager, on the loopback only; `unix:` and `exec:` by a process started as the daemon is.',
          },
        ],
      },
      {
        heading: 'Example',
        blocks: [
          {
            example: [
              'start=php-cgi -b /run/php-blog/php.sock',
              'dir=/srv/blog',
              'user=www-data',
              'output=log',
              'export PHP_FCGI_CHILDREN=4',
            ],
          },
        ],
      },
      {
        heading: 'See also',
        blocks: [{ p: 'dmctl(1), daemon-manager(8), daemon-manager.conf(5)' }],
      },
    ],
  },
];

/** The file name of a page: `dmctl.1`. */
export function manFileName(page: ManPage): string {
  return `${page.name}.${page.section}`;
}
