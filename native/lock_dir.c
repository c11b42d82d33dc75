/*
 * lockDir: one instance per directory, enforced with flock(2) on `.lock` in it, a file of
 * the directory's user (this thread runs as that user) with mode 0600: a lock on the
 * directory itself could be taken by anyone allowed to open it, and keep the owner's
 * daemons from being loaded. When another process holds the lock, its pid is looked up
 * in /proc/locks by the file's device and inode, so the refusal can name it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "user_ops.h"

/**
 * The pid of the FLOCK holder of (dev, ino), or 0. Lines read like
 * `3: FLOCK  ADVISORY  WRITE 1234 08:01:56789 0 EOF` (device in hex; a waiting
 * request has `->` after the number and is skipped), see fs/locks.c lock_get_status.
 */
int dm_lock_holder(dev_t dev, ino_t ino) {
  FILE *locks = fopen("/proc/locks", "re");
  if (locks == NULL) return 0;
  char line[256];
  int found = 0;
  while (found == 0 && fgets(line, sizeof line, locks) != NULL) {
    char kind[16];
    int pid;
    unsigned major_number, minor_number;
    unsigned long inode;
    if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%lu", kind, &pid, &major_number, &minor_number,
               &inode) != 5)
      continue;
    if (strcmp(kind, "FLOCK") == 0 && major_number == major(dev) && minor_number == minor(dev) &&
        inode == ino)
      found = pid;
  }
  fclose(locks);
  return found;
}

void dm_lock_dir(const struct dm_op_args *args, struct dm_op_result *result) {
  const char *name;
  int parent = dm_open_parent(args->path, &name);
  if (parent < 0) return (void)dm_fail(result, parent, DM_STEP_PARENT);
  int dir = dm_open_nomagic(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK, 0, 0);
  close(parent);
  if (dir < 0) return (void)dm_fail(result, dir, DM_STEP_FINAL);
  int fd = dm_open_nomagic(dir, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0600, 0);
  int error = 0;
  close(dir);
  if (fd < 0) return (void)dm_fail(result, fd, DM_STEP_FINAL);
  struct stat stat;
  if (fstat(fd, &stat) == -1 || !S_ISREG(stat.st_mode) || stat.st_uid != geteuid()) {
    // Not a file of the directory's user (root planted one): not a lock to trust.
    close(fd);
    return (void)dm_fail(result, -EPERM, DM_STEP_FINAL);
  }
  // Readable by others, it could be locked by them: the user's own file is made private.
  if ((stat.st_mode & 077) != 0 && fchmod(fd, 0600) == -1) {
    error = errno;
    close(fd);
    return (void)dm_fail(result, -error, DM_STEP_FINAL);
  }
  int locked;
  do locked = flock(fd, LOCK_EX | LOCK_NB);
  while (locked == -1 && errno == EINTR);
  if (locked == -1) {
    error = errno;
    if (error == EWOULDBLOCK) result->holder_pid = dm_lock_holder(stat.st_dev, stat.st_ino);
    close(fd);
    dm_fail(result, -error, DM_STEP_FINAL);
    return;
  }
  result->fd = fd;
}
