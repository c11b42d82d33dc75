/*
 * The runs: one per spawn of a daemon, from the fork to the manager's release. A run
 * knows its main process (by pidfd, held since the fork), how it ended, whether its exec
 * worked, and whether anything of it is left (its cgroup, or its process group).
 *
 * Why a daemon is only ever signalled through these: a pid or a process group id is a
 * number the kernel hands out again once it is free. A supervisor that keeps the number
 * of a dead main process and signals it later (a stop deadline, `dmctl kill`) signals
 * whoever got the number since: another user's daemon. A pidfd names one process for
 * good, and pidfd_send_signal with PIDFD_SIGNAL_PROCESS_GROUP names the process group
 * that process led, even after it was reaped, and never a group that reuses its number.
 * The members of a cgroup are checked one by one with a pidfd (see signal_members).
 */
#include "keeper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "table.h"

#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1UL << 2)
#endif

static struct run *runs;
static size_t run_total;
static struct table by_seq, by_pid, by_fd;

static void set_polled(struct run *run, int on);
static void drop_members(struct run *run, int only_gone);

static int pidfd_signal(int pidfd, int sig, unsigned int flags) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, flags);
}

static int pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

/*
 * Has the process ended? Its pidfd is readable once it has, reaped or not: a survivor of a
 * previous keeper is not our child, and is reaped by init, which may take its time. Taken
 * for alive while a zombie (a signal reaches one), its end was seen 1.2-2 s late on a host
 * whose PID 1 reaps slowly, its daemon down meanwhile (an outside review, 76a, F4).
 */
static int pidfd_ended(int pidfd) {
  struct pollfd each = {.fd = pidfd, .events = POLLIN};
  return poll(&each, 1, 0) == 1 && (each.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL));
}

struct run *run_new(uint64_t seq, const char *id) {
  struct run *run = calloc(1, sizeof *run);
  if (!run || !(run->id = strdup(id))) abort();
  run->seq = seq;
  run->pidfd = run->errpipe = run->events_fd = -1;
  run->owner_uid = run->uid = run->gid = run->group_uid = -1;
  run->next = runs;
  runs = run;
  run_total++;
  table_put(&by_seq, seq, run);
  return run;
}

/* Opens a file of the run's cgroup (close-on-exec); -1 and errno if it cannot. */
static int open_in_cgroup(const struct run *run, const char *name, int flags) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", run->cgroup, name) >= (int)sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return open(path, flags | O_CLOEXEC);
}

struct run *run_by_seq(uint64_t seq) { return table_get(&by_seq, seq); }
struct run *run_by_pid(pid_t pid) { return table_get(&by_pid, (uint64_t)pid); }
size_t runs_count(void) { return run_total; }

/* Descriptors watched for a run (exec pipe, cgroup.events) map back to it. */
static uint64_t fd_key(int kind, int fd) { return ((uint64_t)kind << 32) | (uint32_t)fd; }
struct run *run_by_errpipe(int fd) { return table_get(&by_fd, fd_key(TAG_ERRPIPE, fd)); }
struct run *run_by_events(int fd) { return table_get(&by_fd, fd_key(TAG_EVENTS, fd)); }

static void close_watched(int *fd, int kind) {
  if (*fd == -1) return;
  unwatch_fd(*fd);
  table_remove(&by_fd, fd_key(kind, *fd));
  close(*fd);
  *fd = -1;
}

void run_track_pid(struct run *run) { table_put(&by_pid, (uint64_t)run->pid, run); }

void run_watch_errpipe(struct run *run, int fd) {
  run->errpipe = fd;
  table_put(&by_fd, fd_key(TAG_ERRPIPE, fd), run);
  watch_fd(fd, EPOLLIN, TAG_ERRPIPE);
}

