#define _GNU_SOURCE
#include "held_release.h"
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel refuses descriptors nested deeper than this in unix sockets in flight. */
#define NESTING 5
#define FDS_PER_MESSAGE 253

static void empty_socket(int fd, int depth);

/* Drops a descriptor taken from a socket's queue: a socket emptied first, TCP reset. */
static void drop_taken(int fd, int depth) {
  int type;
  socklen_t length = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0) {
    struct linger now = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    if (depth < NESTING) empty_socket(fd, depth + 1);
  }
  close(fd);
}

/* Takes every message (and the descriptors it carries) waiting in a socket, without waiting. */
static void take_messages(int fd, int depth) {
  char data[4096];
  char control[CMSG_SPACE(FDS_PER_MESSAGE * sizeof(int))];
  for (;;) {
    struct iovec part = {.iov_base = data, .iov_len = sizeof data};
    struct msghdr message = {.msg_iov = &part,
                             .msg_iovlen = 1,
                             .msg_control = control,
                             .msg_controllen = sizeof control};
    ssize_t got = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got < 0) return;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int fds[FDS_PER_MESSAGE];
      if (count > FDS_PER_MESSAGE) count = FDS_PER_MESSAGE;
      memcpy(fds, CMSG_DATA(header), count * sizeof(int));
      for (size_t i = 0; i < count; i++) drop_taken(fds[i], depth);
    }
    /* The end (a datagram of no bytes may carry descriptors: taken above). */
    if (got == 0 && message.msg_controllen == 0) return;
  }
}

/*
 * Empties a unix socket: it takes nothing more first (its peers' writes fail, connections
 * are refused), so that what is left to take is finite; then a listening one's waiting
 * connections are emptied, another's messages taken.
 */
static void empty_socket(int fd, int depth) {
  int domain = 0, listening = 0;
  socklen_t length = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0 || domain != AF_UNIX) return;
  length = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0) return;
  shutdown(fd, SHUT_RDWR);
  if (!listening) {
    /*
     * A stream socket's out-of-band byte (MSG_OOB) is read as data, its descriptors taken
     * with it: left out of band, the read skips it and frees it in the kernel, and the
     * last close of what it carries waited there (an outside review, 42a, F1: a lingering
     * TCP socket held the manager's or the keeper's thread for its linger time).
     */
    int inline_too = 1;
    setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &inline_too, sizeof inline_too);
    take_messages(fd, depth);
    return;
  }
  for (;;) {
    struct pollfd ready = {.fd = fd, .events = POLLIN};
    if (poll(&ready, 1, 0) != 1 || !(ready.revents & POLLIN)) return;
    int connection = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (connection == -1) return;
    drop_taken(connection, depth);
  }
}

int dm_release_held(int fd) {
  int type;
  socklen_t length = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0) empty_socket(fd, 0);
  return close(fd) == -1 ? errno : 0;
}
