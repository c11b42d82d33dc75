/*
 * The log pump moves each daemon's output from its pipe into its log file, on a thread
 * of its own with epoll, so that neither a slow disk nor a busy daemon costs the event
 * loop anything, and nothing read is ever held only in the manager's memory.
 *
 * Two ways to move bytes:
 *  - splice(2), pipe to file, when there are no timestamps to add and no rotation is
 *    near: the kernel copies the pipe's pages into the page cache, no copy through the
 *    manager, and a byte is at every moment either in the pipe or in the file. A
 *    SIGKILL of the manager between two calls loses nothing. At most SPLICE_MAX a call:
 *    see splice_chunk.
 *  - copy, for timestamps or near a rotation: tee(2) duplicates the pipe's bytes into a
 *    scratch pipe WITHOUT consuming them, the copy is read, formatted and written, and
 *    only then exactly what was written is consumed from the source (spliced to
 *    /dev/null). A kill between the write and the consume leaves that chunk in the pipe
 *    as well as in the file: the next manager writes it again. At most one chunk is
 *    duplicated, none is ever lost.
 * Files are written at an explicit offset (splice refuses O_APPEND files): only the pump
 * writes them.
 *
 * Rotation splits a chunk at its last newline that fits, so a rotation never cuts a line
 * (a single line longer than max-bytes may still be). Renaming and reopening are done
 * as the log's owner (as_user.c, on the pump thread only).
 *
 * A failing write (disk full) drops what of the chunk the disk did not take (consumed,
 * counted), reports once, and writing resumes by itself when a write works again. Around
 * such a gap no line is joined to a piece of another: the rest of a line cut by the gap
 * is dropped too, and a file left ending in half a line gets a newline before the next
 * one. A full pipe never blocks the pump: it only reads pipes, nonblocking.
 *
 * A slow or stuck file system is the watchdog's business: a thread that sleeps while the
 * pump is idle and, while it is busy, wakes at the "move on" deadline of the current
 * operation (MOVE_ON_MS). If that operation is still running then, the pump thread is
 * left to it: its owner's pipes are taken out of the pump (they fill and their daemons
 * block, as on a slow disk: their owner's problem), and a new pump thread takes over for
 * everybody else at once, so one user's hung NFS or FUSE mount pauses nobody else's logs
 * for more than MOVE_ON_MS. The thread left behind exits when its call returns, and the
 * owner's pipes come back. An owner's pipes stay out while one of theirs is, so a user
 * holds at most one thread however many daemons and hangs they have. If the call is
 * still running at the deadline given to dm_pump_start (10 s), the owner's logs are said
 * to be stuck (STUCK events), and RECOVERED when it returns.
 *
 * The kernel does not let a thread out of a FUSE request its server has read (it waits
 * uninterruptibly, fatal signals included), and a process exits only once every thread
 * has: while such a call is in flight, the manager's process stays (a zombie) after its
 * exit, holding its descriptors, locks included, until the call returns (SECURITY.md).
 */
#define _GNU_SOURCE
#include "log_pump.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log_files.h"
#include "log_journal.h"
#include "log_place.h"
#include "user_mounts.h"

enum { CHUNK = 64 * 1024, SPLICE_MAX = 64 * 1024 };
/**
 * How long one operation may take before the pump moves on without its owner (see the
 * top). Far above a write to a local disk (tens of microseconds for a chunk), below what a
 * person notices in a log that is followed.
 */
enum { MOVE_ON_MS = 100 };

struct sink {
  struct sink *next;
  int32_t id;
  int pipe_fd, file_fd;
  int64_t offset; /* the file's size: where the next byte goes */
  uint64_t file_device, file_inode; /* which file file_fd is (the journal names it) */
  /* The copy path's chunk until it is wholly in the log (log_journal.c; fd -1: none).
   * A chunk a killed pump left there (`replay`) is written before anything of the pipe. */
  struct dm_journal journal;
  bool replay;
  /* Its owner's journals together (see owner_journals; NULL: no journal), and what of
   * them is this journal's as last counted. */
  struct owner_journals *journals;
  int64_t journal_counted;
  /* Which file it writes, kept beside the journal for a manager after this one
   * (log_place.c; fd -1: none), for this pipe (its identity). `left`: what a killed pump
   * left there, looked at when the log is first opened; `left_gone`: the file where a
   * line was left under way, not found, said in the log once it is open. */
  int place_fd;
  uint64_t pipe_device, pipe_inode;
  struct dm_log_place *left;
  char *left_gone;
  /* Whether the last byte written into the file open now did not end a line, as the
   * record says it (kept there for a file gone before the next manager looks: see
   * log_place.c); and the file open now, read-only, for the splice path to see that byte. */
  bool line_open;
  int seen_fd;
  int64_t birth_sec, birth_nsec; /* when the file open now was made (0, 0: not known) */
  /* A reopen asked while a line was under way waits for its end (as a rotation does),
   * for at most LINE_SLACK more bytes: reopen_slack counts them. */
  bool reopen_pending;
  int64_t reopen_slack;
  /* The start banner of the daemon's next run (see dm_pump_expect_banner): set by the
   * event loop's thread (banner_next, swapped atomically), taken by the pump's. */
  char *banner_next, *banner;
  int64_t banner_scanned;
  struct dm_pump_options options;
  struct dm_creds owner;
  char *path;
  bool at_line_start, in_epoll, busy, eof, failing;
  /* parked: out of the pump while a call on one of its owner's files runs on a thread the
   * pump moved on from; away: that call is this sink's (since `since`); stuck: it passed
   * the deadline and was said (STUCK). */
  bool parked, away, stuck;
  struct timespec since;
  /** SIGUSR1 asked to reopen it; done by the pump when it is not parked. */
  bool reopen_due;
  /* Output was dropped since the last good write: the file may end in half a line, and
   * (skip_rest) what comes next may be the rest of a dropped line. */
  bool gap, skip_rest;
  /** Bytes were spliced since the copy path last saw a line's end: see copy_chunk. */
  bool line_unknown;
  int64_t bytes, dropped;
  /* Bytes dropped in the current gap, and why (the errno of the write; 0: no file open). */
  int64_t gap_dropped;
  int gap_error;
  char reason[768];
  struct timespec last_open; /* when opening was last tried: retried at most once a second */
  /* The file written now (0, 0: none), and the last DM_PUMP_RETIRED written before a
   * reopen (oldest first) with where each was then, for readers through the manager: see
   * dm_pump_stats. Changed under the lock. */
  struct dm_pump_file current;
  int current_begins; /* see dm_pump_stats's */
  struct dm_pump_file retired[DM_PUMP_RETIRED];
  char *retired_path[DM_PUMP_RETIRED];
  int retired_count;
  void *detach_token; /* a detach waiting for a stuck thread to let go */
};

struct command {
  struct command *next;
  enum dm_pump_command kind;
  int32_t id;
  void *token;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watchdog_wake;
static struct sink *sinks;

/*
 * What the journals of one owner's pipes hold together. A chunk stays in its journal, done,
 * until the pipe is drained or the journal wraps (up to JOURNAL_WRAP and a chunk each), so
 * as many pipes with a backlog as an owner has took that much each: an outside review
 * (56b, F1) had tasks that fill a 1 MiB pipe and exit fill 20-32 MB of a 32 MB state
 * directory, `max-daemons=3`, and another user's stop could not be saved. Past
 * OWNER_JOURNALS_MAX, each chunk of theirs leaves the journal once written (an ftruncate
 * a chunk, for them only): the journal still holds every chunk under way.
 */
struct owner_journals {
  struct owner_journals *next;
  uid_t uid;
  int sinks;     /* lock held */
  int64_t bytes; /* atomic: a thread the pump moved on from writes too */
};
enum { OWNER_JOURNALS_MAX = 1024 * 1024 };
static struct owner_journals *owner_journals; /* lock held */
static struct command *commands, *commands_tail;
static dm_pump_emit emit;
static int epfd = -1, wakefd = -1, devnull = -1, deadline_ms;
static bool paused;
/* The current pump thread's generation, and what it is doing (for the watchdog). */
static int generation;
static bool busy;
static struct sink *busy_sink;
static struct timespec busy_since;
/* The watchdog's sleep does not end at the current operation's move-on deadline (the pump
 * was idle when it began): the next operation wakes it. */
static bool watchdog_idle;

/* ---- small helpers (lock held where said) ---- */

static void send_event(enum dm_pump_event_type type, int32_t id, void *token, int64_t value,
                       const char *message) {
  struct dm_pump_event *event = calloc(1, sizeof *event);
  if (event == NULL) return;
  event->type = type;
  event->id = id;
  event->token = token;
  event->value = value;
  if (message != NULL) snprintf(event->message, sizeof event->message, "%s", message);
  emit(event);
}

static struct sink *find(int32_t id) {
  for (struct sink *sink = sinks; sink != NULL; sink = sink->next)
    if (sink->id == id) return sink;
  return NULL;
}

/** Puts a sink in or out of the epoll set (lock held). */
static void watch(struct sink *sink, bool on) {
  if (on == sink->in_epoll) return;
  if (on) {
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = (uint64_t)(uint32_t)sink->id};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, sink->pipe_fd, &event) == 0) sink->in_epoll = true;
  } else {
    epoll_ctl(epfd, EPOLL_CTL_DEL, sink->pipe_fd, NULL);
    sink->in_epoll = false;
  }
}