/*
 * Each run's record in the state directory (keeper-runs/SEQ: its id, pid, start time and
 * this keeper's pid), written as the run is spawned or adopted and removed as it is
 * forgotten; only for a run with no cgroup (a run's own cgroup names it otherwise). The keeper, then its manager killed before the manager saved a run just
 * spawned: with no cgroup, nothing else named that run's process, and the next manager
 * started the daemon beside it, the first copy unsupervised for good (an outside review,
 * 66a, F1: 11 of 14). The manager reads what a keeper that is gone left (src/keeper/
 * run-records.ts). Not synced: a crash of the machine leaves no process to find.
 */
static int records_dir = -1;
static pid_t recording_keeper;

void runs_record_in(const char *socket_path) {
  recording_keeper = getpid();
  char path[4096];
  const char *slash = strrchr(socket_path, '/');
  int length = slash ? (int)(slash - socket_path) : 1;
  const char *base = slash ? socket_path : ".";
  if (snprintf(path, sizeof path, "%.*s/keeper-runs", length, base) >= (int)sizeof path) return;
  if (mkdir(path, 0700) == -1 && errno != EEXIST) return;
  records_dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

void run_record_process(const struct run *run, pid_t pid, unsigned long long start_ticks) {
  if (records_dir == -1 || pid <= 0 || run->cgroup != NULL) return;
  char name[24], text[8192];
  snprintf(name, sizeof name, "%llu", (unsigned long long)run->seq);
  int length = snprintf(text, sizeof text, "%s\n%d\n%llu\n%d\n", run->id, (int)pid,
                        start_ticks, (int)recording_keeper);
  if (length < 0 || length >= (int)sizeof text) return;
  int fd = openat(records_dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd == -1) return;
  (void)!write(fd, text, (size_t)length);
  close(fd);
}

void run_record(const struct run *run) { run_record_process(run, run->pid, run->start_ticks); }

static void run_unrecord(const struct run *run) {
  if (records_dir == -1 || run->cgroup != NULL) return;
  char name[24];
  snprintf(name, sizeof name, "%llu", (unsigned long long)run->seq);
  unlinkat(records_dir, name, 0);
}

void run_forget(struct run *run) {
  run_unrecord(run);
  for (struct run **link = &runs; *link; link = &(*link)->next)
    if (*link == run) {
      *link = run->next;
      break;
    }
  table_remove(&by_seq, run->seq);
  if (run->pid > 0 && run_by_pid(run->pid) == run) table_remove(&by_pid, (uint64_t)run->pid);
  close_watched(&run->errpipe, TAG_ERRPIPE);
  close_watched(&run->events_fd, TAG_EVENTS);
  set_polled(run, 0);
  if (run->pidfd != -1) close(run->pidfd);
  drop_members(run, 0);
  free(run->members);
  free(run->cgroup);
  free(run->exec_error);
  free(run->groups);
  free(run->id);
  free(run);
  run_total--;
}

/* What /proc/PID/stat says of a process that the keeper goes by. */
struct identity {
  char state;
  pid_t group;
  unsigned long long start_ticks;
};

/* A process's state, process group and start time; -1 once it is gone. */
static int identity_of(pid_t pid, struct identity *out) {
  char path[64], text[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd == -1) return -1;
  ssize_t got = read(fd, text, sizeof text - 1);
  close(fd);
  if (got <= 0) return -1;
  text[got] = '\0';
  /* The command name may hold spaces and parentheses: count fields after the last ')'. */
  char *cursor = strrchr(text, ')');
  if (!cursor || cursor[1] != ' ') return -1;
  out->state = cursor[2];
  /* Fields after the command: 3 state, 4 ppid, 5 pgrp, ..., 22 starttime. */
  cursor += 2;
  for (int field = 3; field < 5 && cursor; field++) cursor = strchr(cursor + 1, ' ');
  if (!cursor) return -1;
  out->group = (pid_t)strtol(cursor + 1, NULL, 10);
  for (int field = 5; field < 22 && cursor; field++) cursor = strchr(cursor + 1, ' ');
  if (!cursor) return -1;
  out->start_ticks = strtoull(cursor + 1, NULL, 10);
  return 0;
}

/* The start time of a process, in clock ticks after boot: with its pid, its identity. */
unsigned long long start_ticks_of(pid_t pid) {
  struct identity identity;
  return identity_of(pid, &identity) == 0 ? identity.start_ticks : 0;
}

/* The real uid of a process (the first of `Uid:` in /proc/PID/status); -1 once it is gone. */
static long long real_uid_of(pid_t pid) {
  char path[64], status[4096];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd == -1) return -1;
  ssize_t got = read(fd, status, sizeof status - 1);
  close(fd);
  if (got <= 0) return -1;
  status[got] = '\0';
  const char *line = strstr(status, "\nUid:");
  return line ? strtoll(line + 5, NULL, 10) : -1;
}

