/*
 * A user controls the paths of their tree, and may point them anywhere: at
 * /proc/PID/root/... of a process in their own mount namespace (where they mounted what
 * they like, a FUSE file system that never answers for instance), or /proc/self/fd/N,
 * which as seen from the manager is one of the manager's own descriptors. Such "magic
 * links" of /proc do not name a path: following one jumps to whatever the descriptor or
 * root is. openat2(2) with RESOLVE_NO_MAGICLINKS refuses them (ELOOP) and still follows
 * ordinary symlinks, which the kernel checks against the user's permissions since the
 * thread runs as the user. (Linux 5.6 and later.)
 *
 * A user may also mount a FUSE file system of their own in the manager's namespace
 * (fusermount3 is setuid), over a directory or a file they own, and never answer it: a
 * thread that asked it anything waits beyond SIGKILL, and a manager holding such a
 * thread cannot exit. So a path is never walked into such a mount (user_mounts.c). The
 * first try adds RESOLVE_NO_XDEV: a path that crosses no mount (most) costs one openat2
 * as before. One that does (EXDEV) is walked again a component at a time; where one
 * crosses a mount, it is opened O_PATH|O_NOFOLLOW without RESOLVE_NO_XDEV, which steps
 * onto the mount's root without asking its file system anything (the lookup is the
 * parent file system's; path_lookupat then stops), and the mount is judged on that
 * descriptor before anything is looked up in it. A symlink that leads off the mount is
 * read and its target walked the same way (the kernel already let it be followed: its
 * may_follow_link check comes before the jump that failed with EXDEV).
 */
#define _GNU_SOURCE
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "user_mounts.h"

/** Symlinks followed at most in one walk, as the kernel's MAXSYMLINKS. */
enum { MAX_LINKS = 40 };

static int open2(int dirfd, const char *path, int flags, unsigned mode, uint64_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = resolve;
  long fd;
  do fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd == -1 && errno == EINTR);
  return fd == -1 ? -errno : (int)fd;
}

/** A mount root reached by `onto` (O_PATH) opened with `flags`, through its own /proc link. */
static int reopen(int onto, int flags) {
  if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return -EEXIST;
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", onto);
  // The manager's own descriptor: no path the user could change is walked again.
  return open2(AT_FDCWD, link, flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW), 0, 0);
}

/**
 * Steps from `dir` onto the mount over `name` (which RESOLVE_NO_XDEV refused) and judges
 * it: an O_PATH descriptor of the mount's root, or -errno (-EREMOTE: a user's FUSE).
 */
static int step_onto_mount(int dir, const char *name, uint64_t resolve) {
  int fd = open2(dir, name, O_PATH | O_NOFOLLOW, 0, resolve);
  if (fd < 0) return fd;
  int error = dm_check_mount(fd);
  if (error == 0) return fd;
  close(fd);
  return error;
}

/** Replaces *rest by `target` then what followed the link; *dir by "/" for an absolute one. */
static int splice_link(int link, char **rest, const char *after, int *dir) {
  char target[PATH_MAX];
  ssize_t length = readlinkat(link, "", target, sizeof target - 1);
  if (length < 0) return -errno;
  if (length == 0) return -ENOENT;
  target[length] = '\0';
  char *joined;
  if (asprintf(&joined, "%s%s%s", target, *after != '\0' ? "/" : "", after) < 0) return -ENOMEM;
  free(*rest);
  *rest = joined;
  if (target[0] == '/') {
    int root = open2(AT_FDCWD, "/", O_PATH | O_DIRECTORY, 0, 0);
    if (root < 0) return root;
    close(*dir);
    *dir = root;
  }
  return 0;
}

static bool is_link(int fd) {
  struct statx stx;
  return statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_TYPE, &stx) == 0 &&
         S_ISLNK(stx.stx_mode);
}

/** The walk a component at a time, after RESOLVE_NO_XDEV said the path crosses a mount. */
static int walk(int dirfd, const char *path, int flags, unsigned mode, uint64_t resolve) {
  int dir = open2(path[0] == '/' ? AT_FDCWD : dirfd, path[0] == '/' ? "/" : ".",
                  O_PATH | O_DIRECTORY, 0, 0);
  char *rest = strdup(path);
  if (rest == NULL && dir >= 0) close(dir);
  if (rest == NULL) return -ENOMEM;
  int links = 0, result = 0;
  size_t at = 0;
  while (dir >= 0 && result == 0) {
    while (rest[at] == '/') at++;
    if (rest[at] == '\0') {  // "/" or "dir/": what is left is the directory itself
      result = open2(dir, ".", flags, mode, resolve | RESOLVE_NO_XDEV);
      break;
    }
    size_t end = at + strcspn(rest + at, "/"), next = end;
    while (rest[next] == '/') next++;
    bool last = rest[next] == '\0';
    // The last component keeps its trailing slashes: they mean a directory, as for the kernel.
    char *name = strndup(rest + at, last ? next - at : end - at);
    if (name == NULL) {
      result = -ENOMEM;
      break;
    }
    int fd = last ? open2(dir, name, flags, mode, resolve | RESOLVE_NO_XDEV)
                  : open2(dir, name, O_PATH, 0, resolve | RESOLVE_NO_XDEV);
    if (fd == -EXDEV) {
      // A mount over NAME, or a symlink whose target leaves this mount.
      int node = open2(dir, name, O_PATH | O_NOFOLLOW, 0, resolve | RESOLVE_NO_XDEV);
      bool follow = node >= 0 && is_link(node) && !(last && (flags & O_NOFOLLOW));
      if (node == -EXDEV) {
        node = step_onto_mount(dir, name, resolve);
        fd = node < 0 || !last ? node : reopen(node, flags);
        if (last && node >= 0) close(node);
      } else if (follow && (resolve & RESOLVE_NO_SYMLINKS)) {
        fd = -ELOOP;
      } else if (follow && ++links > MAX_LINKS) {
        fd = -ELOOP;
      } else if (follow) {
        char *after = strdup(rest + next);
        int error = after == NULL ? -ENOMEM : splice_link(node, &rest, after, &dir);
        free(after);
        close(node);
        free(name);
        at = 0;
        if (error != 0) result = error;
        continue;
      } else {
        fd = node;  // it changed meanwhile: the same mount's, as the retry found it
        if (last && node >= 0) {
          close(node);
          fd = open2(dir, name, flags, mode, resolve | RESOLVE_NO_XDEV);
        }
      }
    }
    free(name);
    if (fd < 0 || last) {
      result = fd;
      break;
    }
    close(dir);
    dir = fd;
    at = next;
  }
  if (dir < 0) result = dir;
  else close(dir);
  free(rest);
  return result;
}

int dm_open_nomagic(int dirfd, const char *path, int flags, unsigned mode, uint64_t resolve) {
  resolve |= RESOLVE_NO_MAGICLINKS;
  int fd = open2(dirfd, path, flags, mode, resolve | RESOLVE_NO_XDEV);
  // A caller's own scope (RESOLVE_BENEATH ...) keeps its EXDEV: only the crossing is walked.
  if (fd != -EXDEV || (resolve & (RESOLVE_NO_XDEV | RESOLVE_BENEATH | RESOLVE_IN_ROOT))) return fd;
  return walk(dirfd, path, flags, mode, resolve);
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