static bool wanted(const struct sink *sink) {
  return !paused && !sink->parked && !sink->eof;
}

/** Whether `uid`'s pipes are out of the pump, a call of theirs on a thread left to it (lock held). */
static bool owner_parked(uid_t uid) {
  for (struct sink *sink = sinks; sink != NULL; sink = sink->next)
    if (sink->parked && sink->owner.uid == uid) return true;
  return false;
}

static void fail(struct sink *sink, const char *message) {
  snprintf(sink->reason, sizeof sink->reason, "%s", message);
  if (sink->failing) return;
  sink->failing = true;
  send_event(DM_PUMP_ERROR, sink->id, NULL, 0, message);
}

static void succeed(struct sink *sink) {
  if (!sink->failing) return;
  sink->failing = false;
  send_event(DM_PUMP_RECOVERED, sink->id, NULL, 0, NULL);
}

/** Consumes `count` bytes of the pipe (already copied or to be dropped). */
static void consume(struct sink *sink, int64_t count) {
  while (count > 0) {
    ssize_t moved = splice(sink->pipe_fd, NULL, devnull, NULL, (size_t)count, SPLICE_F_NONBLOCK);
    if (moved <= 0 && errno == EINTR) continue;
    if (moved <= 0) return;
    count -= moved;
  }
}

static const char *error_name(int error) {
  const char *name = strerrorname_np(error);
  return name != NULL ? name : "error";
}

/**
 * Counts the first `count` bytes of `data` as dropped (seen: whether they end a line is
 * known); they are out of the pipe already (in the journal).
 */
static void count_dropped(struct sink *sink, const char *data, int64_t count) {
  sink->dropped += count;
  sink->gap_dropped += count;
  sink->gap = true;
  sink->skip_rest = data[count - 1] != '\n';
  sink->at_line_start = !sink->skip_rest;
}

/** Drops the first `count` bytes of `data`, still in the pipe. */
static void drop_seen(struct sink *sink, const char *data, int64_t count) {
  consume(sink, count);
  count_dropped(sink, data, count);
}

/* ---- file steps, as the owner ---- */

/**
 * Records which file the sink writes, for a manager after this one (log_place.c). With a
 * reopen waiting for a line's end, the file is noted where it is now (a logrotate moved
 * it): its descriptor's link in /proc.
 */
static void keep_place_of(struct sink *sink, struct dm_pump_file file) {
  if (sink->place_fd < 0) return;
  struct dm_log_place place;
  memset(&place, 0, sizeof place);
  place.pipe_device = sink->pipe_device;
  place.pipe_inode = sink->pipe_inode;
  place.device = file.dev;
  place.inode = file.ino;
  place.under_way = sink->reopen_pending && sink->file_fd >= 0;
  place.line_open = sink->line_open;
  if (file.dev == sink->current.dev && file.ino == sink->current.ino) {
    place.birth_sec = sink->birth_sec;
    place.birth_nsec = sink->birth_nsec;
  }
  ssize_t length = -1;
  if (place.under_way) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", sink->file_fd);
    length = readlink(link, place.path, sizeof place.path - 1);
  }
  if (length <= 0 || place.path[0] != '/') snprintf(place.path, sizeof place.path, "%s", sink->path);
  else place.path[length] = '\0';
  dm_place_save(sink->place_fd, &place);
}

static void keep_place(struct sink *sink) {
  keep_place_of(sink, sink->current);
}

/** Whether the last byte written ended a line, into the record when that changed. */
static void keep_line_end(struct sink *sink, char last) {
  bool open = last != '\n';
  if (open == sink->line_open) return;
  sink->line_open = open;
  dm_place_save_line_open(sink->place_fd, open);
}

/** The splice path's second look at the file open now (see seen_fd): let go of. */
static void forget_seen(struct sink *sink) {
  if (sink->seen_fd >= 0) close(sink->seen_fd);
  sink->seen_fd = -1;
}

/**
 * The file the pump writes now, by its identity (fd -1: none). One reopened where it
 * was (a SIGUSR1 with no logrotate, a start) is not one of the files written before.
 */
static void note_file(struct sink *sink, int fd) {
  forget_seen(sink);
  // Nothing written into it yet (open_left_file says otherwise, a line under way there).
  sink->line_open = false;
  struct stat st;
  struct dm_pump_file file = {0, 0, 0, 0};
  if (fd >= 0 && fstat(fd, &st) == 0) file = (struct dm_pump_file){(uint64_t)st.st_dev, (uint64_t)st.st_ino, 0, 0};
  if (fd < 0 || !dm_place_birth(fd, &sink->birth_sec, &sink->birth_nsec))
    sink->birth_sec = sink->birth_nsec = 0;
  file.birth_sec = sink->birth_sec;
  file.birth_nsec = sink->birth_nsec;
  pthread_mutex_lock(&lock);
  int last = sink->retired_count - 1;
  if (fd >= 0 && last >= 0 && sink->retired[last].dev == file.dev && sink->retired[last].ino == file.ino &&
      sink->retired[last].birth_sec == file.birth_sec && sink->retired[last].birth_nsec == file.birth_nsec) {
    free(sink->retired_path[last]);
    sink->retired_count--;
  }
  sink->current = file;
  sink->current_begins = 0;
  pthread_mutex_unlock(&lock);
  // The journal's chunks name the file they were written into.
  if (fd >= 0 && (file.dev != 0 || file.ino != 0)) {
    sink->file_device = file.dev;
    sink->file_inode = file.ino;
  }
  keep_place(sink);
}

/**
 * The file written until now is written no more: kept (the last DM_PUMP_RETIRED of them)
 * with where it is (`path`, taken; NULL: unknown), so that a reader through the manager
 * (`dmctl ID tail` of someone else's daemon) finishes it there, then goes on to the file
 * written after it.
 */
static void retire_current(struct sink *sink, char *path) {
  pthread_mutex_lock(&lock);
  if (path != NULL && (sink->current.dev != 0 || sink->current.ino != 0)) {
    if (sink->retired_count == DM_PUMP_RETIRED) {
      free(sink->retired_path[0]);
      memmove(sink->retired, sink->retired + 1, sizeof sink->retired[0] * (DM_PUMP_RETIRED - 1));
      memmove(sink->retired_path, sink->retired_path + 1, sizeof sink->retired_path[0] * (DM_PUMP_RETIRED - 1));
      sink->retired_count--;
    }
    sink->retired[sink->retired_count] = sink->current;
    sink->retired_path[sink->retired_count++] = path;
  } else free(path);
  sink->current = (struct dm_pump_file){0, 0, 0, 0};
  pthread_mutex_unlock(&lock);
}

/**
 * Closes the file written until a reopen, noting where it is now: an external logrotate
 * renamed it (to any name: `NAME.log-20261204`, another directory). Its name is its
 * descriptor's link in /proc, read, never opened.
 */
