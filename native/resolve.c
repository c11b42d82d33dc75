/*
 * A user controls the paths of their tree, and may point them anywhere: at
 * /proc/PID/root/... of a process in their own mount namespace (where they mounted what
 * they like, a FUSE file system that never answers for instance), or /proc/self/fd/N,
 * which as seen from the manager is one of the manager's own descriptors. Such "magic
 * links" of /proc do not name a path: following one jumps to whatever the descriptor or
 * root is. openat2(2) with RESOLVE_NO_MAGICLINKS refuses them (ELOOP) and still follows
 * ordinary symlinks, which the kernel checks against the user's permissions since the
 * thread runs as the user. (Linux 5.6 and later.)
 */
#define _GNU_SOURCE
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int dm_open_nomagic(int dirfd, const char *path, int flags, unsigned mode, uint64_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = resolve | RESOLVE_NO_MAGICLINKS;
  long fd;
  do fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd == -1 && errno == EINTR);
  return fd == -1 ? -errno : (int)fd;
}

int dm_open_parent(const char *path, const char **name) {
  if (path[0] != '/') return -EINVAL;
  const char *slash = strrchr(path, '/');
  const char *last = slash + 1;
  if (*last == '\0' || strcmp(last, ".") == 0 || strcmp(last, "..") == 0) return -EINVAL;
  *name = last;
  size_t length = (size_t)(slash - path);
  char *parent = malloc(length + 2);
  if (parent == NULL) return -ENOMEM;
  if (length == 0) parent[length++] = '/';
  else memcpy(parent, path, length);
  parent[length] = '\0';
  int fd = dm_open_nomagic(AT_FDCWD, parent, O_PATH | O_DIRECTORY, 0, 0);
  free(parent);
  return fd;
}
