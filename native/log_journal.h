/*
 * A log pump's journal: the chunk being written into a log, kept in a small file of the
 * manager's state directory until it is wholly in the log (see log_journal.c).
 */
#ifndef DM_LOG_JOURNAL_H
#define DM_LOG_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "log_files.h"

/** Where a chunk goes: what a next manager needs to write it again, the same. */
struct dm_journal_head {
  int64_t offset;          /* the log's size before the chunk */
  uint64_t device, inode;  /* which log */
  char stamp[DM_STAMP_LENGTH + 1];
  bool line_start;         /* the chunk begins a line (it gets a stamp) */
};

/** An open journal: its file (-1: none), and where its next record goes. */
struct dm_journal {
  int fd;
  int64_t end, record;
};

/**
 * Records `head`, then moves `length` bytes from the head of `pipe_fd` into the journal:
 * that is their consume. How many were moved; 0 when the journal cannot take them (they
 * are still in the pipe).
 */
int64_t dm_journal_take(struct dm_journal *journal, const struct dm_journal_head *head,
                        int pipe_fd, int64_t length);

/** The chunk `take` moved is wholly in the log. */
void dm_journal_done(struct dm_journal *journal);

/**
 * A chunk a pump took and may not have written whole (it was killed): its head, and its
 * bytes in `data` (at most `room`); its record is then the one `done` marks. How many
 * bytes; 0 when there is none.
 */
int64_t dm_journal_pending(struct dm_journal *journal, struct dm_journal_head *head, char *data,
                           int64_t room);

/** Whether the journal holds a chunk not done (see dm_journal_pending), and its head. */
bool dm_journal_peek(const struct dm_journal *journal, struct dm_journal_head *head);

/**
 * At a manager's start, before any pump uses it: empties the journal `name` of `dir_fd` of
 * every chunk done, keeping only the one a killed pump was writing, if any, for its replay.
 * 1: trimmed; 0: nothing to trim; a negative errno.
 */
int dm_journal_trim(int dir_fd, const char *name);
/** Empties the journal (after a replay, or at the start). */
void dm_journal_reset(struct dm_journal *journal);

#endif
