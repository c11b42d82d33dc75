/*
 * The small file operations of a user's tree: mkdir -p, open a log for appending,
 * rotate logs, read a piece of a log. The caller (user_files.c) runs them on a worker
 * thread that has taken on the user's credentials, so the kernel applies the user's
 * permissions; on top of that every path is resolved without magic links (resolve.c),
 * a final symlink is never followed, and nothing waits on a FIFO or a device
 * (O_NONBLOCK, then fstat: the caller refuses what is not a regular file).
 */
#define _GNU_SOURCE
#include "acl.h"
#include "user_ops.h"

#include "log_files.h"
#include "user_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/** The largest piece of a log read at once. */
enum { MAX_CHUNK = 16 * 1024 * 1024 };

bool dm_fail(struct dm_op_result *result, int negative_errno, enum dm_step step) {
  result->error = -negative_errno;
  result->step = step;
  return false;
}

static bool fstat_into(int fd, struct dm_op_result *result) {
  if (fstat(fd, &result->stat) == -1) return dm_fail(result, -errno, DM_STEP_FINAL);
  result->has_stat = true;
  struct statx born;
  result->btime[0] = '\0';
  if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &born) == 0 && (born.stx_mask & STATX_BTIME) &&
      born.stx_btime.tv_sec > 0)
    snprintf(result->btime, sizeof result->btime, "%lld%09u", (long long)born.stx_btime.tv_sec,
             born.stx_btime.tv_nsec);
  result->acl_write = dm_acl_lets_others_write(fd);
  return true;
}

/** mkdir -p: each component is opened (or made, then opened) below the previous one. */
static void make_dirs(const char *path, mode_t mode, struct dm_op_result *result) {
  if (path[0] != '/') {
    dm_fail(result, -EINVAL, DM_STEP_NONE);
    result->error_path = strdup(path);
    return;
  }
  char *copy = strdup(path);
  int dir = dm_open_nomagic(AT_FDCWD, "/", O_PATH | O_DIRECTORY, 0, 0);
  char *save = NULL;
  for (char *part = strtok_r(copy, "/", &save); part != NULL && dir >= 0;
       part = strtok_r(NULL, "/", &save)) {
    int next = dm_open_nomagic(dir, part, O_PATH | O_DIRECTORY, 0, 0);
    if (next == -ENOENT) {
      // EEXIST: made meanwhile by someone else; opening it says what it is.
      if (mkdirat(dir, part, mode) == -1 && errno != EEXIST) next = -errno;
      else next = dm_open_nomagic(dir, part, O_PATH | O_DIRECTORY, 0, 0);
    }
    close(dir);
    dir = next;
    if (dir < 0) {
      dm_fail(result, dir, DM_STEP_NONE);
      size_t length = (size_t)(part - copy) + strlen(part);
      result->error_path = strndup(path, length);
    }
  }
  if (dir >= 0) close(dir);
  free(copy);
}

static void mkdirs(const struct dm_op_args *args, struct dm_op_result *result) {
  for (int index = 0; index < args->npaths && result->error == 0; index++)
    make_dirs(args->paths[index], (mode_t)args->n1, result);
}

static void open_append(const struct dm_op_args *args, struct dm_op_result *result) {
  const char *name;
  int dir = dm_open_parent(args->path, &name);
  if (dir < 0) return (void)dm_fail(result, dir, DM_STEP_PARENT);
  int fd = dm_open_nomagic(
      dir, name, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY,
      (unsigned)args->n1, 0);
  close(dir);
  if (fd < 0) return (void)dm_fail(result, fd, DM_STEP_FINAL);
  if (!fstat_into(fd, result)) {
    close(fd);
    return;
  }
  result->fd = fd;
}

/** NAME -> NAME.1, .1 -> .2 ... dropping NAME.keep, as src/logs/log-file.ts always did. */
static void rotate(const struct dm_op_args *args, struct dm_op_result *result) {
  enum dm_step step;
  int error = dm_rotate_path(args->path, (long)args->n1, &step);
  if (error != 0) dm_fail(result, error, step);
}

/** Reads `length` bytes at `offset` (negative: from the end) of a regular file. */
static void read_chunk(const struct dm_op_args *args, struct dm_op_result *result) {
  const char *name;
  int dir = dm_open_parent(args->path, &name);
  if (dir < 0) return (void)dm_fail(result, dir, DM_STEP_PARENT);
  int fd = dm_open_nomagic(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0, 0);
  close(dir);
  if (fd < 0) return (void)dm_fail(result, fd, DM_STEP_FINAL);
  if (fstat_into(fd, result) && S_ISREG(result->stat.st_mode)) {
    int64_t size = result->stat.st_size, offset = args->n1;
    int64_t start = offset < 0 ? (size + offset > 0 ? size + offset : 0) : offset > size ? 0 : offset;
    int64_t want = args->n2 < MAX_CHUNK ? args->n2 : MAX_CHUNK;
    if (want > size - start) want = size - start;
    if (want < 0) want = 0;
    result->data = malloc((size_t)want + 1);
    int64_t count = 0;
    while (result->data != NULL && count < want) {
      ssize_t got = pread(fd, result->data + count, (size_t)(want - count), start + count);
      if (got == -1 && errno == EINTR) continue;
      if (got == -1) {
        dm_fail(result, -errno, DM_STEP_FINAL);
        break;
      }
      if (got == 0) break;
      count += got;
    }
    if (result->data == NULL) dm_fail(result, -ENOMEM, DM_STEP_NONE);
    result->length = (size_t)count;
    result->next = start + count;
    result->size = size;
  }
  close(fd);
}

void dm_run_op(enum dm_op_kind kind, const struct dm_op_args *args, struct dm_op_result *result) {
  switch (kind) {
    case DM_READ_CONFIG_DIR: dm_read_config_dir(args, result); break;
    case DM_MKDIRS: mkdirs(args, result); break;
    case DM_OPEN_APPEND: open_append(args, result); break;
    case DM_ROTATE: rotate(args, result); break;
    case DM_READ_CHUNK: read_chunk(args, result); break;
    case DM_LOCK_DIR: dm_lock_dir(args, result); break;
    case DM_BIND_UNIX: dm_bind_unix(args, result); break;
    case DM_CONNECT_UNIX: dm_connect_unix(args, result); break;
    case DM_REPLACE_FILE: dm_replace_file(args, result); break;
    case DM_REMOVE_SOCKET: dm_remove_socket(args, result); break;
  }
  if (result->error == EREMOTE) {
    result->mount_uid = dm_last_user_mount()->uid;
    result->mount_point = strdup(dm_last_user_mount()->point);
  }
}

void dm_free_result(struct dm_op_result *result) {
  for (int index = 0; index < result->nentries; index++) {
    free(result->entries[index].name);
    free(result->entries[index].data);
    free(result->entries[index].mount_point);
  }
  free(result->entries);
  for (int index = 0; index < result->nbad_shown; index++) free(result->bad_shown[index]);
  free(result->data);
  free(result->error_path);
  free(result->mount_point);
  if (result->fd >= 0) close(result->fd);
}
