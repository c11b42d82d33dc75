/*
 * dm-launch: becomes a daemon, in one exec instead of a chain of shell, setpriv, prlimit
 * and shell again. The manager (root, or a user in personal mode) runs it with a fixed
 * environment and this command line, every field present (empty when unused):
 *
 *   dm-launch CGROUP_PROCS UID GID GROUPS LIMITS UMASK DIR START
 *
 *   CGROUP_PROCS  the daemon's cgroup.procs file, joined first so every process of the
 *                 daemon is born in its cgroup ("" for none)
 *   UID GID       the user to become ("-" to stay who we are)
 *   GROUPS        that user's supplementary gids, comma-separated
 *   LIMITS        nofile=N,nproc=N,core=N,as=N: applied as soft and hard limits, after
 *                 the switch, so they can only lower what the manager has
 *   UMASK         the daemon's file-mode creation mask, in octal (the manager's own is 077)
 *   DIR           entered as the daemon's user, never as root
 *   START         one line of shell, run by /bin/sh -c as the original did
 *
 * The daemon's environment arrives on descriptor 3 (NAME=value lines, then an empty line)
 * and is used only
 * for the final exec: nothing a user wrote is seen by this program while it is root
 * (a PATH or LD_PRELOAD there would choose root's code). Errors go to stderr, which is
 * the daemon's log, prefixed "daemon-manager:"; the exit status says which step failed
 * (125 cgroup, 126 privileges or limits, 127 directory or exec).
 *
 * Privileges are dropped in the order s6 and runit use: bounding set (needs root), then
 * supplementary groups, gid, uid; then what setuid leaves: the inheritable and ambient
 * capability sets; then no_new_privs, so no setuid program or file capability gives
 * anything back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_GROUPS 1024
#define MAX_ENVIRONMENT (256 * 1024)
#define MAX_VARIABLES 2048

static void fail(int status, const char *what, const char *detail) {
  dprintf(2, "daemon-manager: %s%s%s: %s\n", what, detail ? " " : "", detail ? detail : "",
          strerror(errno));
  _exit(status);
}

static int parse_id(const char *text, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long value = strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value > 0xfffffffful) return 0;
  *out = value;
  return 1;
}

static void join_cgroup(const char *procs) {
  if (procs[0] == '\0') return;
  int fd = open(procs, O_WRONLY | O_CLOEXEC);
  if (fd == -1) fail(125, "cannot join cgroup", procs);
  if (dprintf(fd, "%d\n", (int)getpid()) < 0) fail(125, "cannot join cgroup", procs);
  close(fd);
}

static void drop_privileges(const char *uid_text, const char *gid_text, const char *groups_text) {
  unsigned long uid, gid;
  if (strcmp(uid_text, "-") == 0) return;
  if (!parse_id(uid_text, &uid) || !parse_id(gid_text, &gid)) {
    errno = EINVAL;
    fail(126, "bad user or group id", uid_text);
  }
  gid_t groups[MAX_GROUPS];
  size_t count = 0;
  char *list = strdup(groups_text), *save = NULL;
  for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    unsigned long value;
    if (count == MAX_GROUPS || !parse_id(item, &value)) {
      errno = EINVAL;
      fail(126, "bad group list", groups_text);
    }
    groups[count++] = (gid_t)value;
  }
  if (uid != 0) {
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 && errno != EINVAL)
        fail(126, "cannot drop the capability bounding set", NULL);
  }
  if (setgroups(count, groups) == -1) fail(126, "cannot set groups", NULL);
  if (setresgid(gid, gid, gid) == -1) fail(126, "cannot set gid", gid_text);
  if (setresuid(uid, uid, uid) == -1) fail(126, "cannot set uid", uid_text);
  if (uid == 0) return; /* root asked to run a daemon as root: it keeps root's powers. */
  if (getuid() != uid || geteuid() != uid || getgid() != gid) {
    errno = EPERM;
    fail(126, "the switch of user did not happen", uid_text);
  }
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &header, data) == -1) fail(126, "cannot clear capabilities", NULL);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 && errno != EINVAL)
    fail(126, "cannot clear ambient capabilities", NULL);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) fail(126, "cannot set no_new_privs", NULL);
}

static void apply_limits(const char *limits_text) {
  static const struct { const char *name; int resource; } names[] = {
      {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC}, {"core", RLIMIT_CORE}, {"as", RLIMIT_AS}};
  char *list = strdup(limits_text), *save = NULL;
  for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    char *equals = strchr(item, '=');
    int resource = -1;
    if (equals) {
      *equals = '\0';
      for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(item, names[i].name) == 0) resource = names[i].resource;
    }
    char *end;
    errno = 0;
    unsigned long long value = equals ? strtoull(equals + 1, &end, 10) : 0;
    if (resource == -1 || errno != 0 || *end != '\0') {
      errno = EINVAL;
      fail(126, "bad limit", item);
    }
    struct rlimit limit = {(rlim_t)value, (rlim_t)value};
    if (setrlimit(resource, &limit) == -1) fail(126, "cannot set limit", item);
  }
  free(list);
}

static void apply_umask(const char *text) {
  char *end;
  errno = 0;
  unsigned long mask = strtoul(text, &end, 8);
  if (errno != 0 || end == text || *end != '\0' || mask > 0777) {
    errno = EINVAL;
    fail(126, "bad umask", text);
  }
  umask((mode_t)mask);
}

/*
 * Reads NAME=value lines from descriptor 3 into a NULL-terminated environment. An empty
 * line ends them: waiting for end-of-file would wait for the manager's event loop to get
 * round to closing its end, which cost a respawn several milliseconds.
 */
static char **read_environment(void) {
  static char text[MAX_ENVIRONMENT + 1];
  static char *variables[MAX_VARIABLES + 1];
  size_t length = 0, count = 0;
  for (;;) {
    ssize_t got = read(3, text + length, MAX_ENVIRONMENT - length);
    if (got == -1 && errno == EINTR) continue;
    if (got == -1) {
      if (errno == EBADF) break; /* No environment given. */
      fail(127, "cannot read the environment", NULL);
    }
    if (got == 0 || (length += (size_t)got) == MAX_ENVIRONMENT) break;
    if ((length == 1 && text[0] == '\n') || (length >= 2 && text[length - 2] == '\n' && text[length - 1] == '\n'))
      break;
  }
  close(3);
  text[length] = '\0';
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line && count < MAX_VARIABLES;
       line = strtok_r(NULL, "\n", &save))
    if (strchr(line, '=') != NULL) variables[count++] = line;
  variables[count] = NULL;
  return variables;
}

int main(int argc, char **argv) {
  if (argc != 9) {
    dprintf(2, "usage: dm-launch CGROUP_PROCS UID GID GROUPS LIMITS UMASK DIR START\n");
    return 2;
  }
  if (dup2(1, 2) == -1) return 125; /* stderr joins stdout: the log keeps the order. */
  join_cgroup(argv[1]);
  drop_privileges(argv[2], argv[3], argv[4]);
  apply_limits(argv[5]);
  apply_umask(argv[6]);
  char **environment = read_environment();
  if (chdir(argv[7]) == -1) fail(127, "cannot enter", argv[7]);
  char *shell[] = {"/bin/sh", "-c", argv[8], NULL};
  execve(shell[0], shell, environment);
  fail(127, "cannot run", shell[0]);
  return 127;
}
