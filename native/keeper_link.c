/*
 * The manager's side of its link to dm-keeper (native/keeper/keeper.c): starting the
 * keeper, and a SOCK_SEQPACKET connection that carries descriptors (SCM_RIGHTS), which
 * Node's net module cannot do. Incoming messages are read on the event loop (uv_poll)
 * and handed to JavaScript as an array of fields and an array of descriptors.
 *
 * Sends block for at most a few seconds (SO_SNDTIMEO): the keeper reads at once unless
 * it is stuck or stopped, and then the caller treats it as gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "native.h"

#define MAX_MESSAGE (512 * 1024)
#define MAX_FDS 64
#define MESSAGES_PER_WAKE 64

extern char **environ;

struct channel {
  napi_env env;
  int fd;
  uv_poll_t poll;
  napi_ref callback;
  napi_async_context context;
  int closed;
  /* Freed once libuv let go of the poll handle and the JS object was collected, both. */
  int handle_closed, finalized;
};

static char receive_buffer[MAX_MESSAGE + 1];

/* spawnKeeper(binary, socketPath): the keeper's pid, once it listens. */
static napi_value js_spawn_keeper(napi_env env, napi_callback_info info) {
  char binary[4096], socket_path[4096];
  if (!string_arg(env, info, 0, binary, sizeof binary) ||
      !string_arg(env, info, 1, socket_path, sizeof socket_path))
    return throw_type(env, "spawnKeeper needs the binary and the socket path");
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) == -1) return throw_errno(env, "pipe2");
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, ready[1], 1);
  posix_spawnattr_init(&attributes);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  char *argv[] = {"dm-keeper", socket_path, NULL};
  /*
   * Nothing of the manager's environment, but the tests' bound on the keeper's send
   * buffer (see send_buffer_size in keeper/keeper.c): only whoever started the manager
   * can set it, and a daemon never sees it.
   */
  char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL, NULL};
  for (char **entry = environ; *entry; entry++)
    if (strncmp(*entry, "DM_TEST_KEEPER_SEND_BUFFER=", 27) == 0) envp[1] = *entry;
  pid_t pid;
  int failed = posix_spawn(&pid, binary, &actions, &attributes, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(ready[1]);
  if (failed) {
    close(ready[0]);
    errno = failed;
    return throw_errno(env, "cannot start dm-keeper");
  }
  /*
   * It says "ready" once its socket listens: a few milliseconds, bounded here. A signal
   * to the manager meanwhile (a SIGCHLD) interrupts poll and read, which are tried again.
   */
  struct pollfd wait = {.fd = ready[0], .events = POLLIN};
  char line[16] = {0};
  int polled;
  do polled = poll(&wait, 1, 10000);
  while (polled == -1 && errno == EINTR);
  ssize_t got = -1;
  if (polled == 1) do got = read(ready[0], line, sizeof line - 1);
    while (got == -1 && errno == EINTR);
  close(ready[0]);
  if (got < 5 || strncmp(line, "ready", 5) != 0) {
    kill(pid, SIGKILL);
    errno = polled == 0 ? ETIMEDOUT : EPROTO;
    return throw_errno(env, "dm-keeper did not start");
  }
  napi_value result;
  napi_create_int32(env, pid, &result);
  return result;
}

