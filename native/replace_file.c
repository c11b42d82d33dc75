/*
 * replaceFile: a file's whole content replaced, as its owner, the way sudoedit writes
 * back: a new file beside it (created exclusively, never through a link, private until
 * its mode is set), written, synced, then renamed over the old one. A symlink planted in
 * its place is replaced, never followed; a reader sees the old file or the new, whole.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "user_ops.h"

void dm_replace_file(const struct dm_op_args *args, struct dm_op_result *result) {
  const char *name;
  int dir = dm_open_parent(args->path, &name);
  if (dir < 0) return (void)dm_fail(result, dir, DM_STEP_PARENT);
  unsigned char random[6];
  if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random) {
    close(dir);
    return (void)dm_fail(result, -EAGAIN, DM_STEP_NONE);
  }
  char temporary[300];
  snprintf(temporary, sizeof temporary, ".%.200s.%02x%02x%02x%02x%02x%02x", name, random[0],
           random[1], random[2], random[3], random[4], random[5]);
  int fd = openat(dir, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int error = errno;
    close(dir);
    return (void)dm_fail(result, -error, DM_STEP_FINAL);
  }
  int error = 0;
  for (size_t written = 0; written < args->length && error == 0;) {
    ssize_t count = write(fd, args->data + written, args->length - written);
    if (count == -1 && errno != EINTR) error = errno;
    else if (count > 0) written += (size_t)count;
  }
  if (error == 0 && fchmod(fd, (mode_t)(args->n1 & 07777)) == -1) error = errno;
  if (error == 0 && fsync(fd) == -1) error = errno;
  close(fd);
  if (error == 0 && renameat(dir, temporary, dir, name) == -1) error = errno;
  if (error != 0) unlinkat(dir, temporary, 0);
  close(dir);
  if (error != 0) dm_fail(result, -error, DM_STEP_FINAL);
}
