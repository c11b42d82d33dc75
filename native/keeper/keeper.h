/*
 * dm-keeper: the parent of every daemon of one manager instance. See keeper.c for what it
 * is for and src/keeper/protocol.ts for the protocol.
 */
#ifndef DM_KEEPER_H
#define DM_KEEPER_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KEEPER_VERSION "6"
/* The largest message either side sends (a spawn carries at most 128 KiB of exports). */
#define MAX_MESSAGE (512 * 1024)
#define MAX_FIELDS 4096
/* SCM_MAX_FD is 253; nobody here needs more than a handful per message. */
#define MAX_MESSAGE_FDS 64

/* A message: NUL-separated fields (the first is the verb) and the descriptors with it. */
struct message {
  char *fields[MAX_FIELDS];
  size_t count;
  int fds[MAX_MESSAGE_FDS];
  size_t fd_count;
};

/* One spawn of a daemon, from fork to release. */
struct run {
  uint64_t seq;
  char *id;
  pid_t pid;
  int pidfd;
  unsigned long long start_ticks;
  int64_t spawned_ms;
  /*
   * Whom it was started for, as the manager said at the spawn (-1 unknown: a survivor of
   * a previous keeper), and the uid the child was switched to before its exec (or the
   * keeper's own). Said with every report: a manager started after a kill -9 of the last
   * one checks a run against the accounts as they are now, whatever its state file says.
   */
  long long owner_uid;
  long long uid;
  /*
   * The gid and the supplementary groups ("1000,27", in setgroups' order) the child was
   * switched to before its exec (NULL: not switched, or a survivor of a previous keeper):
   * what the run was given, which a daemon left root may change in itself since, so that
   * a manager that takes the run over judges what it was given against the accounts now.
   */
  long long gid;
  char *groups;
  /* The main process: alive until reaped; then how it ended. */
  int alive;
  int exit_code, exit_signal;
  int64_t exited_ms;
  /* The exec: 0 pending (errpipe open), 1 done, 2 failed (exec_error says why). */
  int exec_state;
  char *exec_error;
  /*
   * When the keeper saw the exec done (0: not seen, a survivor): a manager stopped
   * meanwhile (SIGSTOP) takes it as when the program began, not when it reads the report.
   */
  int64_t exec_ms;
  int errpipe;
  /*
   * The daemon's cgroup2 directory (NULL without), opened when needed: held open, it
   * was a second descriptor per running daemon, and 10,000 daemons passed a hard limit
   * of 20,000. It is the manager's (root's), made for this run alone, so its path names
   * it for as long as it exists. And its cgroup.events once watched.
   */
  char *cgroup;
  int events_fd;
  /* Every process of the run is gone (known once the main process has ended). */
  int empty;
  /* Waiting for the scope to empty; polled by the timer (no cgroup.events to watch). */
  int watching;
  int polled;
  /* Not our child: a survivor of a previous keeper, followed by pidfd and cgroup. */
  int foreign;
  /*
   * A survivor with no cgroup whose main process a previous keeper reaped: the rest of
   * its process group (`pid` names the group), followed member by member (see runs.c
   * `find_members`), each through a pidfd.
   */
  int leaderless;
  /*
   * A survivor with no cgroup whose main process is alive: its uid (-1 unknown), to follow
   * the rest of its group the same way once that process ends (see runs.c `runs_poll`).
   */
  long long group_uid;
  struct member *members;
  size_t member_count;
  struct run *next;
};

/* keeper.c */
int64_t now_ms(void);
/* With the descriptor stored under `stored_name` (fdstore.c), if not NULL. */
void send_event(const char *verb, const char *const *fields, size_t count,
                const char *stored_name);
/* Whether run reports carry the owner's uid and the run's uid (see keeper.c). */
int reports_uids(void);
/* Whether run reports carry the run's gid and groups too (see keeper.c). */
int reports_groups(void);
int reports_exec_time(void);
void keeper_log(const char *level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* What an epoll event is about. */
enum { TAG_LISTEN = 1, TAG_CONNECTION, TAG_SIGNALS, TAG_TIMER, TAG_ERRPIPE, TAG_EVENTS };
void watch_fd(int fd, uint32_t events, int kind);
void unwatch_fd(int fd);
void arm_poll_timer(int on);

/* runs.c */
struct run *run_new(uint64_t seq, const char *id);
struct run *run_by_seq(uint64_t seq);
struct run *run_by_pid(pid_t pid);
struct run *run_by_errpipe(int fd);
struct run *run_by_events(int fd);
void run_forget(struct run *run);
/*
 * Where runs with no cgroup are recorded (keeper-runs/ beside the socket), and a run's
 * record written: by the keeper for an adopted one, by a spawned child itself, first
 * thing after the fork.
 */
void runs_record_in(const char *socket_path);
void run_record(const struct run *run);
void run_record_process(const struct run *run, pid_t pid, unsigned long long start_ticks);
void run_track_pid(struct run *run);
void run_watch_errpipe(struct run *run, int fd);
void runs_reap(void);
void runs_poll(void);
void run_exec_pipe_ready(struct run *run);
void run_events_ready(struct run *run);
int run_signal(struct run *run, int sig, int *reached);
void run_report(struct run *run, const char *verb);
void runs_report_all(void);
size_t runs_count(void);
size_t runs_kill_left(void);
/* `group_uid`: the run's uid, to take on its process group if its main process is gone (-1: not). */
int run_adopt(struct run *run, pid_t pid, unsigned long long start_ticks, const char *cgroup,
              long long group_uid);
unsigned long long start_ticks_of(pid_t pid);

/* spawn.c */
int spawn_run(struct run *run, struct message *request, char *error, size_t error_size);

/* fdstore.c */
int store_put(const char *name, int fd);
int store_get(const char *name);
void store_drop(const char *name);
void store_drop_pipe(const char *name, unsigned long long inode);
void store_report_all(void);
size_t store_count(void);
int output_pipe(const char *id, int *created);
void output_close_writer(const char *id);

#endif
