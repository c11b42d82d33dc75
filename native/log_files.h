/* Log files as their owner: rotate, open for the pump (see log_files.c). */
#ifndef DM_LOG_FILES_H
#define DM_LOG_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "resolve.h"

/** NAME -> NAME.1 ... dropping NAME.keep; 0 or -errno, *step says where. */
int dm_rotate_path(const char *path, long keep, enum dm_step *step);

/**
 * Opens the log `path` for appending as openAppend does (no final symlink, no blocking)
 * and checks it is a regular file of `owner` with one link; on success returns an fd
 * and its size; on failure -1 with `reason` filled in.
 */
int dm_open_log(const char *path, uid_t owner, int64_t *size, char *reason, size_t room);

/** Writes "2024-05-01T12:00:00.000Z " (ISO 8601 in UTC, as JS toISOString, and a space). */
enum { DM_STAMP_LENGTH = 25 };
void dm_stamp(char out[DM_STAMP_LENGTH + 1]);

#endif
