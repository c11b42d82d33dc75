/*
 * Instance locks: flock(2) on a file, which Node cannot take. A lock is released by the
 * kernel when its holder dies, so a crashed manager never leaves a stale lock behind, and
 * /proc/locks names the holder's pid for the message of the one refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "native.h"
#include "user_ops.h"

/*
 * lockFile(path): a descriptor holding an exclusive flock on path (created 0600 if need
 * be); throws EAGAIN (EWOULDBLOCK) with `holder` (the pid) when another process has it.
 */
static napi_value js_lock_file(napi_env env, napi_callback_info info) {
  char path[4096];
  if (!string_arg(env, info, 0, path, sizeof path)) return throw_type(env, "lockFile needs a path");
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
  if (fd == -1) return throw_errno(env, path);
  struct stat status;
  if (fstat(fd, &status) == -1 || !S_ISREG(status.st_mode)) {
    close(fd);
    errno = EINVAL;
    return throw_errno(env, path);
  }
  if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
    int saved = errno;
    int holder = saved == EWOULDBLOCK ? dm_lock_holder(status.st_dev, status.st_ino) : 0;
    close(fd);
    errno = saved;
    throw_errno(env, path);
    napi_value error, value;
    napi_get_and_clear_last_exception(env, &error);
    napi_create_int32(env, holder, &value);
    napi_set_named_property(env, error, "holder", value);
    napi_throw(env, error);
    return NULL;
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

void register_locks(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"lockFile", NULL, js_lock_file, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 1, properties);
}
