/*
 * Spawning a daemon: fork straight into its cgroup, then, in the child, become the daemon.
 *
 * The request (see src/keeper/README.md) carries everything decided by the manager:
 *   uid=, gid=, groups=   the user to become (absent: stay who we are)
 *   owner=                the uid of the daemon's owner, kept with the run and reported
 *   limits=               nofile=N,nproc=N,core=N,as=N, applied as soft and hard limits
 *   umask=                octal
 *   dir=                  entered as the daemon's user, never as root
 *   start=                one line of shell, run by /bin/sh -c as the original did
 *   arg=                  (repeated) the words of a start line that needs no shell: run
 *                         directly (found in the daemon's PATH, as the user), falling back
 *                         to /bin/sh -c when the program cannot be executed that way
 *   env=                  (repeated) NAME=value, the daemon's whole environment
 *   cgroup=               the daemon's cgroup2 directory: clone3(CLONE_INTO_CGROUP) puts
 *                         the child there at birth, with no migration to wait for
 *   join=                 (repeated) a cgroup v1 file to write the child into (controllers
 *                         a limit or the fair share needs): its `tasks`, by which a single
 *                         thread moves itself with no wait for an RCU grace period
 *                         (`cgroup.procs` works too, at that cost: a manager before)
 *   stdout=pipe|null      the daemon's output pipe (one per daemon, for its whole life) or
 *                         /dev/null; stderr goes to the same place
 *   banner=               a line written into the output pipe right before the fork, so
 *                         the log shows it between the previous run's output and this one's
 *   listen=               (repeated) stored descriptors passed as 3, 4, ... (LISTEN_PID is
 *                         set here, to the pid the program will have)
 *   stdin=                a stored descriptor passed as standard input (the FastCGI way)
 *
 * Privileges are dropped in the order s6 and runit use: bounding set (needs root), then
 * supplementary groups, gid, uid; then what setuid leaves: the inheritable and ambient
 * capability sets; then no_new_privs, so no setuid program or file capability gives
 * anything back. Nothing a user wrote (the environment) is used before the switch.
 * Errors go to the daemon's output (its log) prefixed "daemon-manager:", and to the
 * keeper through a close-on-exec pipe, which the manager turns into dmctl's answer.
 */
#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_GROUPS 1024
#define MAX_LIST 2048

struct plan {
  const char *uid, *gid, *groups, *limits, *umask, *dir, *start, *cgroup, *stdout_kind,
      *banner, *stdin_name, *owner;
  const char *args[MAX_LIST + 1];
  size_t arg_count;
  char *env[MAX_LIST + 2];
  size_t env_count;
  const char *joins[16];
  size_t join_count;
  int listen_fds[MAX_MESSAGE_FDS];
  size_t listen_count;
};

static int parse_number(const char *text, int base, unsigned long *out);

static const char *value_of(const char *field, const char *key) {
  size_t length = strlen(key);
  return strncmp(field, key, length) == 0 && field[length] == '=' ? field + length + 1 : NULL;
}

static int read_plan(struct message *request, struct plan *plan, char *error, size_t size) {
  /* The scalars only: the lists (32 KB) are read up to their counts (see receive()). */
  memset(plan, 0, offsetof(struct plan, args));
  plan->arg_count = plan->env_count = plan->join_count = plan->listen_count = 0;
  plan->dir = "/";
  plan->stdout_kind = "null";
  for (size_t i = 3; i < request->count; i++) {
    const char *field = request->fields[i], *value;
    const char **single[] = {&plan->uid,   &plan->gid,    &plan->groups,      &plan->limits,
                             &plan->umask, &plan->dir,    &plan->start,       &plan->cgroup,
                             &plan->banner, &plan->stdout_kind, &plan->stdin_name,
                             &plan->owner};
    const char *keys[] = {"uid",   "gid",    "groups", "limits", "umask", "dir",
                          "start", "cgroup", "banner", "stdout", "stdin", "owner"};
    int known = 0;
    for (size_t k = 0; k < sizeof keys / sizeof *keys && !known; k++)
      if ((value = value_of(field, keys[k]))) *single[k] = value, known = 1;
    if (known) continue;
    if ((value = value_of(field, "arg")) && plan->arg_count < MAX_LIST)
      plan->args[plan->arg_count++] = value;
    else if ((value = value_of(field, "env")) && plan->env_count < MAX_LIST)
      plan->env[plan->env_count++] = (char *)value;
    else if ((value = value_of(field, "join")) && plan->join_count < 16)
      plan->joins[plan->join_count++] = value;
    else if ((value = value_of(field, "listen"))) {
      int fd = store_get(value);
      if (fd == -1 || plan->listen_count == MAX_MESSAGE_FDS) {
        snprintf(error, size, "no stored descriptor %s", value);
        return -1;
      }
      plan->listen_fds[plan->listen_count++] = fd;
    } else {
      snprintf(error, size, "unknown spawn field %.40s", field);
      return -1;
    }
  }
  if (!plan->start) {
    snprintf(error, size, "no start line");
    return -1;
  }
  unsigned long number;
  if ((plan->uid && !parse_number(plan->uid, 10, &number)) ||
      (plan->owner && !parse_number(plan->owner, 10, &number))) {
    snprintf(error, size, "bad uid or owner");
    return -1;
  }
  return 0;
}