void run_report(struct run *run, const char *verb) {
  char seq[24], pid[16], ticks[24], spawned[24], alive[4], code[16], sig[16], exited[24],
      empty[4], exec[4], owner[24], uid[24], gid[24], exec_at[24];
  snprintf(seq, sizeof seq, "%llu", (unsigned long long)run->seq);
  snprintf(pid, sizeof pid, "%d", (int)run->pid);
  snprintf(ticks, sizeof ticks, "%llu", run->start_ticks);
  snprintf(spawned, sizeof spawned, "%lld", (long long)run->spawned_ms);
  snprintf(alive, sizeof alive, "%d", run->alive);
  snprintf(code, sizeof code, "%d", run->exit_code);
  snprintf(sig, sizeof sig, "%d", run->exit_signal);
  snprintf(exited, sizeof exited, "%lld", (long long)run->exited_ms);
  snprintf(empty, sizeof empty, "%d", run->empty);
  snprintf(exec, sizeof exec, "%d", run->exec_state);
  snprintf(owner, sizeof owner, "%lld", run->owner_uid);
  snprintf(uid, sizeof uid, "%lld", run->uid);
  snprintf(gid, sizeof gid, "%lld", run->gid);
  snprintf(exec_at, sizeof exec_at, "%lld", (long long)run->exec_ms);
  const char *fields[] = {seq,   run->id, pid,   ticks,  spawned, alive,
                          code,  sig,     exited, empty, exec,
                          run->exec_error ? run->exec_error : "",
                          owner, uid,     gid,   run->groups ? run->groups : "", exec_at};
  /* The uids, the groups, then the exec's time, for a manager that said it reads them (see reports_uids). */
  size_t count = sizeof fields / sizeof *fields;
  if (!reports_exec_time()) count -= 1;
  if (!reports_groups()) count -= 2;
  if (!reports_uids()) count -= 2;
  send_event(verb, fields, count, NULL);
}

void runs_report_all(void) {
  for (struct run *run = runs; run; run = run->next) run_report(run, "run");
}

/* Reads what the child said before exec; EOF with nothing said means the exec worked. */
static int read_exec_pipe(struct run *run) {
  char buffer[512];
  for (;;) {
    ssize_t got = read(run->errpipe, buffer, sizeof buffer - 1);
    if (got == -1 && errno == EINTR) continue;
    if (got == -1) return errno == EAGAIN ? 0 : -1;
    if (got == 0) return -1;
    buffer[got] = '\0';
    if (!run->exec_error) run->exec_error = strdup(buffer);
  }
}

static void finish_exec(struct run *run) {
  close_watched(&run->errpipe, TAG_ERRPIPE);
  run->exec_state = run->exec_error ? 2 : 1;
  run->exec_ms = now_ms();
  run_report(run, "exec");
}

void run_exec_pipe_ready(struct run *run) {
  if (read_exec_pipe(run) == -1) finish_exec(run);
}

