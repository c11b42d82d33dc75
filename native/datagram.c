/*
 * sendDatagram(path, data): one datagram to a Unix datagram socket, the way sd_notify(3),
 * the journal's native protocol and syslog(3) talk (Node has no Unix datagram API). A
 * path starting with '@' is an abstract address, as $NOTIFY_SOCKET may be. The send never
 * blocks (MSG_DONTWAIT): a full receiver is an EAGAIN for the caller to handle, never a
 * manager that stops answering signals. Errors are thrown with `code` set to the errno
 * name (ENOENT, EAGAIN, ...), as throw_errno does.
 */
#include <errno.h>
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "native.h"

static napi_value js_send_datagram(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char path[sizeof ((struct sockaddr_un *)0)->sun_path + 1];
  size_t path_length = 0;
  void *data = NULL;
  size_t data_length = 0;
  bool is_buffer = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_length) != napi_ok ||
      napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[1], &data, &data_length) != napi_ok) {
    return throw_type(env, "sendDatagram needs a socket path and a Buffer");
  }
  struct sockaddr_un address;
  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  if (path_length == 0 || path_length >= sizeof address.sun_path) {
    errno = ENAMETOOLONG;
    return throw_errno(env, "sendDatagram");
  }
  memcpy(address.sun_path, path, path_length);
  if (path[0] == '@') address.sun_path[0] = '\0';
  /* An abstract address is exactly as long as its name; a path ends at its NUL. */
  socklen_t length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length +
                                 (path[0] == '@' ? 0 : 1));

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd == -1) return throw_errno(env, "socket");
  ssize_t sent;
  do sent = sendto(fd, data, data_length, MSG_DONTWAIT | MSG_NOSIGNAL,
                   (struct sockaddr *)&address, length);
  while (sent == -1 && errno == EINTR);
  int error = errno;
  close(fd);
  if (sent == -1) {
    errno = error;
    return throw_errno(env, "sendto");
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

/* Adds sendDatagram() to the addon's exports (declared in native.h, called from dm_native.c). */
void register_datagram(napi_env env, napi_value exports) {
  napi_property_descriptor property = {
      "sendDatagram", NULL, js_send_datagram, NULL, NULL, NULL, napi_default, NULL};
  napi_define_properties(env, exports, 1, &property);
}