/* In the child: say why it cannot become the daemon, to its log and to the keeper. */
static void __attribute__((noreturn)) fail(int errfd, int status, const char *what,
                                           const char *detail) {
  char text[600];
  int length = snprintf(text, sizeof text, "%s%s%s: %s", what, detail ? " " : "",
                        detail ? detail : "", strerror(errno));
  dprintf(2, "daemon-manager: %s\n", text);
  if (length > 0 && write(errfd, text, (size_t)length) < 0) _exit(status);
  _exit(status);
}

static int parse_number(const char *text, int base, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long value = strtoul(text, &end, base);
  if (errno != 0 || end == text || *end != '\0' || value > 0xfffffffful) return 0;
  *out = value;
  return 1;
}

static void drop_privileges(const struct plan *plan, int errfd) {
  unsigned long uid, gid;
  if (!plan->uid) return;
  if (!parse_number(plan->uid, 10, &uid) || !parse_number(plan->gid ? plan->gid : "", 10, &gid)) {
    errno = EINVAL;
    fail(errfd, 126, "bad user or group id", plan->uid);
  }
  gid_t groups[MAX_GROUPS];
  size_t count = 0;
  char *list = strdup(plan->groups ? plan->groups : ""), *save = NULL;
  for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    unsigned long value;
    if (count == MAX_GROUPS || !parse_number(item, 10, &value)) {
      errno = EINVAL;
      fail(errfd, 126, "bad group list", plan->groups);
    }
    groups[count++] = (gid_t)value;
  }
  if (uid != 0)
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 && errno != EINVAL)
        fail(errfd, 126, "cannot drop the capability bounding set", NULL);
  if (setgroups(count, groups) == -1) fail(errfd, 126, "cannot set groups", NULL);
  if (setresgid(gid, gid, gid) == -1) fail(errfd, 126, "cannot set gid", plan->gid);
  if (setresuid(uid, uid, uid) == -1) fail(errfd, 126, "cannot set uid", plan->uid);
  if (uid == 0) return; /* root asked to run a daemon as root: it keeps root's powers. */
  if (getuid() != uid || geteuid() != uid || getgid() != gid) {
    errno = EPERM;
    fail(errfd, 126, "the switch of user did not happen", plan->uid);
  }
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &header, data) == -1) fail(errfd, 126, "cannot clear capabilities", NULL);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 && errno != EINVAL)
    fail(errfd, 126, "cannot clear ambient capabilities", NULL);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
    fail(errfd, 126, "cannot set no_new_privs", NULL);
}

static void apply_limits(const char *text, int errfd) {
  static const struct {
    const char *name;
    int resource;
  } names[] = {{"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC}, {"core", RLIMIT_CORE},
               {"as", RLIMIT_AS}};
  if (!text) return;
  char *list = strdup(text), *save = NULL;
  for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    char *equals = strchr(item, '=');
    int resource = -1;
    if (equals) {
      *equals = '\0';
      for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(item, names[i].name) == 0) resource = names[i].resource;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long value = equals ? strtoull(equals + 1, &end, 10) : 0;
    if (resource == -1 || errno != 0 || !end || *end != '\0') {
      errno = EINVAL;
      fail(errfd, 126, "bad limit", item);
    }
    struct rlimit limit = {(rlim_t)value, (rlim_t)value};
    if (setrlimit(resource, &limit) == -1) fail(errfd, 126, "cannot set limit", item);
  }
  free(list);
}

static void join_cgroups(const struct plan *plan, int errfd) {
  for (size_t i = 0; i < plan->join_count; i++) {
    int fd = open(plan->joins[i], O_WRONLY | O_CLOEXEC);
    if (fd == -1 || write(fd, "0\n", 2) != 2) fail(errfd, 125, "cannot join cgroup", plan->joins[i]);
    close(fd);
  }
}