static void retire_file(struct sink *sink) {
  char link[64], where[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", sink->file_fd);
  ssize_t length = readlink(link, where, sizeof where - 1);
  retire_current(sink, length > 0 && where[0] == '/' ? strndup(where, (size_t)length) : NULL);
  forget_seen(sink);
  close(sink->file_fd);
  sink->file_fd = -1;
}

static int64_t write_all(struct sink *sink, const char *data, int64_t length, int *error);
static char last_byte(const struct sink *sink);
static int end_torn_line(struct sink *sink);

/**
 * The first open after a manager was killed (or handed over): a line it left under way in
 * a file that is not the log at its path any more (a logrotate moved it, maybe before the
 * SIGUSR1 was even acted on) is finished there, then the log is reopened, as by the reopen
 * it was waiting in (see log_place.c). True when that file is the one open now. Not found:
 * if a reopen was known to wait there, the log says so once it is open.
 */
static bool open_left_file(struct sink *sink) {
  struct dm_log_place *left = sink->left;
  sink->left = NULL;
  char where[4096];
  int64_t size = 0;
  struct dm_saved saved;
  int became = dm_become(&sink->owner, &saved);
  int fd = became == 0 ? dm_place_open(left, sink->path, sink->owner.uid, &size, where, sizeof where) : -1;
  if (dm_return(&saved) != 0) abort();
  bool open = false;
  if (fd < 0) {
    // Gone: a line was under way in it if a reopen waited there, or if the last byte
    // written did not end one (killed before the pump acted on the SIGUSR1: the file is
    // named then only by the log's path, where it was before the logrotate moved it).
    if (became == 0 && left->under_way) sink->left_gone = strdup(left->path);
    else if (became == 0 && left->line_open &&
             asprintf(&sink->left_gone, "the file that was %s", left->path) < 0)
      sink->left_gone = NULL;
  } else if (strcmp(where, sink->path) == 0) {
    close(fd); /* still the log at its path: opened there as always */
  } else {
    sink->file_fd = fd;
    sink->offset = size;
    // A chunk the journal holds for it is written again there first (replay), whatever
    // the file ends with now.
    struct dm_journal_head head;
    bool chunk = sink->replay && dm_journal_peek(&sink->journal, &head) &&
                 head.device == left->device && head.inode == left->inode;
    open = chunk || last_byte(sink) != '\n';
    if (!open) {
      close(fd);
      sink->file_fd = -1;
    }
  }
  free(left);
  if (!open) return false;
  note_file(sink, sink->file_fd);
  sink->line_open = true;
  sink->at_line_start = false;
  sink->line_unknown = false;
  sink->reopen_pending = true;
  sink->reopen_slack = 0;
  keep_place(sink);
  return true;
}

/** The file a line was left under way in is gone (see open_left_file): said in the log. */
static void say_left_gone(struct sink *sink) {
  char *gone = sink->left_gone;
  sink->left_gone = NULL;
  char stamp[DM_STAMP_LENGTH + 1], line[4400];
  dm_stamp(stamp);
  int length = snprintf(line, sizeof line,
                        "--- %.24s daemon-manager: the line under way when the log was reopened "
                        "began in %s, which is gone; its rest follows\n",
                        stamp, gone);
  free(gone);
  if (length >= (int)sizeof line) length = (int)sizeof line - 1;
  int error = end_torn_line(sink);
  if (error == 0) write_all(sink, line, length, &error);
  sink->at_line_start = true;
  sink->line_unknown = false;
}

static void reopen(struct sink *sink) {
  /* A pipe emptied into /dev/null (its output is not logged any more) keeps that
   * descriptor: reopened as a log, the device would be refused, and the pipe not read. */
  if (sink->file_fd >= 0 && strcmp(sink->path, "/dev/null") == 0) return;
  clock_gettime(CLOCK_MONOTONIC, &sink->last_open);
  if (sink->file_fd >= 0) retire_file(sink);
  if (sink->left != NULL && open_left_file(sink)) return;
  struct dm_saved saved;
  char reason[768];
  int error = dm_become(&sink->owner, &saved);
  int fd = -1;
  if (error == 0) fd = dm_open_log(sink->path, sink->owner.uid, &sink->offset, reason, sizeof reason);
  else snprintf(reason, sizeof reason, "cannot act as the log's owner (%s)", strerror(-error));
  if (dm_return(&saved) != 0) abort(); /* cannot happen: the saved uid is 0 */
  if (fd < 0) return fail(sink, reason);
  // splice(2) refuses files opened O_APPEND; the pump writes at its own offset.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_APPEND);
  sink->file_fd = fd;
  note_file(sink, fd);
  if (sink->left_gone != NULL) say_left_gone(sink);
}

static void rotate(struct sink *sink) {
  bool open = sink->file_fd >= 0;
  // The file rotated away ends in the middle of a line (one longer than a file, cut on
  // purpose): the next one begins with its rest. Recorded for a reader through the
  // manager that finds the file before gone (compressed, deleted): without it, that rest
  // was shown as a line (an outside review, 66b, F2).
  bool cut = open && sink->line_open;
  forget_seen(sink);
  if (open) close(sink->file_fd);
  sink->file_fd = -1;
  // The file is left between two lines (or cut on purpose, a line too long): no manager
  // after this one is to finish a line in it once it is renamed.
  keep_place_of(sink, (struct dm_pump_file){0, 0, 0, 0});
  struct dm_saved saved;
  enum dm_step step;
  int error = dm_become(&sink->owner, &saved);
  if (error == 0) error = dm_rotate_path(sink->path, sink->options.keep, &step);
  if (dm_return(&saved) != 0) abort();
  if (error != 0) {
    char reason[768];
    if (error == -EREMOTE) dm_say_user_mount(reason, sizeof reason, "log file", sink->path);
    else snprintf(reason, sizeof reason, "cannot rotate %s (%s)", sink->path, strerror(-error));
    fail(sink, reason);
    note_file(sink, -1);
  } else {
    // Where the rotation put it (and further rotations move it on: NAME.log.2 ...).
    char *moved = NULL;
    if (open && asprintf(&moved, "%s.1", sink->path) < 0) moved = NULL;
    retire_current(sink, moved);
    send_event(DM_PUMP_ROTATED, sink->id, NULL, 0, sink->path);
  }
  reopen(sink);
  pthread_mutex_lock(&lock);
  if (error == 0 && open && sink->file_fd >= 0 && sink->offset == 0) sink->current_begins = cut ? 2 : 1;
  pthread_mutex_unlock(&lock);
}

/* ---- moving bytes ---- */

/**
 * Writes all of `data` at the file's offset; *error is the errno of a failure, else 0.
 * Returns how much was written: a full disk may take the first part of it.
 */
static int64_t write_all(struct sink *sink, const char *data, int64_t length, int *error) {
  int64_t done = 0;
  *error = 0;
  while (done < length) {
    ssize_t wrote = pwrite(sink->file_fd, data + done, (size_t)(length - done), sink->offset);
    if (wrote == -1 && errno == EINTR) continue;
    if (wrote <= 0) {
      *error = wrote == 0 ? EIO : errno;
      break;
    }
    done += wrote;
    sink->offset += wrote;
  }
  if (done > 0) keep_line_end(sink, data[done - 1]);
  return done;
}

/** How far past its limit a file may grow to end a line begun in it, not split it. */
#define LINE_SLACK 4096

/**
 * How many of the chunk's bytes go into the current file. Away from a rotation: all.
 * Near one: up to the last newline that still fits (0: rotate first), so the rotation
 * falls between two lines. A line that came in pieces (a chunk ended in its middle) is
 * finished in this file if its rest is short (LINE_SLACK), else cut where the file is
 * full; a line longer than a whole file is cut at the limit. Output without newlines
 * rotates like any other: no file grows past the limit by more than LINE_SLACK.
 */
static int64_t fitting(const struct sink *sink, const char *data, int64_t length) {
  int64_t max = sink->options.max_bytes;
  int64_t stamp = sink->options.timestamps ? DM_STAMP_LENGTH : 0;
  if (max <= 0) return length;
  if (!sink->at_line_start) {
    const char *newline = memchr(data, '\n', (size_t)length);
    int64_t rest = newline == NULL ? length : newline - data + 1;
    int64_t room = max - sink->offset;
    if (rest <= room || (newline != NULL && rest <= LINE_SLACK)) return rest;
    return room > 0 ? room : 0;
  }
  int64_t size = sink->offset, fits = 0;
  for (int64_t index = 0; index < length; index++) {
    if (index == 0 || data[index - 1] == '\n') size += stamp;
    size++;
    if (size > max) break;
    if (data[index] == '\n') fits = index + 1;
  }
  if (size <= max) return length;
  // Not a single line fits: a file that already has lines rotates; an empty one takes
  // the long line anyway (it could never fit).
  if (fits == 0 && sink->offset == 0) {
    const char *newline = memchr(data, '\n', (size_t)length);
    int64_t line = newline == NULL ? length : newline - data + 1;
    int64_t most = max > stamp ? max - stamp : 1;
    return line < most ? line : most;
  }
  return fits;
}

/**
 * Copies `length` raw bytes with `stamp` at each line start into `out`; its length. Line
 * by line (memchr, memcpy): a loop over each byte was a quarter of the pump's CPU.
 */
static int64_t stamp_lines(struct sink *sink, const char *data, int64_t length, const char *stamp,
                           char *out) {
  int64_t used = 0, index = 0;
  while (index < length) {
    if (sink->at_line_start) {
      memcpy(out + used, stamp, DM_STAMP_LENGTH);
      used += DM_STAMP_LENGTH;
    }
    const char *newline = memchr(data + index, '\n', (size_t)(length - index));
    int64_t end = newline == NULL ? length : newline - data + 1;
    memcpy(out + used, data + index, (size_t)(end - index));
    used += end - index;
    index = end;
    sink->at_line_start = newline != NULL;
  }
  return used;
}

/**
 * How many of the `length` raw bytes stamp_lines turned into the first `written` bytes
 * of its output are wholly in it (a stamp written alone brings none).
 */
static int64_t raw_written(const char *data, int64_t length, bool line_start, int64_t written) {
  int64_t used = 0;
  for (int64_t index = 0; index < length; index++) {
    if (index == 0 ? line_start : data[index - 1] == '\n') used += DM_STAMP_LENGTH;
    if (used + 1 > written) return index;
    used++;
  }
  return length;
}

/**
 * After a gap: a file that ends in the first half of a line (a write cut short by a full
 * disk) gets a newline, so the next line starts a line of its own. 0, or the errno.
 */
static char last_byte(const struct sink *sink) {
  char last = '\n';
  if (sink->offset > 0) {
    // The log is open for writing only: its last byte is read through a second open of
    // the same file (the descriptor's /proc link, not the path: nothing planted since).
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", sink->file_fd);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd >= 0 && pread(fd, &last, 1, sink->offset - 1) != 1) last = '\n';
    if (fd >= 0) close(fd);
  }
  return last;
}

static int end_torn_line(struct sink *sink) {
  if (last_byte(sink) == '\n') return 0;
  int error;
  write_all(sink, "\n", 1, &error);
  return error;
}

/**
 * After a gap: one line that says output was dropped there, and how much. The dropped
 * bytes may hold the banner of a run that started meanwhile: without it, what that run
 * wrote once space was back would read as the previous run's. 0, or the errno.
 */
static int note_gap(struct sink *sink) {
  if (sink->gap_dropped == 0) return 0;
  struct timespec now;
  struct tm utc;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &utc);
  char why[64];
  if (sink->gap_error != 0)
    snprintf(why, sizeof why, "cannot write: %s", error_name(sink->gap_error));
  else
    snprintf(why, sizeof why, "the log could not be opened");
  char line[256];
  int length = snprintf(line, sizeof line,
                        "--- %04d-%02d-%02dT%02d:%02d:%02d.%03ldZ daemon-manager: %lld bytes of "
                        "output dropped here (%s)\n",
                        utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                        utc.tm_sec, now.tv_nsec / 1000000, (long long)sink->gap_dropped, why);
  int error;
  write_all(sink, line, length, &error);
  if (error == 0) sink->gap_dropped = 0;
  return error;
}