static void deliver(struct channel *channel, napi_value fields, napi_value fds) {
  napi_env env = channel->env;
  napi_value callback, global, result, argv[2] = {fields, fds};
  napi_get_reference_value(env, channel->callback, &callback);
  napi_get_global(env, &global);
  if (napi_make_callback(env, channel->context, global, callback, 2, argv, &result) ==
      napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

static void on_handle_closed(uv_handle_t *handle) {
  struct channel *channel = handle->data;
  channel->handle_closed = 1;
  if (channel->finalized) free(channel);
}

/*
 * Closes the poll handle, then the descriptor: uv_close takes the descriptor out of
 * libuv's epoll set while it is still open (uv_poll_stop does not; see notify_socket.c,
 * where that made libuv abort the manager).
 */
static void close_channel(struct channel *channel) {
  if (channel->closed) return;
  channel->closed = 1;
  uv_close((uv_handle_t *)&channel->poll, on_handle_closed);
  close(channel->fd);
}

/* The end of the connection, delivered as null fields (the channel closed first). */
static void deliver_end(struct channel *channel) {
  napi_env env = channel->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value fields, fds;
  close_channel(channel);
  napi_get_null(env, &fields);
  napi_create_array(env, &fds);
  deliver(channel, fields, fds);
  napi_close_handle_scope(env, scope);
}

/*
 * Reads the messages waiting, at most MESSAGES_PER_WAKE of them: in a crash storm the
 * keeper's reports keep coming as fast as the manager handles them (each exit's respawn
 * brings another), and reading until none waits kept every other descriptor (dmctl's
 * connections, signals) waiting for seconds. The poll is level-triggered: what is left
 * is read at the loop's next turn, after the others. An end of the connection is
 * delivered as null fields.
 */
static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  struct channel *channel = poll->data;
  napi_env env = channel->env;
  /*
   * An error on the socket (ECONNRESET: the keeper died with messages of ours unread) is
   * its end: libuv stops the poll as it reports it, so nothing is delivered after. What the
   * keeper sent before is read first, then the end. Taken for a recvmsg that failed, errno
   * was the last call's (EAGAIN, often), and the death went unseen until a later send
   * failed: a stop's run frozen 2 s meanwhile (an outside review, 79a, F3).
   */
  int ending = status < 0;
  for (int read = 0; ending || read < MESSAGES_PER_WAKE; read++) {
    if (channel->closed) return;
    char control[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    struct iovec iov = {.iov_base = receive_buffer, .iov_len = MAX_MESSAGE};
    struct msghdr header = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    ssize_t got = recvmsg(channel->fd, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got == -1 && errno == EINTR) continue;
    if (got == -1 && errno == EAGAIN && !ending) return;
    if (got <= 0) {
      deliver_end(channel);
      return;
    }
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value fields, fds;
    napi_create_array(env, &fds);
    uint32_t fd_count = 0;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header); cmsg; cmsg = CMSG_NXTHDR(&header, cmsg))
      if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
        for (size_t i = 0; i < (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
          int fd;
          memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
          napi_value value;
          napi_create_int32(env, fd, &value);
          napi_set_element(env, fds, fd_count++, value);
        }
    receive_buffer[got] = '\0';
    napi_create_array(env, &fields);
    uint32_t count = 0;
    for (char *cursor = receive_buffer, *end = receive_buffer + got; cursor < end;) {
      size_t length = strnlen(cursor, (size_t)(end - cursor));
      napi_value value;
      napi_create_string_utf8(env, cursor, length, &value);
      napi_set_element(env, fields, count++, value);
      cursor += length + 1;
    }
    deliver(channel, fields, fds);
    napi_close_handle_scope(env, scope);
  }
}

static struct channel *channel_of(napi_env env, napi_callback_info info, napi_value *argv,
                                  size_t *argc) {
  napi_value self;
  void *data = NULL;
  napi_get_cb_info(env, info, argc, argv, &self, NULL);
  napi_unwrap(env, self, &data);
  return data;
}

/* channel.send(fields: string[], fds?: number[]): sends one message. */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  struct channel *channel = channel_of(env, info, argv, &argc);
  if (!channel || channel->closed) return throw_type(env, "the keeper link is closed");
  static char out[MAX_MESSAGE];
  size_t length = 0;
  uint32_t count = 0;
  if (argc < 1 || napi_get_array_length(env, argv[0], &count) != napi_ok)
    return throw_type(env, "send needs an array of fields");
  for (uint32_t i = 0; i < count; i++) {
    napi_value field;
    size_t written = 0;
    napi_get_element(env, argv[0], i, &field);
    if (napi_get_value_string_utf8(env, field, out + length, sizeof out - length, &written) !=
            napi_ok ||
        length + written + 1 >= sizeof out)
      return throw_type(env, "a field is not a string, or the message is too long");
    if (memchr(out + length, '\0', written)) return throw_type(env, "a field holds a NUL");
    length += written + 1;
  }
  int fds[MAX_FDS];
  uint32_t fd_count = 0;
  if (argc > 1) napi_get_array_length(env, argv[1], &fd_count);
  if (fd_count > MAX_FDS) return throw_type(env, "too many descriptors");
  for (uint32_t i = 0; i < fd_count; i++) {
    napi_value value;
    napi_get_element(env, argv[1], i, &value);
    napi_get_value_int32(env, value, &fds[i]);
  }
  struct iovec iov = {.iov_base = out, .iov_len = length};
  struct msghdr header = {.msg_iov = &iov, .msg_iovlen = 1};
  char control[CMSG_SPACE(sizeof(int) * MAX_FDS)];
  if (fd_count > 0) {
    memset(control, 0, sizeof control);
    header.msg_control = control;
    header.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * fd_count);
  }
  ssize_t sent;
  do sent = sendmsg(channel->fd, &header, MSG_NOSIGNAL);
  while (sent == -1 && errno == EINTR);
  if (sent == -1) return throw_errno(env, "sending to dm-keeper");
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  struct channel *channel = channel_of(env, info, NULL, &argc);
  if (channel) close_channel(channel);
  return NULL;
}


