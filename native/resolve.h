/*
 * Resolution of paths in a user's tree without /proc magic links (see resolve.c).
 */
#ifndef DM_RESOLVE_H
#define DM_RESOLVE_H

#include <stdint.h>

/** Where a failure happened: reaching the parent directory, or the last component. */
enum dm_step { DM_STEP_NONE = 0, DM_STEP_PARENT = 1, DM_STEP_FINAL = 2 };

/** openat2(2) with RESOLVE_NO_MAGICLINKS: an fd or -errno. */
int dm_open_nomagic(int dirfd, const char *path, int flags, unsigned mode, uint64_t resolve);

/**
 * Opens the directory that holds the last component of the absolute `path` (O_PATH,
 * following ordinary symlinks, refusing magic links) and points *name at that last
 * component inside `path`. An fd, or -errno (-EINVAL for a relative path or a last
 * component that is empty, "." or "..").
 */
int dm_open_parent(const char *path, const char **name);

#endif
