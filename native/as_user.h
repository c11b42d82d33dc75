/*
 * Per-thread credentials: a worker thread takes on a user's effective uid, gid and
 * groups for one file operation, then returns to root. See as_user.c for why raw
 * system calls and not glibc's wrappers.
 */
#ifndef DM_AS_USER_H
#define DM_AS_USER_H

#include <stdbool.h>
#include <sys/types.h>

/** Who an operation runs as. `groups` is owned by the struct (see dm_creds_free). */
struct dm_creds {
  uid_t uid;
  gid_t gid;
  int ngroups;
  gid_t *groups;
};

/** What dm_become saved, to return to it. */
struct dm_saved {
  bool switched;
  gid_t egid;
  int ngroups;
  gid_t groups[64];
};

/** Copies `from` (groups included) into `to`; 0 or -ENOMEM. */
int dm_creds_copy(struct dm_creds *to, const struct dm_creds *from);
void dm_creds_free(struct dm_creds *creds);

/**
 * Takes on `creds` on the calling thread only, when this thread is root and the user is
 * not; 0 or -errno (nothing changed then).
 */
int dm_become(const struct dm_creds *creds, struct dm_saved *saved);

/** Returns the calling thread to root; 0 or -errno (the thread must then not be reused). */
int dm_return(const struct dm_saved *saved);

#endif
