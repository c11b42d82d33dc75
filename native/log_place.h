/*
 * Which file a log pump writes, kept in the state directory so that a line left under way
 * by a killed manager is finished where it began (see log_place.c).
 */
#ifndef DM_LOG_PLACE_H
#define DM_LOG_PLACE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct dm_log_place {
  uint64_t pipe_device, pipe_inode; /* the pipe whose bytes go there */
  uint64_t device, inode;           /* the file; 0, 0: none (a rotation under way) */
  bool under_way;                   /* a reopen waits for the end of the line in it */
  char path[3072];                  /* where it was last seen */
  /* The last byte the pump wrote there did not end a line. Last, in what was the
   * struct's padding: a record of the version before reads as false, and that version
   * reads this one. */
  bool line_open;
  /* When the file was made (statx's btime; 0, 0: not known). An inode number freed is
   * given to the next file made: a logrotate that compresses several logs one after the
   * other makes each .gz with the number of the log compressed before it. */
  int64_t birth_sec, birth_nsec;
};

/** When the file `fd` was made, if its file system says (false: not known). */
bool dm_place_birth(int fd, int64_t *sec, int64_t *nsec);

/** Records `place` in `fd` (-1: nothing). */
void dm_place_save(int fd, const struct dm_log_place *place);

/** Records in `fd` (-1: nothing) only whether the last byte written ended a line. */
void dm_place_save_line_open(int fd, bool line_open);

/** What a pump recorded in `fd`; false if nothing is there. */
bool dm_place_load(int fd, struct dm_log_place *place);

/**
 * The file `place` names, wherever it is now: at its recorded path, else under any name
 * in the directory of `log_path` (a logrotate's `mv`). Run as the log's owner. Opened for
 * writing if it is the owner's regular file with one link, made when the recorded one was
 * (where both are known): an fd, its size, and its path in `where`; -1 when it is gone.
 */
int dm_place_open(const struct dm_log_place *place, const char *log_path, uid_t owner,
                  int64_t *size, char *where, size_t room);

#endif
