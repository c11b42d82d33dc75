/*
 * Which mounts the manager must not enter: FUSE file systems (`fuse`, `fuseblk`,
 * `fuse.*`) mounted by someone other than root. fusermount3 is setuid root and lets a
 * user mount one over any directory or file they own; its server can read a request and
 * never answer, and the calling thread then waits in request_wait_answer beyond SIGKILL
 * (Documentation/filesystems/fuse.rst, "Interrupting filesystem operations"). Only the
 * kernel knows who mounted: the mount's super options carry `user_id=N`, the uid that
 * fusermount3 (or whoever called mount(2)) gave it.
 *
 * The table is /proc/self/mountinfo, parsed once and kept, keyed by mount id. It is read
 * again when poll(2) on the open file says the namespace's mounts changed (POLLPRI, see
 * proc(5)), and when a mount id is not in it: a mount is visible to a lookup a moment
 * before its change is signalled, and reading mountinfo waits for that change to end.
 */
#define _GNU_SOURCE
#include "user_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct mount_row {
  uint64_t id;
  bool refused; /* a FUSE file system a user mounted */
  uid_t uid;
  char *point;
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static int mountinfo_fd = -1;
static struct mount_row *rows;
static size_t nrows;

static _Thread_local struct dm_user_mount last_refused;

const struct dm_user_mount *dm_last_user_mount(void) { return &last_refused; }

/** Undoes mountinfo's octal escapes (\040 for a space ...) in place. */
static void unescape(char *text) {
  char *out = text;
  for (char *in = text; *in != '\0'; in++) {
    if (in[0] == '\\' && in[1] >= '0' && in[1] <= '7' && in[2] >= '0' && in[2] <= '7' &&
        in[3] >= '0' && in[3] <= '7') {
      *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
      in += 3;
    } else *out++ = *in;
  }
  *out = '\0';
}

static bool is_fuse(const char *type) {
  return strcmp(type, "fuse") == 0 || strcmp(type, "fuseblk") == 0 || strncmp(type, "fuse.", 5) == 0;
}

/** The uid of `user_id=N` in FUSE super options; 0 when absent. */
static uid_t mounter_of(const char *options) {
  for (const char *at = options; at != NULL && *at != '\0';) {
    if (strncmp(at, "user_id=", 8) == 0) return (uid_t)strtoul(at + 8, NULL, 10);
    at = strchr(at, ',');
    if (at != NULL) at++;
  }
  return 0;
}

/** One mountinfo line: "ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] - TYPE SOURCE SUPER". */
static bool parse_row(char *line, struct mount_row *row) {
  char *save = NULL;
  char *id = strtok_r(line, " ", &save);
  for (int skip = 0; skip < 3 && id != NULL; skip++) strtok_r(NULL, " ", &save);
  char *point = strtok_r(NULL, " ", &save);
  if (id == NULL || point == NULL) return false;
  char *field;
  while ((field = strtok_r(NULL, " ", &save)) != NULL && strcmp(field, "-") != 0) continue;
  char *type = strtok_r(NULL, " ", &save);
  strtok_r(NULL, " ", &save);
  char *super = strtok_r(NULL, " \n", &save);
  if (type == NULL) return false;
  row->id = strtoull(id, NULL, 10);
  row->uid = is_fuse(type) ? mounter_of(super) : 0;
  row->refused = row->uid != 0;
  row->point = NULL;
  if (row->refused) {
    unescape(point);
    row->point = strdup(point);
  }
  return true;
}

static void drop_table(void) {
  for (size_t index = 0; index < nrows; index++) free(rows[index].point);
  free(rows);
  rows = NULL;
  nrows = 0;
}

/** Reads the whole of mountinfo again (lock held); 0 or -errno. */
static int read_table(void) {
  if (mountinfo_fd < 0) {
    mountinfo_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (mountinfo_fd < 0) return -errno;
  }
  if (lseek(mountinfo_fd, 0, SEEK_SET) == -1) return -errno;
  FILE *file = fdopen(dup(mountinfo_fd), "re");
  if (file == NULL) return -errno;
  drop_table();
  size_t capacity = 0;
  char *line = NULL;
  size_t room = 0;
  int error = 0;
  while (getline(&line, &room, file) != -1) {
    if (nrows == capacity) {
      capacity = capacity == 0 ? 64 : capacity * 2;
      struct mount_row *grown = realloc(rows, sizeof *rows * capacity);
      if (grown == NULL) {
        error = -ENOMEM;
        break;
      }
      rows = grown;
    }
    if (parse_row(line, &rows[nrows])) nrows++;
  }
  free(line);
  fclose(file);
  return error;
}

/** Whether the mounts changed since the table was read (a POLLPRI that poll then clears). */
static bool mounts_changed(void) {
  struct pollfd poll_fd = {.fd = mountinfo_fd, .events = POLLPRI};
  return mountinfo_fd < 0 || (poll(&poll_fd, 1, 0) == 1 && (poll_fd.revents & (POLLPRI | POLLERR)));
}

static const struct mount_row *find_row(uint64_t id) {
  for (size_t index = 0; index < nrows; index++)
    if (rows[index].id == id) return &rows[index];
  return NULL;
}

/**
 * The mount id of `fd`. statx with AT_STATX_DONT_SYNC asks FUSE for nothing (and nothing
 * of what it keeps is asked for: STATX_MNT_ID is the VFS's own); but a FUSE file system
 * refuses any getattr to a process it does not allow (no allow_other), so the id is then
 * read from /proc/self/fdinfo/N, which looks at the descriptor only.
 */
static int mount_id_of(int fd, uint64_t *id) {
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) == 0 &&
      (stx.stx_mask & STATX_MNT_ID)) {
    *id = stx.stx_mnt_id;
    return 0;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  FILE *file = fopen(path, "re");
  if (file == NULL) return -errno;
  char line[128];
  int error = -ENOENT;
  while (fgets(line, sizeof line, file) != NULL)
    if (strncmp(line, "mnt_id:", 7) == 0) {
      *id = strtoull(line + 7, NULL, 10);
      error = 0;
      break;
    }
  fclose(file);
  return error;
}

int dm_check_mount(int fd) {
  uint64_t id;
  int error = mount_id_of(fd, &id);
  if (error != 0) return error;
  pthread_mutex_lock(&table_lock);
  if (mounts_changed()) error = read_table();
  const struct mount_row *row = error == 0 ? find_row(id) : NULL;
  if (error == 0 && row == NULL) {
    error = read_table();
    if (error == 0) row = find_row(id);
  }
  if (row != NULL && row->refused) {
    last_refused.uid = row->uid;
    snprintf(last_refused.point, sizeof last_refused.point, "%s", row->point);
    error = -EREMOTE;
  }
  pthread_mutex_unlock(&table_lock);
  return error;
}

void dm_say_user_mount(char *out, size_t room, const char *what, const char *path) {
  const struct dm_user_mount *mount = dm_last_user_mount();
  snprintf(out, room,
           "%s %s: is on a FUSE file system mounted by uid %u at %s; the manager does not go there "
           "(its server could hold the manager beyond SIGKILL): unmount it",
           what, path, (unsigned)mount->uid, mount->point);
}
