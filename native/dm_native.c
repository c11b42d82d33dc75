/*
 * The few system calls Node.js does not expose and a supervisor needs:
 *  - waitpid(pid, WNOHANG) on a child libuv does not know of: after the manager
 *    re-executes itself (upgrade), its running daemons are still its children, but the
 *    new Node instance did not spawn them and would never reap them;
 *  - prctl(PR_SET_CHILD_SUBREAPER): processes a daemon leaves behind are reparented to
 *    the manager instead of init, so the manager can reap them (some inits never do);
 *  - fcntl(FD_CLOEXEC): Node opens everything close-on-exec; the descriptors that must
 *    survive the upgrade's execve (the daemons' output pipes) are cleared first;
 *  - malloc_trim(0): gives back to the kernel the free pages of glibc's heaps;
 *  - setrlimit(RLIMIT_NOFILE): the soft open-files limit raised to the hard one;
 *  - SHA-256 without node:crypto (native/digest.c).
 * Plain Node-API in C: ABI-stable across Node versions, no dependency.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "log_pump_napi.h"
#include "native.h"
#include "user_files.h"

/* Throws an Error whose message is "CALL: strerror(errno)" and whose code is the errno name. */
napi_value throw_errno(napi_env env, const char *call) {
  char message[4200];
  snprintf(message, sizeof message, "%s: %s", call, strerror(errno));
  const char *code = strerrorname_np(errno);
  napi_throw_error(env, code ? code : NULL, message);
  return NULL;
}

napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

int int_arg(napi_env env, napi_callback_info info, size_t index, int32_t *out) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc <= index) return 0;
  return napi_get_value_int32(env, argv[index], out) == napi_ok;
}

/* Copies string argument `index` into out; false if it is missing, not a string, or too long. */
int string_arg(napi_env env, napi_callback_info info, size_t index, char *out, size_t size) {
  size_t argc = 4, length = 0;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc <= index) return 0;
  if (napi_get_value_string_utf8(env, argv[index], out, size, &length) != napi_ok) return 0;
  return length + 1 < size && strlen(out) == length;
}

/* waitpid(pid, WNOHANG): undefined while it runs, else { code, signal } (or { gone: true }). */
static napi_value js_waitpid(napi_env env, napi_callback_info info) {
  int32_t pid;
  if (!int_arg(env, info, 0, &pid) || pid <= 0) {
    napi_throw_type_error(env, NULL, "waitpid needs a positive pid");
    return NULL;
  }
  int status = 0;
  pid_t result;
  do result = waitpid(pid, &status, WNOHANG);
  while (result == -1 && errno == EINTR);
  napi_value undefined, object, value;
  napi_get_undefined(env, &undefined);
  if (result == 0) return undefined;
  napi_create_object(env, &object);
  if (result == -1) {
    if (errno != ECHILD) return throw_errno(env, "waitpid");
    napi_get_boolean(env, 1, &value);
    napi_set_named_property(env, object, "gone", value);
    return object;
  }
  if (WIFEXITED(status)) {
    napi_create_int32(env, WEXITSTATUS(status), &value);
    napi_set_named_property(env, object, "code", value);
  } else if (WIFSIGNALED(status)) {
    napi_create_int32(env, WTERMSIG(status), &value);
    napi_set_named_property(env, object, "signal", value);
  }
  return object;
}

static napi_value js_set_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1) return throw_errno(env, "prctl");
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

/* setCloexec(fd, on): sets or clears FD_CLOEXEC. */
static napi_value js_set_cloexec(napi_env env, napi_callback_info info) {
  int32_t fd;
  bool on;
  size_t argc = 2;
  napi_value argv[2];
  if (!int_arg(env, info, 0, &fd) || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok ||
      argc < 2 || napi_get_value_bool(env, argv[1], &on) != napi_ok) {
    napi_throw_type_error(env, NULL, "setCloexec needs a descriptor and a flag");
    return NULL;
  }
  int flags = fcntl(fd, F_GETFD);
  if (flags == -1) return throw_errno(env, "fcntl");
  flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (fcntl(fd, F_SETFD, flags) == -1) return throw_errno(env, "fcntl");
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

/*
 * takeEarlySignals(): the signals that came before the manager's handlers were in place,
 * as a bit per signal number, from native/early/early_signals.c when bin/daemon-manager
 * preloaded it (0 when it did not). Called once those handlers are in place, it also
 * unblocks SIGUSR1 in this thread: Node's --disable-sigusr1 (no inspector on a SIGUSR1)
 * blocks it, and one that came meanwhile is delivered now, to the manager's handler.
 */
static napi_value js_take_early_signals(napi_env env, napi_callback_info info) {
  (void)info;
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
  unsigned long (*take)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "dm_early_signals_take");
  napi_value bits;
  napi_create_double(env, take == NULL ? 0 : (double)take(), &bits);
  return bits;
}