static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  struct channel *channel = data;
  close_channel(channel);
  napi_delete_reference(env, channel->callback);
  napi_async_destroy(env, channel->context);
  channel->finalized = 1;
  if (channel->handle_closed) free(channel);
}

/* connectKeeper(socketPath, onMessage): a channel, or an error (ENOENT, ECONNREFUSED...). */
static napi_value js_connect_keeper(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char path[4096];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !string_arg(env, info, 0, path, sizeof path))
    return throw_type(env, "connectKeeper needs a socket path and a callback");
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof address.sun_path) {
    errno = ENAMETOOLONG;
    return throw_errno(env, path);
  }
  strcpy(address.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd == -1) return throw_errno(env, "socket");
  if (connect(fd, (struct sockaddr *)&address, sizeof address) == -1) {
    int saved = errno;
    close(fd);
    errno = saved;
    return throw_errno(env, path);
  }
  int size = 4 * 1024 * 1024;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) == -1)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) == -1)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  struct timeval timeout = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  struct channel *channel = calloc(1, sizeof *channel);
  if (!channel) abort();
  channel->env = env;
  channel->fd = fd;
  napi_create_reference(env, argv[1], 1, &channel->callback);
  napi_value name;
  napi_create_string_utf8(env, "dm-keeper", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &channel->context);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &channel->poll, fd);
  channel->poll.data = channel;
  uv_poll_start(&channel->poll, UV_READABLE, on_readable);
  napi_value object;
  napi_create_object(env, &object);
  napi_property_descriptor methods[] = {
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, object, 2, methods);
  /*
   * The keeper's pid (SO_PEERCRED: the listener's at its listen()), known before it says
   * hello: a keeper that goes at the hello (told to quit by the manager before this one) is
   * waited for by it. 0 if unknown.
   */
  struct ucred peer = {0};
  socklen_t peer_size = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_size) == -1) peer.pid = 0;
  napi_value peer_pid;
  napi_create_int32(env, peer.pid, &peer_pid);
  napi_set_named_property(env, object, "peerPid", peer_pid);
  napi_wrap(env, object, channel, finalize, NULL, NULL);
  return object;
}

void register_keeper_link(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"spawnKeeper", NULL, js_spawn_keeper, NULL, NULL, NULL, napi_default, NULL},
      {"connectKeeper", NULL, js_connect_keeper, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 2, properties);
}
