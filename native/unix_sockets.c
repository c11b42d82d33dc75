/*
 * bindUnix and connectUnix, as the user. bind(2) and connect(2) take a path, not a
 * directory descriptor: the parent directory is resolved with openat2 (no magic links,
 * resolve.c) to an O_PATH descriptor of the manager's own, and the call is given
 * `/proc/self/fd/N/NAME`. That names the manager's descriptor, which the kernel lets
 * the thread follow whatever its effective uid (same thread group; see
 * proc_fd_access_allowed), and cannot be redirected by the user. The thread is the
 * user, so the socket file is the user's, made where the user may write.
 *
 * bindUnix gives the file the group asked for (n3, -1 for none) with fchownat as the
 * user, so the kernel refuses a group the user is not a member of, then the mode (n2),
 * and returns the file's stat: its device and inode tell it apart from a file someone
 * puts there later. removeSocket unlinks a socket file of the user's only if it is that
 * file (n1, n2: device and inode), or, with no inode, a stale one nothing listens on.
 *
 * After bind, and before connect, the socket file is opened O_PATH (resolve.c: never
 * into a user's FUSE mount, which the name could be a mount point of) and used by that
 * descriptor: chown, chmod and stat of a name, or connect(2) to it, would walk into a
 * mount put over it meanwhile.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "user_ops.h"

/** Fills `address` with the /proc/self/fd path of the socket file open as `node`. */
static void address_of(int node, struct sockaddr_un *address) {
  memset(address, 0, sizeof *address);
  address->sun_family = AF_UNIX;
  snprintf(address->sun_path, sizeof address->sun_path, "/proc/self/fd/%d", node);
}

/** The socket file NAME of `dir`, opened O_PATH without following a symlink; fd or -errno. */
static int open_node(int dir, const char *name) {
  return dm_open_nomagic(dir, name, O_PATH | O_NOFOLLOW, 0, 0);
}

/** chmod of the file open as `node` (O_PATH: fchmod refuses it; its /proc link does not). */
static int chmod_node(int node, mode_t mode) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", node);
  return chmod(link, mode);
}

/** Fills `address` with the /proc/self/fd path of NAME in `dir`; 0 or -ENAMETOOLONG. */
static int address_in(int dir, const char *name, struct sockaddr_un *address) {
  memset(address, 0, sizeof *address);
  address->sun_family = AF_UNIX;
  int length = snprintf(address->sun_path, sizeof address->sun_path, "/proc/self/fd/%d/%s", dir, name);
  return length < 0 || (size_t)length >= sizeof address->sun_path ? -ENAMETOOLONG : 0;
}

/** The parent of `path` and the socket address that reaches NAME in it; a dir fd or -errno. */
static int prepare(const char *path, struct sockaddr_un *address, const char **name,
                   struct dm_op_result *result) {
  // Clients connect by the real path, so that is what must fit in sun_path.
  if (strlen(path) >= sizeof address->sun_path) {
    dm_fail(result, -ENAMETOOLONG, DM_STEP_NONE);
    return -1;
  }
  int dir = dm_open_parent(path, name);
  if (dir < 0) {
    dm_fail(result, dir, DM_STEP_PARENT);
    return -1;
  }
  int error = address_in(dir, *name, address);
  if (error != 0) {
    dm_fail(result, error, DM_STEP_NONE);
    close(dir);
    return -1;
  }
  return dir;
}

void dm_bind_unix(const struct dm_op_args *args, struct dm_op_result *result) {
  struct sockaddr_un address;
  const char *name;
  int dir = prepare(args->path, &address, &name, result);
  if (dir < 0) return;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), node = -1;
  if (fd == -1) dm_fail(result, -errno, DM_STEP_NONE);
  else if (bind(fd, (struct sockaddr *)&address, sizeof address) == -1)
    dm_fail(result, -errno, DM_STEP_FINAL);
  else if ((node = open_node(dir, name)) < 0) dm_fail(result, node, DM_STEP_FINAL);
  else if (args->n3 >= 0 && fchownat(node, "", (uid_t)-1, (gid_t)args->n3, AT_EMPTY_PATH) == -1)
    dm_fail(result, -errno, DM_STEP_FINAL);
  // The socket file was made with the process's umask: its mode is set now, as the user.
  else if (chmod_node(node, (mode_t)args->n2) == -1) dm_fail(result, -errno, DM_STEP_FINAL);
  else if (fstat(node, &result->stat) == -1) dm_fail(result, -errno, DM_STEP_FINAL);
  else if (listen(fd, (int)args->n1) == -1) dm_fail(result, -errno, DM_STEP_FINAL);
  else {
    result->has_stat = true;
    result->fd = fd;
  }
  // A socket file left by a bind that failed half-way is not left behind.
  if (result->error != 0 && fd != -1 && result->step == DM_STEP_FINAL && result->error != EADDRINUSE)
    unlinkat(dir, name, 0);
  if (result->error != 0 && fd != -1) close(fd);
  if (node >= 0) close(node);
  close(dir);
}

void dm_connect_unix(const struct dm_op_args *args, struct dm_op_result *result) {
  struct sockaddr_un address;
  const char *name;
  int dir = prepare(args->path, &address, &name, result);
  if (dir < 0) return;
  int node = open_node(dir, name);
  close(dir);
  if (node < 0) return (void)dm_fail(result, node, DM_STEP_FINAL);
  address_of(node, &address);
  // Non-blocking: a listener with a full backlog answers EAGAIN instead of holding the thread.
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd == -1) dm_fail(result, -errno, DM_STEP_NONE);
  else if (connect(fd, (struct sockaddr *)&address, sizeof address) == -1)
    dm_fail(result, -errno, DM_STEP_FINAL);
  if (fd != -1) close(fd);
  close(node);
}

void dm_remove_socket(const struct dm_op_args *args, struct dm_op_result *result) {
  struct sockaddr_un address;
  const char *name;
  int dir = prepare(args->path, &address, &name, result);
  if (dir < 0) return;
  struct stat stat;
  int node = open_node(dir, name);
  if (node < 0) dm_fail(result, node, DM_STEP_FINAL);
  else if (fstat(node, &stat) == -1) dm_fail(result, -errno, DM_STEP_FINAL);
  else if (!S_ISSOCK(stat.st_mode) || stat.st_uid != geteuid())
    dm_fail(result, -EPERM, DM_STEP_FINAL);
  else if (args->n2 != 0 && ((int64_t)stat.st_dev != args->n1 || (int64_t)stat.st_ino != args->n2))
    dm_fail(result, -ESTALE, DM_STEP_FINAL);
  else if (args->n2 == 0) {
    // No inode known: only a socket nothing listens on (ECONNREFUSED) is stale.
    address_of(node, &address);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int refused = fd != -1 && connect(fd, (struct sockaddr *)&address, sizeof address) == -1 &&
                  errno == ECONNREFUSED;
    if (fd != -1) close(fd);
    if (!refused) dm_fail(result, -EADDRINUSE, DM_STEP_FINAL);
  }
  if (result->error == 0 && unlinkat(dir, name, 0) == -1) dm_fail(result, -errno, DM_STEP_FINAL);
  if (node >= 0) close(node);
  close(dir);
}
