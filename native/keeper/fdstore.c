/*
 * Descriptors kept for the manager, by name, across its upgrades and crashes (systemd
 * calls this a file descriptor store): its control sockets (`ctl:USER`), listening sockets
 * of daemons (`lsn:...`) and the read ends of the daemons' output pipes (`out:ID`). At
 * each hello the manager gets a copy of every one of them back.
 *
 * A daemon's output pipe lives as long as the daemon is known, across its runs: the
 * keeper holds its write end (`outw:ID`, given to each run as stdout and stderr) and a
 * second, non-blocking description of that write end (`outb:ID`, opened through
 * /proc/self/fd) for the start banners, so that a full pipe makes a banner fail rather
 * than the keeper block, while the daemon's own writes stay blocking. Holding the write
 * end means the pipe never reaches end-of-file between runs (no output lost while a run
 * is replaced), and holding the read end means no daemon ever gets SIGPIPE while the
 * manager is away: its output waits in the pipe (up to 1 MiB) for the next manager.
 */
#include "keeper.h"
#include "../held_release.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct stored {
  char *name;
  int fd;
  struct stored *next;
};

static struct stored *stored;
static size_t stored_total;

static int is_internal(const char *name) {
  return strncmp(name, "outw:", 5) == 0 || strncmp(name, "outb:", 5) == 0;
}

int store_get(const char *name) {
  for (struct stored *entry = stored; entry; entry = entry->next)
    if (strcmp(entry->name, name) == 0) return entry->fd;
  return -1;
}

/* Takes ownership of fd; replaces (and closes) a descriptor stored under the same name. */
int store_put(const char *name, int fd) {
  for (struct stored *entry = stored; entry; entry = entry->next)
    if (strcmp(entry->name, name) == 0) {
      close(entry->fd);
      entry->fd = fd;
      return 0;
    }
  struct stored *entry = malloc(sizeof *entry);
  if (!entry || !(entry->name = strdup(name))) abort();
  entry->fd = fd;
  entry->next = stored;
  stored = entry;
  stored_total++;
  return 0;
}

void store_drop(const char *name) {
  for (struct stored **link = &stored; *link; link = &(*link)->next)
    if (strcmp((*link)->name, name) == 0) {
      struct stored *gone = *link;
      *link = gone->next;
      /* A daemon's held socket let go of: emptied first (see held_release.h). */
      if (strncmp(gone->name, "lsn:", 4) == 0) dm_release_held(gone->fd);
      else close(gone->fd);
      free(gone->name);
      free(gone);
      stored_total--;
      return;
    }
}

/*
 * Drops a daemon's stored read end only if it is still the pipe whose inode is given (both
 * ends of a pipe have one inode): the manager says a pipe ended once it read it to its end,
 * and by then a spawn it asked for earlier may have made the daemon a new pipe, stored
 * under the same name. Dropping by name took the new pipe's only reader but the manager's,
 * and after a kill -9 of the manager every run of that daemon died of SIGPIPE (an outside
 * review: exit 141 at each start until the keeper itself was stopped).
 */
void store_drop_pipe(const char *name, unsigned long long inode) {
  int fd = store_get(name);
  struct stat about;
  if (fd == -1 || fstat(fd, &about) == -1 || (unsigned long long)about.st_ino != inode) return;
  store_drop(name);
}

size_t store_count(void) { return stored_total; }

void store_report_all(void) {
  for (struct stored *entry = stored; entry; entry = entry->next) {
    if (is_internal(entry->name)) continue;
    const char *fields[] = {entry->name};
    send_event("fd", fields, 1, entry->name);
  }
}

/* The write end of the daemon's output pipe, made (and its read end sent) if need be. */
int output_pipe(const char *id, int *created) {
  char name[400];
  snprintf(name, sizeof name, "outw:%s", id);
  int writer = store_get(name);
  *created = 0;
  if (writer != -1) return writer;
  int ends[2];
  if (pipe2(ends, O_CLOEXEC) == -1) return -1;
  /* Room for a manager restart's worth of output; a bigger pipe costs nothing until used. */
  fcntl(ends[0], F_SETPIPE_SZ, 1024 * 1024);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", ends[1]);
  int banner = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  store_put(name, ends[1]);
  if (banner != -1) {
    snprintf(name, sizeof name, "outb:%s", id);
    store_put(name, banner);
  }
  snprintf(name, sizeof name, "out:%s", id);
  store_put(name, ends[0]);
  *created = 1;
  const char *fields[] = {id};
  send_event("pipe", fields, 1, name);
  return ends[1];
}

/* The daemon is gone for good: its pipe ends once the last run's processes are gone. */
void output_close_writer(const char *id) {
  char name[400];
  snprintf(name, sizeof name, "outw:%s", id);
  store_drop(name);
  snprintf(name, sizeof name, "outb:%s", id);
  store_drop(name);
}
