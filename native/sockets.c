/*
 * listenUnix(path, backlog): a listening unix stream socket bound at path (a stale file
 * there is replaced), as a descriptor for Node's `listen({fd})`. Node's own listen(path)
 * would make libuv unlink the file whenever the server closes, and the manager closes
 * its servers before an upgrade's execve while its keeper keeps the sockets alive: the
 * file must stay for clients to connect to the next instance.
 *
 * listenTcp(host, port, backlog): a listening TCP socket held for a daemon (`listen=`),
 * bound by root after the manager's policy allowed it. It is left blocking, as a daemon
 * expects what it inherits to be (the flag belongs to the open file, shared with every
 * holder), with SO_REUSEADDR so that a port a previous holder left in TIME_WAIT binds
 * at once, and an IPv6 one only on IPv6 (IPV6_V6ONLY), as the address says.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "native.h"

static napi_value js_listen_unix(napi_env env, napi_callback_info info) {
  char path[4096];
  int32_t backlog = 0;
  if (!string_arg(env, info, 0, path, sizeof path) || !int_arg(env, info, 1, &backlog))
    return throw_type(env, "listenUnix needs a path and a backlog");
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof address.sun_path) {
    errno = ENAMETOOLONG;
    return throw_errno(env, path);
  }
  strcpy(address.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd == -1) return throw_errno(env, "socket");
  refuse_passed_descriptors(fd);
  if (unlink(path) == -1 && errno != ENOENT) {
    int saved = errno;
    close(fd);
    errno = saved;
    return throw_errno(env, path);
  }
  if (bind(fd, (struct sockaddr *)&address, sizeof address) == -1 || listen(fd, backlog) == -1) {
    int saved = errno;
    close(fd);
    errno = saved;
    return throw_errno(env, path);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83 /* asm-generic/socket.h, Linux 6.16; older headers lack it */
#endif

int refuse_passed_descriptors(int fd) {
  int off = 0;
  return setsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &off, sizeof off) == 0;
}

/* refusePassedDescriptors(fd): see native.h; for a listener kept across an upgrade. */
static napi_value js_refuse_passed_descriptors(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!int_arg(env, info, 0, &fd)) return throw_type(env, "refusePassedDescriptors needs a descriptor");
  napi_value result;
  napi_get_boolean(env, refuse_passed_descriptors(fd), &result);
  return result;
}

/* peerUid(fd): the uid of the process at the other end of a unix socket, as the kernel
 * recorded it when it connected (SO_PEERCRED). */
static napi_value js_peer_uid(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!int_arg(env, info, 0, &fd)) return throw_type(env, "peerUid needs a descriptor");
  struct ucred credentials;
  socklen_t length = sizeof credentials;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == -1)
    return throw_errno(env, "getsockopt(SO_PEERCRED)");
  napi_value result;
  napi_create_uint32(env, credentials.uid, &result);
  return result;
}

/* peerGone(fd): whether the process at the other end of a connected unix socket has
 * closed it. The kernel marks a socket hung up (POLLHUP) once its peer is released, and
 * keeps that mark beside any bytes the peer sent and nobody read yet, so a request that
 * came in full from a client since gone (it gave up waiting) is recognised as such.
 * A peer that only shut down its writing side (POLLRDHUP) is still there for the answer. */
static napi_value js_peer_gone(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!int_arg(env, info, 0, &fd)) return throw_type(env, "peerGone needs a descriptor");
  struct pollfd entry = {.fd = fd, .events = POLLIN};
  int ready = poll(&entry, 1, 0);
  if (ready == -1) return throw_errno(env, "poll");
  napi_value result;
  napi_get_boolean(env, ready == 1 && (entry.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0, &result);
  return result;
}

static napi_value js_listen_tcp(napi_env env, napi_callback_info info) {
  char host[64];
  int32_t port = 0, backlog = 0;
  if (!string_arg(env, info, 0, host, sizeof host) || !int_arg(env, info, 1, &port) ||
      !int_arg(env, info, 2, &backlog) || port < 1 || port > 65535)
    return throw_type(env, "listenTcp needs a host, a port and a backlog");
  struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
  int is_v6 = strchr(host, ':') != NULL;
  if (inet_pton(is_v6 ? AF_INET6 : AF_INET, host, is_v6 ? (void *)&v6.sin6_addr : (void *)&v4.sin_addr) != 1)
    return throw_type(env, "listenTcp: not an IP address");
  int fd = socket(is_v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1) return throw_errno(env, "socket");
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (is_v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  int bound = is_v6 ? bind(fd, (struct sockaddr *)&v6, sizeof v6)
                    : bind(fd, (struct sockaddr *)&v4, sizeof v4);
  if (bound == -1 || listen(fd, backlog) == -1) {
    int saved = errno;
    close(fd);
    errno = saved;
    return throw_errno(env, host);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

void register_sockets(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"listenUnix", NULL, js_listen_unix, NULL, NULL, NULL, napi_default, NULL},
      {"peerUid", NULL, js_peer_uid, NULL, NULL, NULL, napi_default, NULL},
      {"refusePassedDescriptors", NULL, js_refuse_passed_descriptors, NULL, NULL, NULL,
       napi_default, NULL},
      {"peerGone", NULL, js_peer_gone, NULL, NULL, NULL, napi_default, NULL},
      {"listenTcp", NULL, js_listen_tcp, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof *properties, properties);
}