/**
 * A reopen asked from outside (SIGUSR1 after a logrotate's mv, or before a start): at a
 * line's start at once; in the middle of one, once it ends (see before_reopen), so that
 * no line is cut between the old file and the new (an outside review found 9 of 10
 * reopens did) any more than a rotation cuts one. The wait outlives a killed manager: the
 * next one finishes the line in the old file (keep_place, open_left_file).
 */
static void reopen_between_lines(struct sink *sink) {
  if (sink->line_unknown && sink->file_fd >= 0) {
    sink->at_line_start = last_byte(sink) == '\n';
    sink->line_unknown = false;
  }
  if (sink->at_line_start || sink->file_fd < 0 || sink->eof) {
    sink->reopen_pending = false;
    reopen(sink);
    return;
  }
  sink->reopen_pending = true;
  sink->reopen_slack = 0;
  keep_place(sink);
}

/** No log file open (it could not be opened): tried again, at most once a second. */
static void retry_open(struct sink *sink) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (now.tv_sec - sink->last_open.tv_sec >= 1) reopen(sink);
}

/** The sink's journal counted in its owner's again, as it is now (see owner_journals). */
static void count_journal(struct sink *sink) {
  int64_t now = sink->journal.fd >= 0 ? sink->journal.end : 0;
  int64_t change = now - sink->journal_counted;
  sink->journal_counted = now;
  if (change != 0 && sink->journals != NULL)
    __atomic_add_fetch(&sink->journals->bytes, change, __ATOMIC_RELAXED);
}

static void reset_journal(struct sink *sink) {
  dm_journal_reset(&sink->journal);
  count_journal(sink);
}

/** Whether the owner's journals hold more than their bound (see owner_journals). */
static bool owner_journals_over(const struct sink *sink) {
  return sink->journals != NULL &&
         __atomic_load_n(&sink->journals->bytes, __ATOMIC_RELAXED) > OWNER_JOURNALS_MAX;
}

/** The sink's owner's journals, one more sink counted there (lock held); NULL: no memory. */
static struct owner_journals *join_owner_journals(uid_t uid) {
  struct owner_journals *owner = owner_journals;
  while (owner != NULL && owner->uid != uid) owner = owner->next;
  if (owner == NULL) {
    owner = calloc(1, sizeof *owner);
    if (owner == NULL) return NULL;
    owner->uid = uid;
    owner->next = owner_journals;
    owner_journals = owner;
  }
  owner->sinks++;
  return owner;
}

/** The sink is let go (lock held): its journal no longer counted, the owner's forgotten with its last. */
static void leave_owner_journals(struct sink *sink) {
  struct owner_journals *owner = sink->journals;
  if (owner == NULL) return;
  __atomic_sub_fetch(&owner->bytes, sink->journal_counted, __ATOMIC_RELAXED);
  sink->journals = NULL;
  if (--owner->sinks > 0) return;
  for (struct owner_journals **slot = &owner_journals; *slot != NULL; slot = &(*slot)->next)
    if (*slot == owner) {
      *slot = owner->next;
      break;
    }
  free(owner);
}

/**
 * Nothing more waiting in the pipe: the journal (every record of it done) is emptied now,
 * not at its wrap, so a daemon that writes a burst and pauses keeps a few KiB of the state
 * directory, not up to the wrap and a chunk (an outside review, 54b, F1: 270 such daemons
 * of one user filled a 30 MB state directory, and another user's stop could not be saved).
 * Looked at after a chunk the splice path moved too: near a rotation the journal is used,
 * and the last chunks of a burst, past it, were spliced (55b, F2: 24-144 KB kept). And after
 * one written or dropped without the journal: with the state directory full, it takes no
 * chunk, and 31-32 MB of journals stayed for minutes once the pipes were drained (56b, F2).
 */
static void empty_journal_if_drained(struct sink *sink) {
  int waiting = 0;
  if (sink->journal.end > 0 && ioctl(sink->pipe_fd, FIONREAD, &waiting) == 0 && waiting == 0)
    reset_journal(sink);
}

