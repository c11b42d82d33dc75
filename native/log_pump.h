/*
 * The log pump: a thread (with a watchdog that moves on from a slow call) that moves
 * daemons' output from their pipes into their log files (see log_pump.c).
 * log_pump_napi.c is its JS side.
 */
#ifndef DM_LOG_PUMP_H
#define DM_LOG_PUMP_H

#include <stdbool.h>
#include <stdint.h>

#include "as_user.h"

enum dm_pump_event_type {
  DM_PUMP_ERROR = 1,     /* a write or open failed: output is dropped (once per episode) */
  DM_PUMP_RECOVERED = 2, /* writing works again */
  DM_PUMP_ROTATED = 3,
  DM_PUMP_EOF = 4,   /* every writer of the pipe is gone and it is empty */
  DM_PUMP_STUCK = 5, /* the owner's files stopped answering: their pipes are out of the pump */
  DM_PUMP_DONE = 6,  /* a command finished: `token` and `value` say which and what */
};

struct dm_pump_event {
  enum dm_pump_event_type type;
  int32_t id;
  void *token;
  int64_t value;
  char message[768];
};

/** Called on a pump or watchdog thread; must hand the event to the event loop and free it. */
typedef void (*dm_pump_emit)(struct dm_pump_event *event);

struct dm_pump_options {
  int64_t max_bytes; /* rotate past this size; 0 never */
  int keep;
  bool timestamps;
};

/** Starts the pump and its watchdog; 0 or -errno. */
int dm_pump_start(dm_pump_emit emit, int deadline_ms);

/**
 * Output dropped and not yet said in the log (a full disk): how many bytes, why (the
 * write's errno; 0: no file could be opened), and whether the pipe's next bytes are the
 * rest of a dropped line. Handed from one manager to the next, so the line that says so
 * counts what both dropped.
 */
struct dm_pump_gap {
  int64_t bytes;
  int error;
  bool skip_rest;
};

/**
 * Takes over `file_fd`, `journal_fd` and `place_fd` (the pump closes them) and starts
 * moving `pipe_fd`'s bytes into the file; `gap` (or NULL) is what an earlier pump dropped
 * there and did not say yet. `journal_fd` (-1: none) is the daemon's journal in the state
 * directory (log_journal.c): a chunk an earlier pump left there is written first.
 * `place_fd` (-1: none) says which file the pump writes (log_place.c): a line an earlier
 * pump left under way in a file a logrotate moved is finished there first.
 */
int dm_pump_attach(int32_t id, int pipe_fd, int file_fd, const struct dm_pump_options *options,
                   const struct dm_creds *owner, const char *path, const struct dm_pump_gap *gap,
                   int journal_fd, int place_fd);

/**
 * The daemon's next run's start banner, as the keeper will write it into the pipe (its
 * newline included): the pump makes it begin a line of its own. 0, or -ENOENT.
 */
int dm_pump_expect_banner(int32_t id, const char *banner);

/* DM_CMD_REPLAY is the pump's own (see dm_pump_attach): not one for JS. */
enum dm_pump_command {
  DM_CMD_DETACH,
  DM_CMD_REOPEN,
  DM_CMD_REOPEN_ALL,
  DM_CMD_PAUSE,
  DM_CMD_RESUME,
  DM_CMD_REPLAY
};

/** Queues a command for the pump thread; a DONE event with `token` says when it is done. */
int dm_pump_command(enum dm_pump_command kind, int32_t id, void *token);

/** How many files written before a reopen (an external logrotate) a sink remembers. */
enum { DM_PUMP_RETIRED = 4 };

/**
 * A log file by its identity (st_dev, st_ino; 0, 0 for none) and its birth time (0, 0: not
 * known): ext4 gives a file made after one was deleted its inode number back, and with
 * `log_keep=1` the next log got the number of the one rotation deleted.
 */
struct dm_pump_file {
  uint64_t dev, ino;
  int64_t birth_sec, birth_nsec;
};

struct dm_pump_stats {
  int64_t bytes, dropped, size;
  bool found, failing, stuck, eof;
  bool away; /* a call on its file is under way on a thread the pump moved on from */
  char reason[768];
  struct dm_pump_gap gap;
  /* The file written now; the last ones written before a reopen (oldest first), and
   * where each was then. */
  struct dm_pump_file current;
  /* Whether the file written now begins with the rest of a line the rotation that made it
   * cut: 0 not known (opened otherwise, or by another manager), 1 no, 2 yes. */
  int current_begins;
  int retired_count;
  struct dm_pump_file retired[DM_PUMP_RETIRED];
  char retired_path[DM_PUMP_RETIRED][4096];
};
void dm_pump_stats(int32_t id, struct dm_pump_stats *stats);

#endif
