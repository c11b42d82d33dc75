/**
 * Why daemon-manager is behind where it is: what was found by looking (strace, perf,
 * /proc, timings of the pieces) rather than by the bench's own figures. Each entry says
 * when and on what it was found; RESULTS.md shows them under the runs made since then.
 */
export const WHY_SINCE = '2026-12-02T08:00:00Z';
export const WHY_SOURCE =
  'found on 2026-12-02 on the tree with dm-keeper (merge of main into bench), with perf, /proc and timings of the pieces, while other sessions ran their tests on the machine';

/** By goal number of the performance issue (the first character of the goal's text). */
export const WHY_GOAL: Record<string, string> = {
  '1': 'A respawn crosses two processes where the original and runit cross one: the keeper reaps the exit (signalfd) and tells the manager, Node decides and sends the spawn back, and the keeper forks (clone3 straight into the cgroup2 leaf: the cgroup v1 migration of the old path is gone). On this VM under load a fork with its exit costs 30-60 ms of kernel time for any process (a bare Python fork/exit/wait loop measured 34-58 ms per child during the runs), so each extra wake-up and scheduling hop is paid at the load of the moment; the keeper also forks its whole address space (clone3 without CLONE_VM), whose pages it then writes again (see the notes under the crash storm).',
  '2': "dmctl is a Node program: `node -e 0` alone is the floor of any Node client, and on this machine under the other sessions' load it is several times runit's whole `sv status` (the table shows both). What dmctl adds on top of the floor is its bundle and the answer; the goal cannot be met by a Node client while the floor alone exceeds it.",
  '3': "The manager is a Node 24 process: the bare Node baseline (a net server on a unix socket) is already 40+ MiB of RSS and 8-9 MiB of private dirty memory before any daemon, against the original's 4 MiB RSS in all; the keeper adds its own (C, small). The per-daemon cost is the manager's JavaScript records and the keeper's per-run state.",
  '4': 'The original does no copying at all: its daemons write their log file themselves, so its throughput is that of `yes | head` and the disk, and its manager spends no CPU on logs. daemon-manager moves every byte from the pipe to the file (the native pump), which is what gives it timestamps, rotation and no loss across restarts.',
  '6': "A wake-up in the idle window is a thread ending: the manager's native pool (native/key_pool.c, for users' files) ends a thread after 30 s without work (IDLE_SECONDS), once, some 30 s after the start-up's last file operation; the bench counts each thread that ended as one wake-up (the figures say how many ended). Nothing recurs: the second half of the window shows what would.",
  '5': 'Every start crosses the manager and the keeper (a message each way) and a fork of the keeper; the original forks from its own loop. Under load, the fork cost above dominates both.',
};

/** Why the crash storms do not hold (the reliability issue's bar: 1,000 exits/s). */
export const WHY_STORM = [
  "**The machine's ceiling.** The same daemons under bare shell loops (no supervisor) reach only a few dozen exits a second here: every run is a fork and exec of `sh`, a fork and exec of `sleep` and two exits, and on this VM a fork with its exit costs 30-60 ms of kernel time (a bare Python fork/exit/wait loop: 34-58 ms per child during the runs). 500 and 1,000 exits/s cannot be reached on this machine by any supervisor; what the table judges is whether daemon-manager keeps up with the ceiling and stays responsive.",
  "**dmctl under the storm.** Compare dmctl's times with `node -e 0` asked beside it: most of a slow dmctl call is Node starting on a machine whose two cores are busy forking.",
  "**The keeper starves its own reaping.** `receive()` in native/keeper/keeper.c reads and handles every queued request before it returns to epoll, and each `spawn` is a fork (30-60 ms here): while the manager keeps sending spawns, SIGCHLD is not read and exits are not reported. In the 1 s samples the keeper's zombie children climb to 100-400 and then fall to near 0 at once, and its descriptors with them; a respawn waits for that. Handling a bounded number of requests per wake-up (or reaping between spawns) would fix it.",
  "**The keeper's forks copy-on-write its own pages.** clone3 without CLONE_VM shares the keeper's pages copy-on-write with each child, and the keeper then zeroes a 33 KB `struct message` for every request it reads (`= {0}` in receive()): perf over 5 s of a storm (300 daemons, about 100 exits/s aimed at) put 13% of the keeper's samples in TLB-shootdown IPIs under `do_wp_page` (COW faults), with memset in `main`/`receive` the writers. CLONE_VM|CLONE_VFORK (as posix_spawn does) or not zeroing the whole struct would avoid it.",
];