/*
 * The rest of a process group whose leader is gone, with no cgroup: a run whose main
 * process ended as it was being stopped (a shell's child ignoring SIGTERM), its keeper
 * killed meanwhile. The keeper that reaped the leader held a pidfd of it, through which
 * the group stays reachable; the next keeper can open none (the leader is gone), and the
 * rest was never stopped, the daemon started beside it (an outside review, 67a, F2: 10 of
 * 10). It follows the group member by member: a process is a member if /proc says it is
 * in the group, began no earlier than the run and runs as the run's uid (really: what the
 * run's user could signal themselves), checked again once a pidfd of it is open, then
 * signalled and watched through that pidfd alone. The group's number cannot be another's
 * while a member lives (the kernel hands a pid out only once nothing uses it as a process,
 * group or session id): a group found by it is the run's, unless every member ended and
 * the number came round again to a process of the same uid that made a group of its own.
 */
struct member {
  pid_t pid;
  int pidfd;
};

/*
 * In the run's group, alive, begun no earlier than the run, and of its real uid (read
 * last: another file, only for a process that may be one).
 */
static int is_member(const struct run *run, pid_t pid, const struct identity *identity) {
  return identity->group == run->pid && identity->state != 'Z' &&
         identity->start_ticks >= run->start_ticks && real_uid_of(pid) == run->uid;
}

static int holds_member(const struct run *run, pid_t pid) {
  for (size_t i = 0; i < run->member_count; i++)
    if (run->members[i].pid == pid) return 1;
  return 0;
}

/*
 * Lets go of the members that ended (or, `only_gone` 0, of all): a pidfd is readable
 * once its process has exited, reaped or not (a zombie nobody reaps would otherwise be
 * waited for for good). A member held is the run's for good, in the group or not since.
 */
