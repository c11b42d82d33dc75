/*
 * The copy path of the log pump (time stamps, a rotation near) writes a chunk it formats
 * itself; the chunk's bytes must leave the pipe at some moment, before or after the write,
 * and a SIGKILL of the manager between the two either loses the chunk or writes it twice
 * (an outside review counted up to 366 lines twice, and a line torn by a kill in the
 * middle of the write). The journal closes that window: the chunk is spliced from the
 * pipe into this file (the consume: each byte is then either still in the pipe or here),
 * formatted and written into the log, and its record marked done. A pump that finds a
 * record not done puts the log back to the size it had before the chunk and writes the
 * chunk again, with the same time stamp.
 *
 * The journal lives in the page cache: a killed process loses nothing of it, so no fsync
 * is needed (a crash of the whole machine ends the pipes too). It is a sequence of
 * records, each a head (struct record) then the chunk, appended one after the other and
 * emptied every JOURNAL_WRAP bytes rather than at each chunk (an ftruncate per chunk
 * measured about 5% more CPU per MB). The last record's length is the file's size past
 * its head, so that a kill in the middle of the splice leaves a journal that says what
 * the pipe lost; a record is marked done once its chunk is wholly in the log.
 */
#define _GNU_SOURCE
#include "log_journal.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { HEAD = 128, JOURNAL_WRAP = 256 * 1024};

static const char MAGIC[8] = "dm-jrn1";
enum { TAKING = 1, DONE = 2 };

struct mark {
  int64_t length; /* once done */
  int64_t state;
};

struct record {
  char magic[sizeof MAGIC];
  struct mark mark;
  struct dm_journal_head head;
};

_Static_assert(sizeof(struct record) <= HEAD, "a record's head fits before its chunk");

int64_t dm_journal_take(struct dm_journal *journal, const struct dm_journal_head *head,
                        int pipe_fd, int64_t length) {
  if (journal->fd < 0) return 0;
  if (journal->end > JOURNAL_WRAP) dm_journal_reset(journal);
  struct record record;
  memset(&record, 0, sizeof record);
  memcpy(record.magic, MAGIC, sizeof MAGIC);
  record.mark.state = TAKING;
  record.head = *head;
  journal->record = journal->end;
  if (pwrite(journal->fd, &record, sizeof record, journal->record) != (ssize_t)sizeof record)
    return 0;
  loff_t offset = journal->record + HEAD;
  int64_t moved = 0;
  while (moved < length) {
    ssize_t count = splice(pipe_fd, NULL, journal->fd, &offset, (size_t)(length - moved),
                           SPLICE_F_NONBLOCK);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break; /* the state directory's disk is full: what moved is taken */
    moved += count;
  }
  // An empty record (nothing moved) is no chunk to replay: the next one goes over it.
  journal->end = moved > 0 ? journal->record + HEAD + moved : journal->record;
  return moved;
}

void dm_journal_done(struct dm_journal *journal) {
  // One write, the state after the length: a kill that cuts it (at a page's end) leaves
  // the record taking, and the chunk is written again, the same, where it went.
  struct mark mark = {.length = journal->end - journal->record - HEAD, .state = DONE};
  (void)!pwrite(journal->fd, &mark, sizeof mark, journal->record + offsetof(struct record, mark));
}

/** Where the first record not done begins, and its head; -1 if there is none. */
static int64_t first_pending(const struct dm_journal *journal, const struct stat *st,
                             struct record *record) {
  int64_t at = 0;
  for (;;) {
    if (st->st_size <= at + HEAD) return -1;
    if (pread(journal->fd, record, sizeof *record, at) != (ssize_t)sizeof *record ||
        memcmp(record->magic, MAGIC, sizeof MAGIC) != 0)
      return -1;
    if (record->mark.state != DONE) return at;
    at += HEAD + record->mark.length;
  }
}

bool dm_journal_peek(const struct dm_journal *journal, struct dm_journal_head *head) {
  struct stat st;
  struct record record;
  if (journal->fd < 0 || fstat(journal->fd, &st) == -1 || first_pending(journal, &st, &record) < 0)
    return false;
  *head = record.head;
  head->stamp[DM_STAMP_LENGTH] = '\0';
  return true;
}

int64_t dm_journal_pending(struct dm_journal *journal, struct dm_journal_head *head, char *data,
                           int64_t room) {
  struct stat st;
  struct record record;
  if (journal->fd < 0 || fstat(journal->fd, &st) == -1) return 0;
  int64_t at = first_pending(journal, &st, &record);
  if (at < 0) return 0;
  int64_t length = st.st_size - at - HEAD;
  if (length > room) length = room;
  int64_t got = 0;
  while (got < length) {
    ssize_t count = pread(journal->fd, data + got, (size_t)(length - got), at + HEAD + got);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;
    got += count;
  }
  *head = record.head;
  head->stamp[DM_STAMP_LENGTH] = '\0';
  journal->record = at;
  journal->end = at + HEAD + got;
  return got;
}

int dm_journal_trim(int dir_fd, const char *name) {
  int fd = openat(dir_fd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd == -1) return -errno;
  struct dm_journal journal = {.fd = fd, .end = 0, .record = 0};
  struct stat st;
  struct record record;
  int result = 0;
  int64_t at = fstat(fd, &st) == -1 ? (result = -errno, 0) : first_pending(&journal, &st, &record);
  if (result == 0 && at < 0 && st.st_size > 0)
    result = ftruncate(fd, 0) == -1 ? -errno : 1;
  else if (result == 0 && at > 0) {
    // The chunk under way alone, put in place by a rename: a kill in the middle leaves the
    // journal as it was.
    char temporary[PATH_MAX];
    int named = snprintf(temporary, sizeof temporary, "%s.trim", name);
    int out = named < 0 || (size_t)named >= sizeof temporary
                  ? -1
                  : openat(dir_fd, temporary, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    char buffer[16384];
    for (int64_t from = at; out >= 0 && from < st.st_size;) {
      ssize_t got = pread(fd, buffer, sizeof buffer, from);
      if (got <= 0 || pwrite(out, buffer, (size_t)got, from - at) != got) {
        close(out);
        unlinkat(dir_fd, temporary, 0);
        out = -1;
        break;
      }
      from += got;
    }
    if (out < 0) result = -EIO;
    else {
      result = renameat(dir_fd, temporary, dir_fd, name) == -1 ? -errno : 1;
      close(out);
      if (result < 0) unlinkat(dir_fd, temporary, 0);
    }
  }
  close(fd);
  return result;
}

void dm_journal_reset(struct dm_journal *journal) {
  while (ftruncate(journal->fd, 0) == -1 && errno == EINTR) {
  }
  journal->end = journal->record = 0;
}
