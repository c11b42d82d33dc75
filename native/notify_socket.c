/*
 * The receiving end of the sd_notify protocol (sd_notify(3)) for `ready=notify` and
 * `watchdog=`: one Unix datagram socket per daemon, its path given to the daemon as
 * $NOTIFY_SOCKET. Node has no Unix datagram API, so it is read here on the event loop
 * (uv_poll), as keeper_link.c reads the keeper.
 *
 * Who sent a message is the kernel's word, never the message's: SO_PASSCRED makes the
 * kernel attach the sender's pid, uid and gid (SCM_CREDENTIALS) to every datagram. A
 * sender may name other credentials only with CAP_SYS_ADMIN (pid) or CAP_SETUID/SETGID
 * (ids): unix(7). JavaScript then checks the pid against the daemon's cgroup or tree.
 *
 * Bounds: a datagram longer than NOTIFY_MAX (systemd's own limit, PIPE_BUF) is cut by the
 * kernel and delivered as null (MSG_TRUNC), never read further; at most BATCH datagrams
 * are read per wake-up, so one busy socket cannot hold the loop; the receive buffer is
 * small, so a flood waits in the sender's own queue (or fails with EAGAIN there) while
 * JavaScript pauses a socket that sends too much. Descriptors passed along (FDSTORE=1,
 * SCM_RIGHTS) are closed at once: the manager keeps none a daemon sends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "native.h"

#define NOTIFY_MAX 4096
#define BATCH 32
#define DRAIN_MAX 1024
#define MAX_PASSED_FDS 16

struct notify_watch {
  napi_env env;
  int fd;
  uv_poll_t poll;
  napi_ref callback;
  napi_async_context context;
  int closed;
  int paused;
  /* Freed once libuv let go of the poll handle and the JS object was collected, both. */
  int handle_closed, finalized;
};

/*
 * bindNotify(path, uid, gid): a datagram socket bound at path (a stale socket there is
 * replaced; anything else is an error, EEXIST), owned by uid:gid with the manager's
 * umask (077), so only that user (and root) may send to it: its descriptor.
 */
static napi_value js_bind_notify(napi_env env, napi_callback_info info) {
  char path[sizeof ((struct sockaddr_un *)0)->sun_path];
  int32_t uid = -1, gid = -1;
  if (!string_arg(env, info, 0, path, sizeof path) || !int_arg(env, info, 1, &uid) ||
      !int_arg(env, info, 2, &gid))
    return throw_type(env, "bindNotify needs a path (at most 107 bytes), a uid and a gid");
  struct stat existing;
  if (lstat(path, &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      errno = EEXIST;
      return throw_errno(env, path);
    }
    if (unlink(path) == -1) return throw_errno(env, path);
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd == -1) return throw_errno(env, "socket");
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  strcpy(address.sun_path, path);
  int on = 1, size = 16 * 1024;
  refuse_passed_descriptors(fd);
  if (bind(fd, (struct sockaddr *)&address, sizeof address) == -1 ||
      setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == -1 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) == -1 ||
      lchown(path, (uid_t)uid, (gid_t)gid) == -1) {
    int saved = errno;
    close(fd);
    unlink(path);
    errno = saved;
    return throw_errno(env, path);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

/*
 * Gives one datagram to JavaScript: from the event loop (an async callback, which runs
 * the microtasks after), or from drain(), called by JavaScript itself (a plain call, whose
 * exception is left for drain's caller); false if JavaScript threw.
 */
static int deliver(struct notify_watch *watch, const struct ucred *cred, const char *data,
                   ssize_t length, int nested) {
  napi_env env = watch->env;
  napi_value callback, global, result, argv[4];
  napi_get_reference_value(env, watch->callback, &callback);
  napi_get_global(env, &global);
  napi_create_int32(env, cred ? cred->pid : 0, &argv[0]);
  napi_create_int32(env, cred ? (int32_t)cred->uid : -1, &argv[1]);
  napi_create_int32(env, cred ? (int32_t)cred->gid : -1, &argv[2]);
  if (data == NULL) napi_get_null(env, &argv[3]);
  else napi_create_buffer_copy(env, (size_t)length, data, NULL, &argv[3]);
  if (nested) return napi_call_function(env, global, callback, 4, argv, &result) == napi_ok;
  if (napi_make_callback(env, watch->context, global, callback, 4, argv, &result) ==
      napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  return 1;
}

/* Reads up to limit datagrams queued now, while the watch is neither paused nor closed. */
static void read_queued(struct notify_watch *watch, int limit, int nested) {
  static char buffer[NOTIFY_MAX + 1];
  for (int i = 0; i < limit && !watch->closed && !watch->paused; i++) {
    char control[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
    struct iovec iov = {.iov_base = buffer, .iov_len = NOTIFY_MAX};
    struct msghdr header = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    ssize_t got = recvmsg(watch->fd, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got == -1 && errno == EINTR) continue;
    if (got == -1) return;
    const struct ucred *cred = NULL;
    struct ucred copy;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header); cmsg; cmsg = CMSG_NXTHDR(&header, cmsg)) {
      if (cmsg->cmsg_level != SOL_SOCKET) continue;
      if (cmsg->cmsg_type == SCM_CREDENTIALS && cmsg->cmsg_len == CMSG_LEN(sizeof copy)) {
        memcpy(&copy, CMSG_DATA(cmsg), sizeof copy);
        cred = &copy;
      } else if (cmsg->cmsg_type == SCM_RIGHTS) {
        for (size_t j = 0; j < (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int); j++) {
          int passed;
          memcpy(&passed, CMSG_DATA(cmsg) + j * sizeof(int), sizeof passed);
          /* A kernel without SO_PASSRIGHTS lets them through: a socket's linger is
           * turned off first, or its close would hold this thread (see native.h). */
          struct linger none = {0, 0};
          setsockopt(passed, SOL_SOCKET, SO_LINGER, &none, sizeof none);
          close(passed);
        }
      }
    }
    /* Descriptors cut off by a short control buffer (MSG_CTRUNC) are closed by the kernel. */
    int cut = (header.msg_flags & MSG_TRUNC) != 0;
    napi_handle_scope scope;
    napi_open_handle_scope(watch->env, &scope);
    int went_on = deliver(watch, cred, cut ? NULL : buffer, got, nested);
    napi_close_handle_scope(watch->env, scope);
    if (!went_on) return;
  }
}

/* Reads up to BATCH datagrams; the poll is level-triggered, so the rest come next turn. */
static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  struct notify_watch *watch = poll->data;
  if (status < 0) return;
  read_queued(watch, BATCH, 0);
}