static void drop_members(struct run *run, int only_gone) {
  struct pollfd *polled = calloc(run->member_count + 1, sizeof *polled);
  if (!polled) abort();
  for (size_t i = 0; i < run->member_count; i++)
    polled[i] = (struct pollfd){.fd = run->members[i].pidfd, .events = POLLIN};
  if (only_gone && poll(polled, (nfds_t)run->member_count, 0) == -1) {
    free(polled);
    return; /* Looked at again at the next tick. */
  }
  size_t kept = 0;
  for (size_t i = 0; i < run->member_count; i++) {
    if (only_gone && !(polled[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
      run->members[kept++] = run->members[i];
      continue;
    }
    close(run->members[i].pidfd);
  }
  run->member_count = kept;
  free(polled);
}

/* Looks in /proc for members not held yet and holds them; how many it found. */
static size_t find_members(struct run *run) {
  DIR *proc = opendir("/proc");
  if (!proc) return 0;
  size_t found = 0;
  for (struct dirent *entry; (entry = readdir(proc)) != NULL;) {
    char *end;
    long pid = strtol(entry->d_name, &end, 10);
    struct identity seen, again;
    if (*end || pid <= 0 || holds_member(run, (pid_t)pid) ||
        identity_of((pid_t)pid, &seen) == -1 || !is_member(run, (pid_t)pid, &seen))
      continue;
    int pidfd = pidfd_open((pid_t)pid);
    if (pidfd == -1) continue;
    /* The pidfd names the process seen, unless the pid was reused in between. */
    if (identity_of((pid_t)pid, &again) == -1 || again.start_ticks != seen.start_ticks ||
        !is_member(run, (pid_t)pid, &again) || pidfd_signal(pidfd, 0, 0) == -1) {
      close(pidfd);
      continue;
    }
    struct member *grown = realloc(run->members, (run->member_count + 1) * sizeof *grown);
    if (!grown) abort();
    run->members = grown;
    run->members[run->member_count++] = (struct member){(pid_t)pid, pidfd};
    found++;
  }
  closedir(proc);
  return found;
}

/*
 * Signals every member: those held and those found since (a member may fork as it is
 * signalled: looked for again until none is new, a few times at most).
 */
static int signal_leaderless(struct run *run, int sig, int *reached) {
  drop_members(run, 1);
  for (int round = 0; round < 4; round++) {
    size_t before = run->member_count;
    size_t found = find_members(run);
    if (round > 0 && found == 0) break;
    for (size_t i = round == 0 ? 0 : before; i < run->member_count; i++)
      if (pidfd_signal(run->members[i].pidfd, sig, 0) == 0) (*reached)++;
  }
  return *reached > 0 ? 0 : ESRCH;
}

/*
 * Is anything of the run left? Its cgroup says so; without one, its process group. A
 * watched cgroup.events is read through the watched descriptor: kernfs clears the
 * pending notification of an open file only when that file is read.
 */
static int scope_is_empty(struct run *run) {
  if (run->cgroup != NULL) {
    char text[256];
    int fd = run->events_fd != -1 ? run->events_fd : open_in_cgroup(run, "cgroup.events", O_RDONLY);
    if (fd == -1) return 1; /* The cgroup is gone: so is everything in it. */
    ssize_t got = pread(fd, text, sizeof text - 1, 0);
    int error = errno;
    if (fd != run->events_fd) close(fd);
    /* Removed meanwhile (ENODEV): only an empty cgroup can be. Taken for "not yet", its
     * watched file kept the keeper spinning on EPOLLERR for good (an outside review). */
    if (got < 0) return error != EINTR;
    if (got == 0) return 0;
    text[got] = '\0';
    return strstr(text, "populated 0") != NULL;
  }
  if (run->leaderless) {
    /* A member that ended may have forked another first: looked for then. With none held,
     * looked for a few times: a scan reads /proc as it was when it began, and a member
     * born since, whose parent ended before the scan came to it, is not in it (an outside
     * review, 69b, F1: chains of members each forking the next and exiting within 20 ms
     * were all missed, the run taken for empty). */
    size_t before = run->member_count;
    drop_members(run, 1);
    if (run->member_count < before) find_members(run);
    for (int look = 0; look < 3 && run->member_count == 0; look++) find_members(run);
    return run->member_count == 0;
  }
  if (run->pidfd == -1) return 1;
  if (pidfd_signal(run->pidfd, 0, PIDFD_SIGNAL_PROCESS_GROUP) == 0) return 0;
  return errno == ESRCH;
}

/* Runs the poll timer looks at: groups without a cgroup, and survivors not our children. */
static size_t polled_count;

static void set_polled(struct run *run, int on) {
  if (run->polled == on) return;
  run->polled = on;
  polled_count += on ? 1 : (size_t)-1;
  arm_poll_timer(polled_count > 0);
}

static void stop_watching(struct run *run) {
  run->watching = 0;
  close_watched(&run->events_fd, TAG_EVENTS);
  set_polled(run, run->foreign && run->alive);
}

/* After the main process ended: empty now, or watched until it is. */
static void check_scope(struct run *run) {
  if (scope_is_empty(run)) {
    run->empty = 1;
    stop_watching(run);
    return;
  }
  if (run->watching) return;
  run->watching = 1;
  /* cgroup.events tells when the cgroup empties (a kernfs notification, EPOLLPRI). */
  if (run->cgroup != NULL) {
    int fd = open_in_cgroup(run, "cgroup.events", O_RDONLY);
    if (fd != -1) {
      run->events_fd = fd;
      table_put(&by_fd, fd_key(TAG_EVENTS, fd), run);
      watch_fd(fd, EPOLLPRI, TAG_EVENTS);
      /* It may have emptied between the first look and the watch. */
      if (scope_is_empty(run)) {
        run->empty = 1;
        stop_watching(run);
      }
      return;
    }
  }
  set_polled(run, 1);
}

static void note_exit(struct run *run, const siginfo_t *info) {
  run->alive = 0;
  run->exited_ms = now_ms();
  if (info->si_code == CLD_EXITED) run->exit_code = info->si_status;
  else run->exit_signal = info->si_status;
  if (run->errpipe != -1) {
    /* The child is gone: its end of the pipe is closed, what it said is there. */
    read_exec_pipe(run);
    finish_exec(run);
  }
  table_remove(&by_pid, (uint64_t)run->pid);
  check_scope(run);
  run_report(run, "exited");
}

/* Reaps every child that ended: the runs' main processes and the orphans daemons left. */
void runs_reap(void) {
  for (;;) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG) == -1 || info.si_pid == 0) return;
    struct run *run = run_by_pid(info.si_pid);
    if (run && run->alive) note_exit(run, &info);
  }
}