/* Moves the descriptors to pass to 3, 4, ... (and stdin), out of each other's way. */
static void place_descriptors(const struct plan *plan, int *errfd, int in_fd) {
  int high = 3 + (int)plan->listen_count + 16;
  int moved[MAX_MESSAGE_FDS];
  int err = fcntl(*errfd, F_DUPFD_CLOEXEC, high + MAX_MESSAGE_FDS);
  if (err != -1) *errfd = err;
  for (size_t i = 0; i < plan->listen_count; i++)
    if ((moved[i] = fcntl(plan->listen_fds[i], F_DUPFD_CLOEXEC, high)) == -1)
      fail(*errfd, 127, "cannot pass a listening socket", NULL);
  if (in_fd != -1 && dup2(in_fd, 0) == -1) fail(*errfd, 127, "cannot pass stdin", NULL);
  for (size_t i = 0; i < plan->listen_count; i++)
    if (dup2(moved[i], 3 + (int)i) == -1) fail(*errfd, 127, "cannot pass a listening socket", NULL);
  /*
   * Everything else the keeper holds (other daemons' pipes and sockets, its own socket,
   * the manager's connection, every user's `.lock`) is closed now, not only marked
   * close-on-exec: the chdir and the exec that follow may wait on the user's own file
   * system (a FUSE mount that never answers), and a process stuck there kept them all open
   * until it returned, so that no later manager could start (an outside review). The exec
   * error pipe alone stays, and closes at the exec.
   */
  int first = 3 + (int)plan->listen_count;
  if (*errfd < first) fail(*errfd, 127, "cannot move the exec error pipe", NULL);
  if ((*errfd > first && syscall(SYS_close_range, first, *errfd - 1, 0) == -1) ||
      syscall(SYS_close_range, *errfd + 1, ~0U, 0) == -1)
    for (int fd = first; fd < 65536; fd++)
      if (fd != *errfd) close(fd);
}

/*
 * execvpe without its surprises: the daemon's PATH, and nothing but ENOENT-like misses.
 * A path that cannot be run is said, as a `dir=` that cannot be entered is: the shell the
 * rest falls back to (a script with no #! line, a builtin) said "not found" in the log
 * alone, and the start was answered "started" (an outside review, 75a, F3).
 */
static void exec_direct(const struct plan *plan, char **env, int errfd) {
  const char *name = plan->args[0];
  if (strchr(name, '/')) {
    execve(name, (char *const *)plan->args, env);
    if (errno == ENOEXEC) return;
    if (errno == ENOENT && access(name, F_OK) == 0)
      fail(errfd, 127, "cannot run the #! interpreter of", name);
    fail(errfd, errno == ENOENT ? 127 : 126, "cannot run", name);
  }
  const char *path = "/usr/bin:/bin";
  for (size_t i = 0; env[i]; i++)
    if (strncmp(env[i], "PATH=", 5) == 0) path = env[i] + 5;
  char candidate[4096];
  for (const char *cursor = path;;) {
    const char *colon = strchr(cursor, ':');
    size_t length = colon ? (size_t)(colon - cursor) : strlen(cursor);
    if (length == 0) length = 1, cursor = "."; /* An empty PATH entry is the directory. */
    if (length + strlen(name) + 2 <= sizeof candidate) {
      memcpy(candidate, cursor, length);
      candidate[length] = '/';
      strcpy(candidate + length + 1, name);
      execve(candidate, (char *const *)plan->args, env);
    }
    if (!colon) return;
    cursor = colon + 1;
  }
}

static void __attribute__((noreturn)) become_daemon(struct plan *plan, int errfd, int out_fd,
                                                    int in_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (setsid() == -1) fail(errfd, 125, "cannot start a session", NULL);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null == -1 || dup2(in_fd != -1 ? in_fd : null, 0) == -1 || dup2(out_fd, 1) == -1 ||
      dup2(out_fd, 2) == -1)
    fail(errfd, 125, "cannot set up standard descriptors", NULL);
  /* Before anything that may touch the user's file systems (see place_descriptors). */
  place_descriptors(plan, &errfd, in_fd);
  join_cgroups(plan, errfd);
  drop_privileges(plan, errfd);
  apply_limits(plan->limits, errfd);
  unsigned long mask = 022;
  if (plan->umask && !parse_number(plan->umask, 8, &mask)) {
    errno = EINVAL;
    fail(errfd, 126, "bad umask", plan->umask);
  }
  umask((mode_t)(mask & 0777));
  if (chdir(plan->dir) == -1) fail(errfd, 127, "cannot enter", plan->dir);
  char listen_pid[32];
  if (plan->listen_count > 0 || plan->stdin_name) {
    snprintf(listen_pid, sizeof listen_pid, "LISTEN_PID=%d", (int)getpid());
    plan->env[plan->env_count++] = listen_pid;
  }
  plan->env[plan->env_count] = NULL;
  if (plan->arg_count > 0) {
    plan->args[plan->arg_count] = NULL;
    exec_direct(plan, plan->env, errfd);
  }
  char *shell[] = {"/bin/sh", "-c", (char *)plan->start, NULL};
  execve(shell[0], shell, plan->env);
  fail(errfd, 127, "cannot run", shell[0]);
}