/**
 * Writes `take` raw bytes, stamped with `head`'s stamp, at the log's offset; then they
 * leave the journal (`journaled`), or the pipe. `error`: writing failed before (the
 * lines a gap needs): all of it is dropped. What a full disk did not take is dropped,
 * counted, and the gap said later.
 */
static void write_chunk(struct sink *sink, const char *raw, int64_t take,
                        const struct dm_journal_head *head, char *formatted, bool journaled,
                        int error) {
  bool was_line_start = sink->at_line_start;
  int64_t length = take;
  const char *data = raw;
  if (sink->options.timestamps) {
    length = stamp_lines(sink, raw, take, head->stamp, formatted);
    data = formatted;
  } else sink->at_line_start = raw[take - 1] == '\n';
  int64_t written = 0;
  if (error == 0) written = write_all(sink, data, length, &error);
  int64_t kept = take;
  if (error != 0) {
    char reason[768];
    snprintf(reason, sizeof reason, "cannot write (%s); output is being dropped", error_name(error));
    fail(sink, reason);
    sink->gap_error = error;
    // What the disk took before it filled is in the file, and counted as written; the
    // rest is dropped (the torn line gets its newline once writing resumes).
    kept = sink->options.timestamps ? raw_written(raw, take, was_line_start, written) : written;
  }
  if (journaled) {
    dm_journal_done(&sink->journal);
    // Past its owner's bound, the chunk leaves the journal at once (see owner_journals).
    if (owner_journals_over(sink)) reset_journal(sink);
  } else consume(sink, kept);
  sink->bytes += kept;
  if (kept < take) {
    if (journaled) count_dropped(sink, raw + kept, take - kept);
    else drop_seen(sink, raw + kept, take - kept);
  } else {
    sink->gap = false;
    succeed(sink);
  }
  // After a chunk written without it too: a state directory full, the journal took no more
  // chunks, and what it held stayed once the pipe was drained (56b, F2).
  empty_journal_if_drained(sink);
}

/** A chunk a pump took into the journal and did not finish: written again, where it went. */
static void replay(struct sink *sink) {
  sink->replay = false;
  char *raw = malloc(CHUNK), *formatted = malloc((size_t)CHUNK * (DM_STAMP_LENGTH + 1));
  struct dm_journal_head head;
  int64_t length = raw == NULL || formatted == NULL
                       ? 0
                       : dm_journal_pending(&sink->journal, &head, raw, CHUNK);
  if (length > 0 && sink->file_fd < 0) retry_open(sink);
  if (length > 0 && sink->file_fd < 0) count_dropped(sink, raw, length);
  if (length == 0 || sink->file_fd < 0) {
    reset_journal(sink);
    free(raw);
    free(formatted);
    return;
  }
  // The same log: back to its size before the chunk (a kill in the middle of the write
  // left a piece of it there), and the chunk as it began. Another file (a logrotate moved
  // the log away since): the chunk goes at its end, where it may be in the moved one too.
  struct stat st;
  if (fstat(sink->file_fd, &st) == 0 && st.st_dev == head.device && st.st_ino == head.inode) {
    if (st.st_size > head.offset && ftruncate(sink->file_fd, head.offset) == 0)
      sink->offset = head.offset;
    sink->at_line_start = head.line_start;
  } else sink->at_line_start = last_byte(sink) == '\n';
  sink->line_unknown = false;
  write_chunk(sink, raw, length, &head, formatted, true, 0);
  reset_journal(sink);
  free(raw);
  free(formatted);
  // The chunk ended the line a reopen waits for (see open_left_file).
  if (sink->reopen_pending && sink->at_line_start) {
    sink->reopen_pending = false;
    reopen(sink);
  }
}

/** How much of a chunk of the banner's length, up to 2 MiB, passes unlike it before it is given up. */
#define BANNER_SCAN_MAX (2 * 1024 * 1024)

/**
 * Before the start banner of the daemon's next run, which the keeper writes into the
 * pipe behind what the run before wrote: the chunk ends there, and the banner begins a
 * line of its own, whether or not that run's output ended one (an outside review found
 * `partial-without-newline--- ... starting`). How many bytes of the chunk to take now.
 */
static int64_t before_banner(struct sink *sink, const char *raw, int64_t got) {
  // Taken after the pipe was read: a banner in this chunk was written after it was set.
  char *next = __atomic_exchange_n(&sink->banner_next, NULL, __ATOMIC_ACQ_REL);
  if (next != NULL) {
    free(sink->banner);
    sink->banner = next;
    sink->banner_scanned = 0;
  }
  if (sink->banner == NULL) return got;
  size_t length = strlen(sink->banner);
  const char *found = memmem(raw, (size_t)got, sink->banner, length);
  if (found == raw) {
    free(sink->banner);
    sink->banner = NULL;
    if (!sink->at_line_start && !sink->skip_rest && !sink->gap && sink->file_fd >= 0) {
      int error;
      write_all(sink, "\n", 1, &error);
      // Not written (a full disk): the gap that begins now ends the line first.
      if (error != 0) sink->gap = true;
    }
    // A line whose rest was being dropped was the last run's: it ends here. After a gap,
    // end_torn_line gives a file left in the middle of a line its newline.
    sink->skip_rest = false;
    sink->at_line_start = true;
    return got;
  }
  if (found != NULL) return found - raw;
  sink->banner_scanned += got;
  if (sink->banner_scanned > BANNER_SCAN_MAX) {
    // Never came (the start failed, the pipe was full): output goes on the fast way.
    free(sink->banner);
    sink->banner = NULL;
    return got;
  }
  // A chunk that ends with the banner's beginning ends before it.
  for (int64_t tail = got < (int64_t)length ? got : (int64_t)length - 1; tail > 0; tail--)
    if (memcmp(raw + got - tail, sink->banner, (size_t)tail) == 0)
      return tail < got ? got - tail : got;
  return got;
}

/**
 * With a reopen waiting (see reopen_between_lines): the line under way ends in the old
 * file, as at a rotation (if its rest is short: LINE_SLACK); at a line's start the log
 * is reopened. How many bytes of the chunk go into the file now open.
 */
static int64_t before_reopen(struct sink *sink, const char *raw, int64_t got) {
  if (!sink->reopen_pending) return got;
  if (!sink->at_line_start) {
    const char *newline = memchr(raw, '\n', (size_t)got);
    int64_t rest = newline == NULL ? got : newline - raw + 1;
    if (sink->reopen_slack + rest <= LINE_SLACK) {
      sink->reopen_slack += rest;
      return rest; /* reopened once it is written, if it ends the line */
    }
  }
  sink->reopen_pending = false;
  reopen(sink);
  return got;
}

/** The copy path (see the top of the file); false at the end of the pipe. */
static bool copy_chunk(struct sink *sink, int scratch[2], char *raw, char *formatted) {
  ssize_t peeked = tee(sink->pipe_fd, scratch[1], CHUNK, SPLICE_F_NONBLOCK);
  if (peeked == 0) return false;
  if (peeked < 0) return true; /* EAGAIN: nothing there after all */
  int64_t got = 0;
  while (got < peeked) {
    ssize_t count = read(scratch[0], raw + got, (size_t)(peeked - got));
    if (count <= 0 && errno == EINTR) continue;
    if (count <= 0) break;
    got += count;
  }
  if (got == 0) return true;
  // After bytes the splice path moved unseen, the file's last byte tells whether a line
  // is under way: taken for one, a whole next line without its newline yet (written in
  // two pieces) was cut at the limit (an outside review).
  if (sink->line_unknown && sink->file_fd >= 0) sink->at_line_start = last_byte(sink) == '\n';
  sink->line_unknown = false;
  got = before_banner(sink, raw, got);
  if (sink->skip_rest) {
    // The start of this line was dropped: its rest goes too, up to its newline.
    const char *newline = memchr(raw, '\n', (size_t)got);
    drop_seen(sink, raw, newline == NULL ? got : newline - raw + 1);
    empty_journal_if_drained(sink);
    return true;
  }
  got = before_reopen(sink, raw, got);
  int64_t take = fitting(sink, raw, got);
  if (take == 0) {
    rotate(sink);
    return true;
  }
  if (sink->file_fd < 0) {
    if (sink->gap_dropped == 0) sink->gap_error = 0;  // a gap that begins with no file
    drop_seen(sink, raw, take);
    empty_journal_if_drained(sink);
    return true;
  }
  int error = sink->gap ? end_torn_line(sink) : 0;
  if (error == 0 && sink->gap) error = note_gap(sink);
  // The chunk leaves the pipe for the journal before it is written (see log_journal.c);
  // with no journal, only after: a kill between the two then writes it twice.
  struct dm_journal_head head = {.offset = sink->offset,
                                 .device = sink->file_device,
                                 .inode = sink->file_inode,
                                 .line_start = sink->at_line_start};
  if (sink->options.timestamps) dm_stamp(head.stamp);
  int64_t journaled =
      error == 0 ? dm_journal_take(&sink->journal, &head, sink->pipe_fd, take) : 0;
  count_journal(sink);
  if (journaled > 0) take = journaled;
  write_chunk(sink, raw, take, &head, formatted, journaled > 0, error);
  if (sink->reopen_pending && sink->at_line_start) {
    sink->reopen_pending = false;
    reopen(sink);
  }
  // What did not fit stays in the pipe: the next round finds it does not fit, and rotates.
  return true;
}

