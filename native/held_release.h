#ifndef DM_HELD_RELEASE_H
#define DM_HELD_RELEASE_H

/*
 * Closes a socket held for a daemon (`listen=`) that is let go of. A unix socket may hold
 * descriptors a user passed to it (SCM_RIGHTS) in connections nobody accepted: its last
 * close closes them too, and a TCP socket with SO_LINGER and unsent data waits there, in
 * the kernel, for its linger time. A user's daemon's held listen=unix: socket froze the
 * manager or its keeper that way for as long as the user chose (an outside review, 39a,
 * F1). So it first takes no more connections (shutdown), then what waits in it is taken
 * and dropped, passed TCP sockets reset (no linger), passed unix sockets emptied the same
 * way (a few levels down, as deep as the kernel lets them nest); then it is closed. No
 * thread: threads made per close grew with what one user did, and a daemon forked by the
 * keeper while they came and went hung before its exec (an outside review, 41a, F1, F2).
 * Returns 0, or the errno of the close.
 */
int dm_release_held(int fd);

#endif
