/*
 * The log-file steps shared by the user-file operations (rotate) and the log pump
 * (rotate, reopen): paths resolved without magic links, no final symlink followed,
 * the opened file judged on its descriptor as src/logs/log-file.ts does.
 */
#define _GNU_SOURCE
#include "log_files.h"

#include "user_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int shift(int dir, const char *name, long from, long to) {
  char source[4096], target[4096];
  if (from == 0) snprintf(source, sizeof source, "%s", name);
  else snprintf(source, sizeof source, "%s.%ld", name, from);
  snprintf(target, sizeof target, "%s.%ld", name, to);
  if (renameat(dir, source, dir, target) == -1 && errno != ENOENT) return -errno;
  return 0;
}

int dm_rotate_path(const char *path, long keep, enum dm_step *step) {
  const char *name;
  int dir = dm_open_parent(path, &name);
  if (dir < 0) {
    *step = DM_STEP_PARENT;
    return dir;
  }
  *step = DM_STEP_FINAL;
  char oldest[4096];
  snprintf(oldest, sizeof oldest, "%s.%ld", name, keep);
  int error = 0;
  if (unlinkat(dir, oldest, 0) == -1 && errno != ENOENT) error = -errno;
  for (long index = keep - 1; index >= 1 && error == 0; index--)
    error = shift(dir, name, index, index + 1);
  if (error == 0) error = shift(dir, name, 0, 1);
  close(dir);
  return error;
}

int dm_open_log(const char *path, uid_t owner, int64_t *size, char *reason, size_t room) {
  const char *name;
  int dir = dm_open_parent(path, &name);
  if (dir == -EREMOTE) {
    dm_say_user_mount(reason, room, "log file", path);
    return -1;
  }
  if (dir < 0) {
    snprintf(reason, room, "cannot open log file %s (%s)", path, strerror(-dir));
    return -1;
  }
  int fd = dm_open_nomagic(dir, name, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY,
                           0640, 0);
  close(dir);
  if (fd < 0) {
    if (fd == -EREMOTE) dm_say_user_mount(reason, room, "log file", path);
    else if (fd == -ELOOP) snprintf(reason, room, "log file %s is a symbolic link; refused", path);
    else snprintf(reason, room, "cannot open log file %s (%s)", path, strerror(-fd));
    return -1;
  }
  struct stat stat;
  const char *refusal = NULL;
  if (fstat(fd, &stat) == -1) refusal = "cannot be examined";
  else if (!S_ISREG(stat.st_mode)) refusal = "is not a regular file";
  else if (stat.st_uid != owner) refusal = "is owned by another user";
  else if (stat.st_nlink != 1) refusal = "has more than one hard link";
  if (refusal != NULL) {
    snprintf(reason, room, "log file %s %s; refused", path, refusal);
    close(fd);
    return -1;
  }
  *size = stat.st_size;
  return fd;
}

void dm_stamp(char out[DM_STAMP_LENGTH + 1]) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm utc;
  gmtime_r(&now.tv_sec, &utc);
  char date[24];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(out, DM_STAMP_LENGTH + 1, "%.19s.%03dZ ", date, (int)(now.tv_nsec / 1000000));
}