/**
 * The last byte the splice path wrote, for the record (see keep_line_end): one pread on
 * a read-only descriptor of the file, opened at the first splice into it (the log's is
 * open for writing only) through /proc, as last_byte does. A byte that cannot be read
 * is taken for a line's end: no note is promised for a file gone then.
 */
static char last_spliced(struct sink *sink) {
  if (sink->seen_fd < 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", sink->file_fd);
    sink->seen_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  }
  char last = '\n';
  if (sink->seen_fd >= 0 && pread(sink->seen_fd, &last, 1, sink->offset - 1) != 1) last = '\n';
  return last;
}

/** The splice path; false at the end of the pipe. */
static bool splice_chunk(struct sink *sink, int available) {
  loff_t offset = sink->offset;
  // Under a size limit, no more than was counted (more may arrive meanwhile): the limit
  // was checked against that. At 0 bytes, one: the end of the pipe says so (0).
  // And never more than SPLICE_MAX: splice holds the pipe's lock for the whole call, so
  // the daemon cannot write a byte into the pipe while its backlog (up to the 1 MiB of
  // the keeper's pipe) is copied: daemon and pump took turns instead of running side by
  // side. 64 KiB measured best on the bench's 200 MB stream (bench/RESULTS.md, 2026-12-03).
  size_t length = available > 0 ? (size_t)available : 1;
  if (sink->options.max_bytes <= 0 || length > SPLICE_MAX) length = SPLICE_MAX;
  ssize_t moved = splice(sink->pipe_fd, NULL, sink->file_fd, &offset, length, SPLICE_F_NONBLOCK);
  if (moved == 0) return false;
  if (moved < 0) {
    if (errno == EAGAIN || errno == EINTR) return true;
    int error = errno;
    char reason[768];
    snprintf(reason, sizeof reason, "cannot write (%s); output is being dropped", error_name(error));
    fail(sink, reason);
    sink->gap_error = error;
    // Nothing is dropped unseen: the copy path takes over (see move()), and drops what it
    // cannot write knowing where its lines end.
    sink->gap = true;
    return true;
  }
  // The bytes moved were never seen: whether they ended a line is unknown until the copy
  // path (near a rotation) looks at the file.
  sink->at_line_start = false;
  sink->line_unknown = true;
  sink->offset = offset;
  keep_line_end(sink, last_spliced(sink));
  sink->bytes += moved;
  succeed(sink);
  empty_journal_if_drained(sink);
  return true;
}

/** Moves what a ready pipe holds (one chunk); false at its end. Runs with the sink busy. */
static bool move(struct sink *sink, int scratch[2], char *raw, char *formatted) {
  if (sink->file_fd < 0) retry_open(sink);
  if (sink->replay) {
    replay(sink);
    return true;
  }
  // Written at the pump's own offset (not O_APPEND: see reopen): a log its owner emptied
  // (`: > NAME.log`) is written from its new end, not past it behind a hole of NULs.
  struct stat st;
  if (sink->file_fd >= 0 && fstat(sink->file_fd, &st) == 0 && st.st_size < sink->offset)
    sink->offset = st.st_size;
  int available = 0;
  // The count matters only for a size limit (and for dropping): a syscall saved otherwise.
  if (sink->options.max_bytes > 0 || sink->options.timestamps || sink->file_fd < 0)
    ioctl(sink->pipe_fd, FIONREAD, &available);
  bool near_rotation =
      sink->options.max_bytes > 0 && sink->offset + available > sink->options.max_bytes;
  // Around a gap (or with no file to write) bytes are seen before they go: see drop_seen().
  // So are they with a reopen waiting for a line's end, or a start banner expected (one
  // set after this check, its banner written before the splice below, could still be
  // glued: the pump thread preempted here for as long as the keeper takes to answer).
  bool seen = sink->gap || sink->file_fd < 0 || sink->reopen_pending || sink->banner != NULL ||
              __atomic_load_n(&sink->banner_next, __ATOMIC_ACQUIRE) != NULL;
  if (sink->options.timestamps || near_rotation || seen) return copy_chunk(sink, scratch, raw, formatted);
  return splice_chunk(sink, available);
}

/* ---- the pump thread ---- */

/** Marks the pump busy with `sink` (lock held): the watchdog times it from now. */
static void begin_io(struct sink *sink) {
  sink->busy = true;
  busy = true;
  busy_sink = sink;
  clock_gettime(CLOCK_MONOTONIC, &busy_since);
  // Only a watchdog not timing the pump is woken: one already timing an earlier
  // operation times this one when it wakes (see watchdog()). A wake-up per chunk moved
  // cost a context switch per chunk on both threads (about one per 10-15 KiB of a busy
  // daemon's output).
  if (watchdog_idle) pthread_cond_signal(&watchdog_wake);
}

static void free_sink(struct sink *sink) {
  for (struct sink **slot = &sinks; *slot != NULL; slot = &(*slot)->next)
    if (*slot == sink) {
      *slot = sink->next;
      break;
    }
  forget_seen(sink);
  if (sink->file_fd >= 0) close(sink->file_fd);
  // Not emptied here: after a handover, the successor's pump may be writing it. The next
  // attach of the daemon finds its chunks done, and empties it.
  if (sink->journal.fd >= 0) close(sink->journal.fd);
  leave_owner_journals(sink);
  if (sink->place_fd >= 0) close(sink->place_fd);
  free(sink->left);
  free(sink->left_gone);
  free(sink->banner);
  free(sink->banner_next);
  dm_creds_free(&sink->owner);
  free(sink->path);
  for (int index = 0; index < sink->retired_count; index++) free(sink->retired_path[index]);
  free(sink);
}

static void detach_now(struct sink *sink, void *token) {
  watch(sink, false);
  int pipe_fd = sink->pipe_fd;
  free_sink(sink);
  send_event(DM_PUMP_DONE, 0, token, pipe_fd, NULL);
}

static void wake_pump(void) {
  uint64_t one = 1;
  (void)!write(wakefd, &one, sizeof one);
}

/**
 * The I/O on `sink` is over (lock held). False when the pump moved on from this thread
 * meanwhile (the call was slow): then it lets go of the sink, gives the owner's pipes
 * back to the pump, and must exit.
 */
static bool end_io(struct sink *sink, int my_generation) {
  sink->busy = false;
  if (my_generation == generation) {
    busy = false;
    if (sink->detach_token != NULL) detach_now(sink, sink->detach_token);
    return true;
  }
  sink->away = false;
  uid_t owner = sink->owner.uid;
  void *token = sink->detach_token;
  if (token != NULL) detach_now(sink, token);
  bool reopen_due = false;
  for (struct sink *other = sinks; other != NULL; other = other->next)
    if (other->parked && other->owner.uid == owner) {
      other->parked = false;
      if (wanted(other)) watch(other, true);
      reopen_due = reopen_due || other->reopen_due;
      if (!other->stuck) continue;
      other->stuck = false;
      send_event(DM_PUMP_RECOVERED, other->id, NULL, 0, NULL);
    }
  if (reopen_due) wake_pump();
  return false;
}

