#ifndef DM_CLOSE_ASIDE_H
#define DM_CLOSE_ASIDE_H

/*
 * Closes fd; a socket on a thread of its own. A unix socket may hold descriptors a user
 * passed to it (SCM_RIGHTS) that nobody received: its last close closes them too, and a
 * TCP socket with SO_LINGER and unsent data waits there, in the kernel, for its linger
 * time. A user's daemon's listen=unix: socket, held by the manager and its keeper, froze
 * the one or the other that way for as long as the user chose (an outside review, 39a, F1).
 * Returns 0, or the errno of a close done here.
 */
int dm_close_aside(int fd);

#endif