/*
 * trimMemory(): V8 gives back the pages its garbage held (native/v8_memory.cc), then
 * malloc_trim(0). glibc returns memory to the kernel only from the top of
 * a heap, past M_TRIM_THRESHOLD; what a burst of work (start-up, a rescan) freed in the
 * middle stays private dirty memory of a process that then idles for months. With 0,
 * malloc_trim also discards every free page inside every arena (madvise MADV_DONTNEED).
 * Returns whether any memory was released.
 */
void dm_reduce_v8_memory(void); /* native/v8_memory.cc */

static napi_value js_trim_memory(napi_env env, napi_callback_info info) {
  (void)info;
  dm_reduce_v8_memory();
  napi_value released;
  napi_get_boolean(env, malloc_trim(0) == 1, &released);
  return released;
}

/*
 * raiseDescriptorLimit(): raises the soft RLIMIT_NOFILE to the hard one, and returns
 * [soft, hard] as they are then (-1 for unlimited). A system call, not /proc/self/limits:
 * it answers when every descriptor is taken, which is when the manager asks.
 */
static napi_value js_raise_descriptor_limit(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == -1) return throw_errno(env, "getrlimit");
  if (limit.rlim_cur != limit.rlim_max) {
    struct rlimit raised = {limit.rlim_max, limit.rlim_max};
    /* Refused (a hard limit above fs.nr_open): the soft one stays, and is reported. */
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  napi_value pair, soft, hard;
  napi_create_array_with_length(env, 2, &pair);
  napi_create_double(env, limit.rlim_cur == RLIM_INFINITY ? -1 : (double)limit.rlim_cur, &soft);
  napi_create_double(env, limit.rlim_max == RLIM_INFINITY ? -1 : (double)limit.rlim_max, &hard);
  napi_set_element(env, pair, 0, soft);
  napi_set_element(env, pair, 1, hard);
  return pair;
}

/*
 * pipeBytes(fd): how many bytes wait in a pipe (FIONREAD). At a stop, a daemon whose log
 * could not be opened has its output in its pipe still: the manager says how much of it
 * is dropped, not nothing.
 */
static napi_value js_pipe_bytes(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!int_arg(env, info, 0, &fd)) {
    napi_throw_type_error(env, NULL, "pipeBytes needs a descriptor");
    return NULL;
  }
  int available = 0;
  if (ioctl(fd, FIONREAD, &available) == -1) return throw_errno(env, "ioctl");
  napi_value result;
  napi_create_int32(env, available, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"waitpid", NULL, js_waitpid, NULL, NULL, NULL, napi_default, NULL},
      {"setSubreaper", NULL, js_set_subreaper, NULL, NULL, NULL, napi_default, NULL},
      {"setCloexec", NULL, js_set_cloexec, NULL, NULL, NULL, napi_default, NULL},
      {"pipeBytes", NULL, js_pipe_bytes, NULL, NULL, NULL, napi_default, NULL},
      {"takeEarlySignals", NULL, js_take_early_signals, NULL, NULL, NULL, napi_default, NULL},
      {"trimMemory", NULL, js_trim_memory, NULL, NULL, NULL, napi_default, NULL},
      {"raiseDescriptorLimit", NULL, js_raise_descriptor_limit, NULL, NULL, NULL, napi_default,
       NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof *properties, properties);
  register_keeper_link(env, exports);
  register_locks(env, exports);
  register_sockets(env, exports);
  dm_register_user_files(env, exports);
  dm_register_log_pump(env, exports);
  register_datagram(env, exports);
  register_notify_socket(env, exports);
  register_digest(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