/**
 * Reopens the logs a reopen asked for, but those out of the pump (done when they come
 * back). False when the pump moved on from this thread meanwhile. Lock held.
 */
static bool reopen_due_sinks(int my_generation) {
  // From the top after each one: the list may change while the lock is let go.
  for (struct sink *each = sinks; each != NULL;) {
    if (!each->reopen_due || each->parked) {
      each = each->next;
      continue;
    }
    each->reopen_due = false;
    begin_io(each);
    pthread_mutex_unlock(&lock);
    reopen_between_lines(each);
    pthread_mutex_lock(&lock);
    if (!end_io(each, my_generation)) return false;
    each = sinks;
  }
  return true;
}

/** Runs the queued commands; those with file I/O mark the pump busy. Lock held. */
static bool run_commands(int my_generation) {
  while (commands != NULL) {
    struct command *command = commands;
    commands = command->next;
    if (commands == NULL) commands_tail = NULL;
    struct sink *sink = find(command->id);
    int64_t value = 0;
    switch (command->kind) {
      case DM_CMD_DETACH:
        if (sink == NULL) value = -1;
        else if (sink->busy) {
          sink->detach_token = command->token; /* answered when the slow call returns */
          free(command);
          continue;
        } else {
          detach_now(sink, command->token);
          free(command);
          continue;
        }
        break;
      case DM_CMD_PAUSE:
      case DM_CMD_RESUME:
        paused = command->kind == DM_CMD_PAUSE;
        for (struct sink *each = sinks; each != NULL; each = each->next) {
          // Back from a handover that failed: the successor may have emptied the journals
          // meanwhile, so each starts again at its beginning (all of its chunks are done).
          if (!paused && each->journal.fd >= 0 && !each->busy) reset_journal(each);
          // It may have written its own file's place too.
          if (!paused && !each->busy) keep_place(each);
          watch(each, wanted(each));
        }
        break;
      case DM_CMD_REOPEN:
      case DM_CMD_REOPEN_ALL:
        for (struct sink *each = sinks; each != NULL; each = each->next)
          if (command->kind == DM_CMD_REOPEN_ALL || each == sink) each->reopen_due = true;
        if (!reopen_due_sinks(my_generation)) {
          send_event(DM_PUMP_DONE, 0, command->token, 0, NULL);
          free(command);
          return false;
        }
        break;
      case DM_CMD_REPLAY:
        // Nobody waits for it: no DONE.
        free(command);
        if (sink == NULL || !sink->replay || sink->busy || sink->parked) continue;
        begin_io(sink);
        pthread_mutex_unlock(&lock);
        replay(sink);
        pthread_mutex_lock(&lock);
        if (!end_io(sink, my_generation)) return false;
        continue;
    }
    send_event(DM_PUMP_DONE, 0, command->token, value, NULL);
    free(command);
  }
  // Those whose owner's files answered again since they were asked for.
  return reopen_due_sinks(my_generation);
}

static void *pump(void *argument) {
  int my_generation = (int)(intptr_t)argument;
  pthread_setname_np(pthread_self(), "dm-log-pump");
  int scratch[2];
  char *raw = malloc(CHUNK), *formatted = malloc((size_t)CHUNK * (DM_STAMP_LENGTH + 1));
  if (raw == NULL || formatted == NULL || pipe2(scratch, O_CLOEXEC | O_NONBLOCK) == -1) abort();
  fcntl(scratch[1], F_SETPIPE_SZ, CHUNK);
  struct epoll_event events[64];
  for (;;) {
    int count = epoll_wait(epfd, events, 64, -1);
    pthread_mutex_lock(&lock);
    bool current = my_generation == generation && run_commands(my_generation);
    for (int index = 0; current && index < count; index++) {
      if (events[index].data.u64 == 0) {
        uint64_t ignored;
        (void)!read(wakefd, &ignored, sizeof ignored);
        continue;
      }
      struct sink *sink = find((int32_t)events[index].data.u64);
      if (sink == NULL || sink->busy || !sink->in_epoll) continue;
      begin_io(sink);
      pthread_mutex_unlock(&lock);
      bool more = move(sink, scratch, raw, formatted);
      pthread_mutex_lock(&lock);
      if (!end_io(sink, my_generation)) current = false;
      else if (!more) {
        watch(sink, false);
        sink->eof = true;
        send_event(DM_PUMP_EOF, sink->id, NULL, 0, NULL);
      }
    }
    pthread_mutex_unlock(&lock);
    if (!current) break;
  }
  close(scratch[0]);
  close(scratch[1]);
  free(raw);
  free(formatted);
  return NULL;
}

static int start_thread(void *(*main)(void *), void *argument) {
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pthread_t thread;
  int error = pthread_create(&thread, &attributes, main, argument);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  pthread_attr_destroy(&attributes);
  return -error;
}

/* ---- the watchdog ---- */

/* After a failed pthread_create, the pump does not try to move on again before this. */
static struct timespec no_move_before;

static struct timespec plus_ms(struct timespec time, int64_t ms) {
  time.tv_sec += ms / 1000;
  time.tv_nsec += (long)(ms % 1000) * 1000000;
  if (time.tv_nsec >= 1000000000) {
    time.tv_sec++;
    time.tv_nsec -= 1000000000;
  }
  return time;
}

static bool earlier(const struct timespec *a, const struct timespec *b) {
  return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/** Puts `uid`'s pipes in or out of the pump (lock held). */
static void park_owner(uid_t uid, bool on) {
  for (struct sink *sink = sinks; sink != NULL; sink = sink->next)
    if (sink->owner.uid == uid && sink->parked != on) {
      sink->parked = on;
      watch(sink, wanted(sink));
    }
}

/**
 * The pump's call on `busy_sink`'s file is slow: that thread is left to it, its owner's
 * pipes go out of the pump, and a new pump thread goes on with everybody else. Lock held.
 */
static void move_on(void) {
  struct sink *slow = busy_sink;
  slow->away = true;
  slow->since = busy_since;
  park_owner(slow->owner.uid, true);
  generation++;
  busy = false;
  int error = start_thread(pump, (void *)(intptr_t)generation);
  if (error != 0) {
    // No thread to go on with: the pump waits for the call, as for a slow disk.
    fprintf(stderr, "daemon-manager: cannot start a log pump thread (%s)\n", strerror(-error));
    generation--;
    busy = true;
    slow->away = false;
    park_owner(slow->owner.uid, false);
    clock_gettime(CLOCK_MONOTONIC, &no_move_before);
    no_move_before = plus_ms(no_move_before, 1000);
    return;
  }
  // The new thread runs the commands queued behind the slow call.
  wake_pump();
}

/** `slow`'s call passed the deadline: its owner's logs are said to be stuck. Lock held. */
static void report_stuck(struct sink *slow) {
  char message[768];
  snprintf(message, sizeof message, "%s: no answer within %g s (an NFS or FUSE mount?); output is held in the pipe",
           slow->path, deadline_ms / 1000.0);
  for (struct sink *sink = sinks; sink != NULL; sink = sink->next)
    if (sink->owner.uid == slow->owner.uid && sink->parked && !sink->stuck) {
      sink->stuck = true;
      snprintf(sink->reason, sizeof sink->reason, "%s", message);
      send_event(DM_PUMP_STUCK, sink->id, NULL, 0, message);
    }
}

/**
 * Times the pump's current call (MOVE_ON_MS) and the calls it moved on from (the
 * deadline). Sleeps with no time-out while there is neither: an idle manager is not
 * woken. While the pump is busy it wakes once per MOVE_ON_MS, not once per chunk: at the
 * deadline, whichever call runs then is timed from its own start.
 */
static void *watchdog(void *unused) {
  (void)unused;
  pthread_setname_np(pthread_self(), "dm-log-watch");
  pthread_mutex_lock(&lock);
  for (;;) {
    struct timespec now, next = {0, 0};
    clock_gettime(CLOCK_MONOTONIC, &now);
    bool timing = false, any = false;
    if (busy) {
      struct timespec at = plus_ms(busy_since, MOVE_ON_MS);
      if (earlier(&at, &no_move_before)) at = no_move_before;
      if (!earlier(&now, &at)) {
        move_on();
        continue;
      }
      next = at;
      timing = any = true;
    }
    for (struct sink *sink = sinks; sink != NULL; sink = sink->next) {
      if (!sink->away || sink->stuck) continue;
      struct timespec at = plus_ms(sink->since, deadline_ms);
      if (!earlier(&now, &at)) report_stuck(sink);
      else if (!any || earlier(&at, &next)) {
        next = at;
        any = true;
      }
    }
    watchdog_idle = !timing;
    if (any) pthread_cond_timedwait(&watchdog_wake, &lock, &next);
    else pthread_cond_wait(&watchdog_wake, &lock);
    watchdog_idle = false;
  }
  return NULL;
}

/* ---- the API ---- */

int dm_pump_start(dm_pump_emit emitter, int deadline) {
  pthread_mutex_lock(&lock);
  if (epfd >= 0) {
    pthread_mutex_unlock(&lock);
    return -EALREADY;
  }
  emit = emitter;
  deadline_ms = deadline;
  pthread_condattr_t attributes;
  pthread_condattr_init(&attributes);
  pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
  pthread_cond_init(&watchdog_wake, &attributes);
  pthread_condattr_destroy(&attributes);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  struct epoll_event event = {.events = EPOLLIN, .data.u64 = 0};
  int error = epfd < 0 || wakefd < 0 || devnull < 0 ? -errno : 0;
  if (error == 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &event) == -1) error = -errno;
  if (error == 0) error = start_thread(pump, (void *)(intptr_t)generation);
  if (error == 0) error = start_thread(watchdog, NULL);
  pthread_mutex_unlock(&lock);
  return error;
}