/* Ticks while some run is polled (see set_polled). */
void runs_poll(void) {
  for (struct run *run = runs; run; run = run->next) {
    if (!run->polled) continue;
    if (run->foreign && run->alive) {
      if (!pidfd_ended(run->pidfd)) continue;
      /* Not our child: how it ended is unknown (-1); that it ended is enough. */
      run->alive = 0;
      run->exit_code = -1;
      run->exited_ms = now_ms();
      set_polled(run, 0);
      /* With no cgroup, the rest of its group is followed member by member: a signal to
       * the group reaches its zombies too, and it was taken for not empty until init
       * reaped them all (see pidfd_ended). */
      if (run->cgroup == NULL && run->group_uid >= 0) {
        close(run->pidfd);
        run->pidfd = -1;
        run->uid = run->group_uid;
        run->leaderless = 1;
      }
      check_scope(run);
      run_report(run, "exited");
      continue;
    }
    if (run->watching && scope_is_empty(run)) {
      run->empty = 1;
      stop_watching(run);
      run_report(run, "empty");
    }
  }
}

void run_events_ready(struct run *run) {
  if (!run->watching || !scope_is_empty(run)) return;
  run->empty = 1;
  stop_watching(run);
  run_report(run, "empty");
}

/*
 * Signals every member of the run's cgroup, each through a pidfd proven to be a member:
 * the pid is read from cgroup.procs, a pidfd opened on it, cgroup.procs read again and the
 * pid found there, then the pidfd found still alive. A process alive at that last check
 * was alive, so held its pid, when the second list named it: it was in the cgroup, and an
 * unprivileged process cannot leave a cgroup. A pid reused meanwhile fails one check.
 */
static int read_members(const struct run *run, pid_t **pids, size_t *count) {
  int fd = open_in_cgroup(run, "cgroup.procs", O_RDONLY);
  if (fd == -1) return -1;
  size_t capacity = 0, length = 0;
  char *text = NULL;
  for (;;) {
    if (length + 4096 > capacity) {
      capacity = capacity ? capacity * 2 : 8192;
      char *grown = realloc(text, capacity + 1);
      if (!grown) abort();
      text = grown;
    }
    ssize_t got = read(fd, text + length, capacity - length);
    if (got == -1 && errno == EINTR) continue;
    if (got <= 0) break;
    length += (size_t)got;
  }
  close(fd);
  *count = 0;
  *pids = NULL;
  if (!text) return 0;
  text[length] = '\0';
  size_t lines = 0;
  for (size_t i = 0; i < length; i++) lines += text[i] == '\n';
  *pids = calloc(lines + 1, sizeof **pids);
  if (!*pids) abort();
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
    (*pids)[(*count)++] = (pid_t)atoi(line);
  free(text);
  return 0;
}

static int contains(const pid_t *pids, size_t count, pid_t pid) {
  for (size_t i = 0; i < count; i++)
    if (pids[i] == pid) return 1;
  return 0;
}

static int signal_members(struct run *run, int sig, int *reached) {
  pid_t *first = NULL, *second = NULL;
  size_t first_count = 0, second_count = 0;
  if (read_members(run, &first, &first_count) == -1) return errno;
  int *pidfds = calloc(first_count + 1, sizeof *pidfds);
  if (!pidfds) abort();
  for (size_t i = 0; i < first_count; i++) pidfds[i] = pidfd_open(first[i]);
  read_members(run, &second, &second_count);
  for (size_t i = 0; i < first_count; i++) {
    if (pidfds[i] == -1) continue;
    if (contains(second, second_count, first[i]) && pidfd_signal(pidfds[i], 0, 0) == 0 &&
        pidfd_signal(pidfds[i], sig, 0) == 0)
      (*reached)++;
    close(pidfds[i]);
  }
  free(pidfds);
  free(first);
  free(second);
  return *reached > 0 ? 0 : ESRCH;
}