static struct notify_watch *watch_of(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value self;
  void *data = NULL;
  napi_get_cb_info(env, info, &argc, NULL, &self, NULL);
  napi_unwrap(env, self, &data);
  return data;
}

static void on_handle_closed(uv_handle_t *handle) {
  struct notify_watch *watch = handle->data;
  watch->handle_closed = 1;
  if (watch->finalized) free(watch);
}

/*
 * Closes the poll handle, then the descriptor. uv_poll_stop alone leaves the descriptor
 * in libuv's epoll set, and the keeper holds the same socket, so closing this copy did
 * not take it out: the socket, still flooded by a daemon, woke epoll for a descriptor
 * number reused since, libuv's epoll_ctl on it failed, and libuv aborted the manager
 * (an outside review: a user made root's manager exit 134, 7 times in 8). uv_close takes
 * the descriptor out of the epoll set at once, while it is still open.
 */
static void stop_watch(struct notify_watch *watch) {
  if (watch->closed) return;
  watch->closed = 1;
  uv_close((uv_handle_t *)&watch->poll, on_handle_closed);
  close(watch->fd);
}

/* watch.pause(): stops reading (what is sent meanwhile waits in the kernel, bounded). */
static napi_value js_pause(napi_env env, napi_callback_info info) {
  struct notify_watch *watch = watch_of(env, info);
  if (watch && !watch->closed && !watch->paused) {
    watch->paused = 1;
    uv_poll_stop(&watch->poll);
  }
  return NULL;
}

/* watch.resume(): reads again. */
static napi_value js_resume(napi_env env, napi_callback_info info) {
  struct notify_watch *watch = watch_of(env, info);
  if (watch && !watch->closed && watch->paused) {
    watch->paused = 0;
    uv_poll_start(&watch->poll, UV_READABLE, on_readable);
  }
  return NULL;
}

/*
 * watch.drain(): reads what is queued now, at once, before JavaScript judges a silence (a
 * watchdog's or ready_timeout's deadline): libuv runs expired timers before it polls, so
 * after a stall of the manager (SIGSTOP, a starved CPU, a slow synchronous call) a
 * deadline was reached while the daemon's WATCHDOG=1 or READY=1 waited unread. Bounded
 * by the kernel's queue (net.unix.max_dgram_qlen datagrams, a few KiB each) and DRAIN_MAX.
 */
static napi_value js_drain(napi_env env, napi_callback_info info) {
  struct notify_watch *watch = watch_of(env, info);
  if (watch) read_queued(watch, DRAIN_MAX, 1);
  return NULL;
}

/* watch.close(): stops reading and closes this process's descriptor. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  struct notify_watch *watch = watch_of(env, info);
  if (watch) stop_watch(watch);
  return NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  struct notify_watch *watch = data;
  stop_watch(watch);
  napi_delete_reference(env, watch->callback);
  napi_async_destroy(env, watch->context);
  watch->finalized = 1;
  if (watch->handle_closed) free(watch);
}

/*
 * watchNotify(fd, onMessage): reads the socket; onMessage(pid, uid, gid, data) gets each
 * datagram with its sender's credentials (data null when it was too long). Takes the fd.
 */
static napi_value js_watch_notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !int_arg(env, info, 0, &fd) || fd < 0)
    return throw_type(env, "watchNotify needs a descriptor and a callback");
  int on = 1;
  /* A descriptor kept by the keeper across an upgrade has the options already; cheap. */
  setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  refuse_passed_descriptors(fd);
  struct notify_watch *watch = calloc(1, sizeof *watch);
  if (!watch) abort();
  watch->env = env;
  watch->fd = fd;
  napi_create_reference(env, argv[1], 1, &watch->callback);
  napi_value name;
  napi_create_string_utf8(env, "sd_notify", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &watch->context);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init(loop, &watch->poll, fd) != 0) {
    napi_delete_reference(env, watch->callback);
    napi_async_destroy(env, watch->context);
    free(watch);
    errno = EBADF;
    return throw_errno(env, "watchNotify");
  }
  watch->poll.data = watch;
  uv_poll_start(&watch->poll, UV_READABLE, on_readable);
  napi_value object;
  napi_create_object(env, &object);
  napi_property_descriptor methods[] = {
      {"pause", NULL, js_pause, NULL, NULL, NULL, napi_default, NULL},
      {"resume", NULL, js_resume, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"drain", NULL, js_drain, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, object, 4, methods);
  napi_wrap(env, object, watch, finalize, NULL, NULL);
  return object;
}

/* Adds bindNotify() and watchNotify() to the addon's exports. */
void register_notify_socket(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"bindNotify", NULL, js_bind_notify, NULL, NULL, NULL, napi_default, NULL},
      {"watchNotify", NULL, js_watch_notify, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 2, properties);
}