int dm_pump_attach(int32_t id, int pipe_fd, int file_fd, const struct dm_pump_options *options,
                   const struct dm_creds *owner, const char *path, const struct dm_pump_gap *gap,
                   int journal_fd, int place_fd) {
  if (id <= 0) return -EINVAL;
  struct sink *sink = calloc(1, sizeof *sink);
  if (sink == NULL) return -ENOMEM;
  sink->id = id;
  sink->pipe_fd = pipe_fd;
  sink->file_fd = file_fd;
  sink->journal.fd = journal_fd;
  sink->place_fd = place_fd;
  sink->seen_fd = -1;
  struct stat pipe_stat;
  if (fstat(pipe_fd, &pipe_stat) == 0) {
    sink->pipe_device = (uint64_t)pipe_stat.st_dev;
    sink->pipe_inode = (uint64_t)pipe_stat.st_ino;
  }
  // Which file the pump before this one wrote for this pipe: a line it left under way
  // there is finished there when the log is first opened (see open_left_file).
  struct dm_log_place left;
  bool recorded = dm_place_load(place_fd, &left) && left.pipe_inode == sink->pipe_inode &&
                  left.pipe_device == sink->pipe_device && (left.device != 0 || left.inode != 0);
  if (file_fd < 0 && recorded) {
    sink->left = malloc(sizeof left);
    if (sink->left != NULL) *sink->left = left;
  }
  // A chunk the pump before this one (killed) took and may not have written whole: written
  // again first, on the pump's thread, even if the pipe stays silent.
  struct stat journal;
  sink->replay = journal_fd >= 0 && fstat(journal_fd, &journal) == 0 && journal.st_size > 0;
  sink->options = *options;
  sink->at_line_start = true;
  // What the file ends with (a line another manager's pump began?) is read when it matters.
  sink->line_unknown = true;
  if (gap != NULL && (gap->bytes > 0 || gap->skip_rest)) {
    // The next write says what was dropped first (see copy_chunk), its count included.
    sink->gap = true;
    sink->gap_dropped = gap->bytes > 0 ? gap->bytes : 0;
    sink->gap_error = gap->error;
    sink->skip_rest = gap->skip_rest;
  }
  sink->path = strdup(path);
  if (sink->path == NULL || dm_creds_copy(&sink->owner, owner) != 0) {
    free(sink->path);
    free(sink->left);
    free(sink);
    return -ENOMEM;
  }
  fcntl(pipe_fd, F_SETFL, fcntl(pipe_fd, F_GETFL) | O_NONBLOCK);
  if (file_fd >= 0) {
    fcntl(file_fd, F_SETFL, fcntl(file_fd, F_GETFL) & ~O_APPEND);
    sink->offset = lseek(file_fd, 0, SEEK_END);
    if (sink->offset < 0) sink->offset = 0;
    note_file(sink, file_fd);
    // Handed over: whether the pump before this one left a line under way there, kept.
    if (recorded && left.device == sink->current.dev && left.inode == sink->current.ino &&
        left.line_open) {
      sink->line_open = true;
      keep_place(sink);
    }
  }
  pthread_mutex_lock(&lock);
  int error = find(id) != NULL ? -EEXIST : 0;
  if (error == 0 && journal_fd >= 0) {
    sink->journals = join_owner_journals(sink->owner.uid);
    if (sink->journals == NULL) error = -ENOMEM;
  }
  if (error == 0) {
    // A pipe of an owner whose call is slow waits with theirs: in the pump, it would get a
    // thread stuck in the same file system.
    sink->parked = owner_parked(sink->owner.uid);
    sink->next = sinks;
    sinks = sink;
    if (wanted(sink)) watch(sink, true);
  }
  bool replay = error == 0 && sink->replay;
  pthread_mutex_unlock(&lock);
  if (error != 0) {
    dm_creds_free(&sink->owner);
    free(sink->path);
    free(sink->left);
    free(sink);
  }
  if (replay) dm_pump_command(DM_CMD_REPLAY, id, NULL);
  return error;
}

int dm_pump_expect_banner(int32_t id, const char *banner) {
  char *copy = strdup(banner);
  if (copy == NULL) return -ENOMEM;
  pthread_mutex_lock(&lock);
  struct sink *sink = find(id);
  char *old = copy;
  if (sink != NULL) old = __atomic_exchange_n(&sink->banner_next, copy, __ATOMIC_ACQ_REL);
  pthread_mutex_unlock(&lock);
  free(old);
  return sink != NULL ? 0 : -ENOENT;
}

int dm_pump_command(enum dm_pump_command kind, int32_t id, void *token) {
  struct command *command = calloc(1, sizeof *command);
  if (command == NULL) return -ENOMEM;
  command->kind = kind;
  command->id = id;
  command->token = token;
  pthread_mutex_lock(&lock);
  if (commands_tail != NULL) commands_tail->next = command;
  else commands = command;
  commands_tail = command;
  pthread_mutex_unlock(&lock);
  uint64_t one = 1;
  return write(wakefd, &one, sizeof one) == -1 ? -errno : 0;
}

void dm_pump_stats(int32_t id, struct dm_pump_stats *stats) {
  memset(stats, 0, sizeof *stats);
  pthread_mutex_lock(&lock);
  struct sink *sink = find(id);
  if (sink != NULL) {
    stats->found = true;
    stats->bytes = sink->bytes;
    stats->dropped = sink->dropped;
    stats->size = sink->offset;
    stats->failing = sink->failing || sink->stuck;
    stats->stuck = sink->stuck;
    stats->eof = sink->eof;
    stats->away = sink->away;
    if (stats->failing) snprintf(stats->reason, sizeof stats->reason, "%s", sink->reason);
    stats->gap.bytes = sink->gap_dropped;
    stats->gap.error = sink->gap_error;
    stats->gap.skip_rest = sink->skip_rest;
    stats->current = sink->current;
    stats->current_begins = sink->current_begins;
    stats->retired_count = sink->retired_count;
    for (int index = 0; index < sink->retired_count; index++) {
      stats->retired[index] = sink->retired[index];
      snprintf(stats->retired_path[index], sizeof stats->retired_path[index], "%s", sink->retired_path[index]);
    }
  }
  pthread_mutex_unlock(&lock);
}