static pid_t clone_into(int cgroup_fd, int *pidfd) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_PIDFD | (cgroup_fd != -1 ? CLONE_INTO_CGROUP : 0);
  args.pidfd = (uint64_t)(uintptr_t)pidfd;
  args.exit_signal = SIGCHLD;
  args.cgroup = cgroup_fd != -1 ? (uint64_t)cgroup_fd : 0;
  return (pid_t)syscall(SYS_clone3, &args, sizeof args);
}

/* Writes the start banner without ever blocking the keeper (see output_pipe). */
static void write_banner(const struct run *run, const char *banner) {
  char name[400];
  snprintf(name, sizeof name, "outb:%s", run->id);
  int fd = store_get(name);
  if (fd == -1 || !banner) return;
  size_t length = strlen(banner);
  char *line = malloc(length + 2);
  if (!line) return;
  memcpy(line, banner, length);
  line[length] = '\n';
  if (write(fd, line, length + 1) != (ssize_t)(length + 1))
    keeper_log("warn", "%s: start banner not written (%s)", run->id,
               errno == EAGAIN ? "its output pipe is full" : strerror(errno));
  free(line);
}

int spawn_run(struct run *run, struct message *request, char *error, size_t size) {
  struct plan plan;
  if (read_plan(request, &plan, error, size) == -1) return -1;
  int out_fd = -1, in_fd = -1, own_null = -1;
  if (strcmp(plan.stdout_kind, "pipe") == 0) {
    int created = 0;
    out_fd = output_pipe(run->id, &created);
  } else
    out_fd = own_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (out_fd == -1) {
    snprintf(error, size, "cannot set up output: %s", strerror(errno));
    return -1;
  }
  if (plan.stdin_name && (in_fd = store_get(plan.stdin_name)) == -1) {
    snprintf(error, size, "no stored descriptor %s", plan.stdin_name);
    if (own_null != -1) close(own_null);
    return -1;
  }
  /* Open for the clone alone (see struct run). */
  int cgroup_fd = -1;
  if (plan.cgroup) {
    cgroup_fd = open(plan.cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgroup_fd == -1) {
      snprintf(error, size, "cannot open cgroup %s: %s", plan.cgroup, strerror(errno));
      if (own_null != -1) close(own_null);
      return -1;
    }
    if (!(run->cgroup = strdup(plan.cgroup))) abort();
  }
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) == -1) {
    snprintf(error, size, "cannot make a pipe: %s", strerror(errno));
    if (own_null != -1) close(own_null);
    if (cgroup_fd != -1) close(cgroup_fd);
    return -1;
  }
  if (strcmp(plan.stdout_kind, "pipe") == 0) write_banner(run, plan.banner);
  int pidfd = -1;
  pid_t pid = clone_into(cgroup_fd, &pidfd);
  if (pid == -1 && (errno == ENOSYS || errno == E2BIG) && cgroup_fd == -1) {
    pid = fork();
    if (pid > 0) pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  }
  if (pid == 0) {
    /*
     * Recorded by the child itself, before anything: written by the keeper after the fork,
     * a kill of the keeper right after it left the run's process with no record.
     */
    run_record_process(run, getpid(), start_ticks_of(getpid()));
    become_daemon(&plan, errpipe[1], out_fd, in_fd);
  }
  int saved = errno;
  close(errpipe[1]);
  if (own_null != -1) close(own_null);
  if (cgroup_fd != -1) close(cgroup_fd);
  if (pid == -1) {
    close(errpipe[0]);
    snprintf(error, size, "cannot fork: %s", strerror(saved));
    return -1;
  }
  fcntl(errpipe[0], F_SETFL, O_NONBLOCK);
  run->pid = pid;
  run->pidfd = pidfd;
  run->alive = 1;
  /* The uid the child becomes (it exits before its exec if the switch fails), or ours. */
  unsigned long number;
  run->uid = plan.uid && parse_number(plan.uid, 10, &number) ? (long long)number
                                                             : (long long)geteuid();
  run->owner_uid =
      plan.owner && parse_number(plan.owner, 10, &number) ? (long long)number : -1;
  /* The groups it becomes with that uid, as drop_privileges sets them (or it exits). */
  if (plan.uid && plan.gid && parse_number(plan.gid, 10, &number)) {
    run->gid = (long long)number;
    if (!(run->groups = strdup(plan.groups ? plan.groups : ""))) abort();
  }
  run->spawned_ms = now_ms();
  /* Our child cannot be reaped, so its pid not reused, before we read its start time. */
  run->start_ticks = start_ticks_of(pid);
  run_track_pid(run);
  run_watch_errpipe(run, errpipe[0]);
  return 0;
}