/* Signals the run's processes: its cgroup's members, or its process group. */
int run_signal(struct run *run, int sig, int *reached) {
  *reached = 0;
  if (run->cgroup != NULL) {
    if (sig == SIGKILL) {
      /* cgroup.kill (Linux 5.14) kills every member at once, forks racing it included. */
      pid_t *members = NULL;
      size_t count = 0;
      if (read_members(run, &members, &count) == 0) free(members);
      if (count == 0) return ESRCH;
      int fd = open_in_cgroup(run, "cgroup.kill", O_WRONLY);
      if (fd != -1) {
        ssize_t wrote = write(fd, "1", 1);
        close(fd);
        if (wrote == 1) {
          *reached = (int)count;
          return 0;
        }
      }
    }
    return signal_members(run, sig, reached);
  }
  if (run->leaderless) return signal_leaderless(run, sig, reached);
  if (run->pidfd == -1) return ESRCH;
  if (pidfd_signal(run->pidfd, sig, PIDFD_SIGNAL_PROCESS_GROUP) == -1) return errno;
  *reached = 1;
  return 0;
}

/*
 * SIGKILL to every run with a process left (cgroup.kill, or its process group through its
 * pidfd), as the keeper quits: what the manager gave up waiting for never outlives the
 * keeper unknown. How many runs had some left.
 */
size_t runs_kill_left(void) {
  size_t killed = 0;
  for (struct run *run = runs; run; run = run->next) {
    int reached = 0;
    if ((run->alive || !run->empty) && run_signal(run, SIGKILL, &reached) == 0 && reached > 0)
      killed++;
  }
  return killed;
}

/*
 * Takes on a daemon left by a previous keeper (killed): not our child, so followed by a
 * pidfd (opened, then the start time checked: the pid was not reused) and its cgroup; with
 * no cgroup and its main process gone, by what is left of its process group, if
 * `group_uid` (the run's uid) is given (see find_members).
 */
int run_adopt(struct run *run, pid_t pid, unsigned long long start_ticks, const char *cgroup,
              long long group_uid) {
  run->foreign = 1;
  int directory = cgroup[0] != '\0' ? open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (directory != -1) {
    close(directory);
    if (!(run->cgroup = strdup(cgroup))) abort();
  }
  if (pid > 0) {
    int pidfd = pidfd_open(pid);
    if (pidfd != -1 && start_ticks_of(pid) == start_ticks && !pidfd_ended(pidfd)) {
      run->pid = pid;
      run->pidfd = pidfd;
      run->start_ticks = start_ticks;
      run->alive = 1;
      if (run->cgroup == NULL) run->group_uid = group_uid;
    } else if (pidfd != -1)
      close(pidfd);
  }
  /* Its number used by no process at all, or by the run's own main process ended and not
   * reaped yet: not handed out again, so maybe still its group's. */
  unsigned long long ticks_now = pid > 0 ? start_ticks_of(pid) : 0;
  if (!run->alive && run->cgroup == NULL && group_uid >= 0 && pid > 0 && start_ticks > 0 &&
      (ticks_now == 0 || ticks_now == start_ticks)) {
    run->pid = pid;
    run->start_ticks = start_ticks;
    run->uid = group_uid;
    run->leaderless = 1;
    if (find_members(run) == 0) return -1;
  }
  if (!run->alive && run->cgroup == NULL && !run->leaderless) return -1;
  if (!run->alive && run->cgroup != NULL && scope_is_empty(run)) return -1;
  run->exec_state = 1;
  if (!run->alive) {
    run->exit_code = -1;
    run->exited_ms = now_ms();
    check_scope(run);
  } else
    set_polled(run, 1);
  return 0;
}