/** What is known of the attacker workload's misses. */
export const WHY_ATTACK = [
  "Not yet taken apart. During the attack the manager and its keeper used about a fifth of a core, so they were not saturated; the victim's dmctl and respawns shared the two cores with the attacker's 4,200 processes and its rescans (each lists 51,200 names and opens the 50,000 invalid ones). Runs from this commit on measure `node -e 0` as the victim beside its dmctl, which tells the machine's share of a slow call from the manager's.",
  'Every `dmctl rescan` of the attacker during the attack, and its first one, ended with `dmctl: the manager sent an unreadable answer`: the connection closed before a whole JSON line came (src/cli/client.ts). The cause, found after this run: the 10 s idle limit of a connection (meant for clients that send nothing) also ran while the manager handled a request, and these rescans took 6-16 s; since then it stops once the request is in (test: `control.test.ts`, a start held up 11 s).',
];

/** Why the crash storms still miss their bar, in runs made after the storm fixes (issue 13 item 4). */
export const WHY_STORM_AFTER = {
  since: '2026-12-02T15:00:00Z',
  source:
    'found on 2026-12-02 on branch storm, with perf, --cpu-prof, /proc and the figures above, while other sessions ran their tests and benches on the machine',
  items: [
    "**The machine's ceiling.** The bare shell loops reached 29 exits/s aimed at 30 and 36 aimed at 1,000, and daemon-manager kept pace (28 and 44 exits/s): the storm is bounded by the machine, not by the manager. Even a bare C loop of fork, exec of /bin/true and wait did 49-102 a second here (68-220 with CLONE_VM|CLONE_VFORK, as posix_spawn does; load 3-6): the kernel is paravirtualized, and perf puts most of a fork in page-table updates and TLB-shootdown IPIs (`pvm_irq_enable` under `flush_tlb_mm_range`). 1,000 exits/s is some 20 times what this VM can do with any supervisor.",
    '**The keeper no longer starves its reaping.** It reaps after every spawn and handles at most 32 requests per wake-up: its zombie children stay at 0-4 (100-465 in the runs before), and its descriptors flat. `test/keeper/spawn-burst.test.ts` checks that an exit is reported before a queued burst of spawns is worked through.',
    "**dmctl under the storm.** dmctl is a Node start-up: `node -e 0` beside it took 1.4-3.4 s (median), so a dmctl call within a second cannot be had while the storm saturates both cores. The manager's own answer on its socket, to a client already running, took 15-432 ms (median); its worst, 3.6-12 s, are seconds in which the manager was not scheduled or its loop was held, not yet taken apart.",
    "**The manager's work per exit.** Before these runs, at 500 or 1,000 daemons and about 27 exits/s, every respawn counted the owner's running daemons by walking every daemon (a third of the manager's profile at N = 1,000), the state and the why history (every daemon's) were saved again as soon as the last save ended, and grouping the history by user was quadratic: 2.6 ms of the manager's CPU per exit at N = 100 against 4.7 ms at N = 1,000 (its answers to the status loops included, a small part of it in those runs), and `status` on its socket 5 ms (median) against 2.3 s. Now the count is made only under `max-daemons`, saves nobody waits for come at most once a second (an acknowledged action is still saved before its reply), and the grouping is linear.",
    "**The keeper's forks.** 3.4-4.5 ms of the keeper's CPU per exit, nearly all in the kernel: clone3 copying page tables and the copy-on-write faults after it. The keeper no longer zeroes 33 KB per request. CLONE_VM|CLONE_VFORK was measured (above) and not taken: the keeper would be suspended until each child execs, and the child enters the daemon's directory and executes its program, paths the daemon's user controls (a FUSE mount of theirs, a hung NFS home): one user could freeze the keeper, and so every daemon of every user, for as long as they like.",
    "**Left behind.** After the 1,000/s discard run's SIGTERM, 4 of the daemons' cgroup directories were still there (removed by the bench): not yet taken apart. SIGTERM to exit took 2-12 s, the time to stop 500 daemons on the saturated machine.",
  ],
};
