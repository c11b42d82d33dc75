/*
 * A reopen (SIGUSR1 after a logrotate's `mv`) waits for the end of the line under way
 * before it leaves the old file, so that no line is split between two files. That wait
 * lives in the pump's memory; a manager killed in it (or before it even saw the signal)
 * left the next one to open the log by its path, the new file, and the rest of the line
 * went there (an outside review: 8 of 24 kills within milliseconds of a SIGUSR1).
 *
 * So each pump keeps, next to its journal, which file it writes: the file's identity
 * (st_dev, st_ino), where it was last seen, and whether a reopen waits there for a
 * line's end; and which pipe, so that a record is only ever used for the pipe it was
 * made for. A manager that attaches that pipe finds the file wherever the logrotate put
 * it and, if it ends in the middle of a line, finishes that line there before it opens
 * the log by its path (log_pump.c).
 *
 * A file gone by then (a logrotate's compress or delete after the kill) cannot be read:
 * whether its last line was left under way is then what the record says, the pump
 * keeping in it whether the last byte it wrote ended a line (one byte, written only when
 * that changes). Without it, a kill before the pump acted on the SIGUSR1 left no trace
 * of a line under way, and its rest opened the new log unannounced (an outside review:
 * 10 of 13 cycles).
 *
 * The record is one pwrite of less than a page at offset 0 of a file in the page cache:
 * a SIGKILL does not cut it (a signal is acted on between pages of a write, never in
 * one), and a crash of the whole machine ends the pipes too, so no fsync.
 */
#define _GNU_SOURCE
#include "log_place.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolve.h"

static const char MAGIC[8] = "dm-plc1";

struct record {
  char magic[sizeof MAGIC];
  struct dm_log_place place;
};

_Static_assert(sizeof(struct record) <= 4096, "a record is written in one page");
_Static_assert(offsetof(struct dm_log_place, line_open) > offsetof(struct dm_log_place, path),
               "line_open is where the version before had padding");
/** How long a record of the version before the file's birth was kept is. */
enum {
  RECORD_BEFORE_BIRTH = offsetof(struct record, place) + offsetof(struct dm_log_place, birth_sec)
};
_Static_assert(RECORD_BEFORE_BIRTH == 3120, "the fields before the birth are where they were");

/** How many names of the log's directory are looked at for a file moved away. */
enum { SCAN_MAX = 10000 };

void dm_place_save(int fd, const struct dm_log_place *place) {
  if (fd < 0) return;
  struct record record;
  memset(&record, 0, sizeof record);
  memcpy(record.magic, MAGIC, sizeof MAGIC);
  record.place = *place;
  record.place.path[sizeof record.place.path - 1] = '\0';
  (void)!pwrite(fd, &record, sizeof record, 0);
}

void dm_place_save_line_open(int fd, bool line_open) {
  if (fd < 0) return;
  char byte = line_open;
  off_t at = (off_t)(offsetof(struct record, place) + offsetof(struct dm_log_place, line_open));
  (void)!pwrite(fd, &byte, 1, at);
}

bool dm_place_birth(int fd, int64_t *sec, int64_t *nsec) {
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_BTIME, &stx) != 0 ||
      (stx.stx_mask & STATX_BTIME) == 0)
    return false;
  *sec = stx.stx_btime.tv_sec;
  *nsec = stx.stx_btime.tv_nsec;
  return true;
}

bool dm_place_load(int fd, struct dm_log_place *place) {
  struct record record;
  memset(&record, 0, sizeof record);
  ssize_t length = fd < 0 ? -1 : pread(fd, &record, sizeof record, 0);
  // One of the version before has no birth: zero, not known.
  if ((length != (ssize_t)sizeof record && length != RECORD_BEFORE_BIRTH) ||
      memcmp(record.magic, MAGIC, sizeof MAGIC) != 0)
    return false;
  *place = record.place;
  place->path[sizeof place->path - 1] = '\0';
  return true;
}

/**
 * Whether `st` is the place's file, and the owner's own regular file with one link. Its
 * inode number may have been given again to a file made since (see the record's birth),
 * checked once it is open.
 */
static bool is_place(const struct stat *st, const struct dm_log_place *place, uid_t owner) {
  return S_ISREG(st->st_mode) && (uint64_t)st->st_dev == place->device &&
         (uint64_t)st->st_ino == place->inode && st->st_uid == owner && st->st_nlink == 1;
}

/**
 * `name` in `dir` opened for writing if it is the place's file; or -1. Looked at before it
 * is opened (nothing else is opened, a device or a FIFO put there since), and after.
 */
static int open_if_same(int dir, const char *name, const struct dm_log_place *place, uid_t owner,
                        int64_t *size) {
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !is_place(&st, place, owner)) return -1;
  int fd = dm_open_nomagic(dir, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0, 0);
  if (fd < 0) return -1;
  int64_t sec = 0, nsec = 0;
  bool unknown =
      (place->birth_sec == 0 && place->birth_nsec == 0) || !dm_place_birth(fd, &sec, &nsec);
  bool born_then = unknown || (sec == place->birth_sec && nsec == place->birth_nsec);
  if (fstat(fd, &st) == 0 && is_place(&st, place, owner) && born_then) {
    *size = st.st_size;
    return fd;
  }
  close(fd);
  return -1;
}

/** Looks for the place's file by identity among the names of `dir`; an fd, or -1. */
static int scan(int dir, const struct dm_log_place *place, uid_t owner, int64_t *size,
                char *found, size_t room) {
  int listing = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *entries = listing < 0 ? NULL : fdopendir(listing);
  if (entries == NULL) {
    if (listing >= 0) close(listing);
    return -1;
  }
  int fd = -1;
  struct dirent *entry;
  for (int count = 0; fd < 0 && count < SCAN_MAX && (entry = readdir(entries)) != NULL; count++) {
    fd = open_if_same(dir, entry->d_name, place, owner, size);
    if (fd >= 0) snprintf(found, room, "%s", entry->d_name);
  }
  closedir(entries);
  return fd;
}

int dm_place_open(const struct dm_log_place *place, const char *log_path, uid_t owner,
                  int64_t *size, char *where, size_t room) {
  const char *name;
  int dir = place->path[0] == '/' ? dm_open_parent(place->path, &name) : -1;
  int fd = dir >= 0 ? open_if_same(dir, name, place, owner, size) : -1;
  if (dir >= 0) close(dir);
  if (fd >= 0) {
    snprintf(where, room, "%s", place->path);
    return fd;
  }
  dir = dm_open_parent(log_path, &name);
  if (dir < 0) return -1;
  char found[256];
  fd = scan(dir, place, owner, size, found, sizeof found);
  close(dir);
  if (fd >= 0) snprintf(where, room, "%.*s%s", (int)(name - log_path), log_path, found);
  return fd;
}
