/*
 * FUSE file systems mounted by users, which the manager never enters (see user_mounts.c).
 */
#ifndef DM_USER_MOUNTS_H
#define DM_USER_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** The FUSE mount a path was refused on: who mounted it, and where. */
struct dm_user_mount {
  uid_t uid;
  char point[4096];
};

/**
 * Whether the mount `fd` is on may be entered: 0, -EREMOTE for a FUSE file system mounted
 * by a user (dm_last_user_mount() then names it), or -errno. Asks the file system nothing.
 */
int dm_check_mount(int fd);

/** The mount of this thread's last -EREMOTE. */
const struct dm_user_mount *dm_last_user_mount(void);

/**
 * The refusal of this thread's last -EREMOTE, said for `what` (`log file` ...) at `path`:
 * "WHAT PATH: is on a FUSE file system mounted by uid N at M; the manager does not go
 * there ..." (src/files/file-error.ts says it so too).
 */
void dm_say_user_mount(char *out, size_t room, const char *what, const char *path);

#endif
