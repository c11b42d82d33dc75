/*
 * readConfigDir: lists the `*.conf` files of a user's daemon directory and reads them,
 * within bounds, so one user's rescan is bounded work: at most `maxFiles` files (those
 * of the daemons the caller has loaded, then the first others in byte order), at most `maxFileBytes`+1 bytes of each (one more than
 * allowed tells a file too big), and no new file once `maxTotalBytes` are read. Each
 * file is opened without following a symlink and without blocking (a FIFO or a device
 * is never read), and described by fstat of that descriptor, so the judging (owner,
 * mode, links, size: src/config/read-file.ts) sees the very file that was read.
 *
 * A name that cannot be a daemon's is only counted (and the first few kept, to be named
 * to the user): 50,000 of them must cost the manager neither an open each nor a string,
 * an object and garbage each on its event loop at every rescan.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "user_mounts.h"
#include "user_ops.h"

/** Names kept at most while listing: a directory of millions cannot exhaust memory. */
enum { LISTING_CAP = 100000 };

static bool is_conf(const char *name) {
  size_t length = strlen(name);
  return length >= 5 && strcmp(name + length - 5, ".conf") == 0;
}

static int by_bytes(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_name_byte(unsigned char byte, bool first) {
  if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') || (byte >= '0' && byte <= '9'))
    return true;
  if (byte == '_') return true;
  return !first && (byte == '.' || byte == '@' || byte == '+' || byte == '-');
}

bool dm_is_daemon_name(const char *name, size_t length) {
  if (length < 1 || length > 128) return false;
  for (size_t index = 0; index < length; index++)
    if (!is_name_byte((unsigned char)name[index], index == 0)) return false;
  return true;
}

/**
 * Counts a badly named file and keeps its name if it is among the DM_BAD_NAMES_KEPT
 * first in byte order seen so far (a sorted array, the largest dropped).
 */
static bool note_bad_name(const char *name, struct dm_op_result *result) {
  result->bad_names++;
  int kept = result->nbad_shown;
  if (kept == DM_BAD_NAMES_KEPT && strcmp(name, result->bad_shown[kept - 1]) >= 0) return true;
  char *copy = strdup(name);
  if (copy == NULL) return false;
  if (kept == DM_BAD_NAMES_KEPT) free(result->bad_shown[--kept]);
  int at = kept;
  while (at > 0 && strcmp(copy, result->bad_shown[at - 1]) < 0) {
    result->bad_shown[at] = result->bad_shown[at - 1];
    at--;
  }
  result->bad_shown[at] = copy;
  result->nbad_shown = kept + 1;
  return true;
}

/**
 * Every `*.conf` name of the directory that can be a daemon's, sorted; NULL on failure
 * (result says why). The others are counted in result, the first few kept.
 */
static char **list_names(DIR *dir, int *count, struct dm_op_result *result) {
  char **names = NULL;
  int capacity = 0;
  *count = 0;
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(dir);
    if (entry == NULL) {
      if (errno == 0) break;
      dm_fail(result, -errno, DM_STEP_FINAL);
      goto failed;
    }
    if (!is_conf(entry->d_name)) continue;
    if (*count + result->bad_names >= LISTING_CAP) {
      result->listing_cut = true;
      break;
    }
    if (!dm_is_daemon_name(entry->d_name, strlen(entry->d_name) - 5)) {
      if (!note_bad_name(entry->d_name, result)) goto out_of_memory;
      continue;
    }
    if (*count == capacity) {
      capacity = capacity == 0 ? 64 : capacity * 2;
      char **grown = realloc(names, sizeof *names * (size_t)capacity);
      if (grown == NULL) goto out_of_memory;
      names = grown;
    }
    if ((names[*count] = strdup(entry->d_name)) == NULL) goto out_of_memory;
    (*count)++;
  }
  qsort(names, (size_t)*count, sizeof *names, by_bytes);
  return names;
out_of_memory:
  dm_fail(result, -ENOMEM, DM_STEP_NONE);
failed:
  for (int index = 0; index < *count; index++) free(names[index]);
  free(names);
  return NULL;
}

/** Opens, describes and (if it is a regular file of a fitting size) reads one file. */
static size_t read_entry(int dir, struct dm_conf_entry *entry, int64_t max_file_bytes) {
  // A name of the directory may be a mount point: dm_open_nomagic does not enter a user's FUSE.
  int fd = dm_open_nomagic(dir, entry->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0, 0);
  if (fd < 0) {
    entry->error = -fd;
    // Who mounted it, and where: said to the owner as for the directory itself.
    if (fd == -EREMOTE) {
      entry->mount_uid = dm_last_user_mount()->uid;
      entry->mount_point = strdup(dm_last_user_mount()->point);
    }
    return 0;
  }
  if (fstat(fd, &entry->stat) == -1) {
    entry->error = errno;
    close(fd);
    return 0;
  }
  entry->has_stat = true;
  entry->acl_write = dm_acl_lets_others_write(fd);
  if (!S_ISREG(entry->stat.st_mode) || entry->stat.st_size > max_file_bytes) {
    close(fd);
    return 0;
  }
  /*
   * As much room as the file has, and a byte more to see it grew past its limit: a buffer
   * of the largest size allowed for each of 50,000 tiny files cost seconds of mmap.
   */
  size_t limit = (size_t)entry->stat.st_size + 1;
  if (limit > (size_t)max_file_bytes + 1) limit = (size_t)max_file_bytes + 1;
  entry->data = malloc(limit);
  if (entry->data == NULL) {
    entry->error = ENOMEM;
    close(fd);
    return 0;
  }
  size_t most = (size_t)max_file_bytes + 1;
  for (;;) {
    if (entry->length == limit) {
      // The file grew since fstat: room for more, up to one byte past the limit.
      if (limit == most) break;
      size_t larger = limit * 2 < most ? limit * 2 : most;
      char *grown = realloc(entry->data, larger);
      if (grown == NULL) {
        entry->error = ENOMEM;
        break;
      }
      entry->data = grown;
      limit = larger;
    }
    ssize_t got = read(fd, entry->data + entry->length, limit - entry->length);
    if (got == -1 && errno == EINTR) continue;
    if (got == -1) {
      entry->error = errno;
      break;
    }
    if (got == 0) break;
    entry->length += (size_t)got;
  }
  entry->read = entry->error == 0;
  close(fd);
  return entry->length;
}

static int by_name(const void *key, const void *member) {
  return strcmp((const char *)key, *(char *const *)member);
}

/**
 * With more names than `max` (sorted), the ones to read: the caller's (`args->paths`, the
 * files of the daemons it has loaded) first, then the others in byte order, up to `max`,
 * moved to the front of `names` in byte order; the rest are freed. A new file that sorts
 * first must not push out a daemon that runs: it is the one left out. Returns `max`.
 */
static int keep_preferred(char **names, int count, int max, const struct dm_op_args *args) {
  bool *keep = calloc((size_t)count, sizeof *keep);
  if (keep == NULL) return count;  // then the first ones, as without a preference
  int kept = 0;
  for (int index = 0; index < args->npaths && kept < max; index++) {
    char **found = bsearch(args->paths[index], names, (size_t)count, sizeof *names, by_name);
    if (found != NULL && !keep[found - names]) {
      keep[found - names] = true;
      kept++;
    }
  }
  for (int index = 0; index < count && kept < max; index++)
    if (!keep[index]) {
      keep[index] = true;
      kept++;
    }
  int out = 0;
  for (int index = 0; index < count; index++) {
    if (keep[index]) names[out++] = names[index];
    else free(names[index]);
  }
  free(keep);
  return out;
}

void dm_read_config_dir(const struct dm_op_args *args, struct dm_op_result *result) {
  int64_t max_files = args->n1, max_file_bytes = args->n2, max_total = args->n3;
  // The directory itself may be a symlink (to the user's own files: the thread is the user).
  int fd = dm_open_nomagic(AT_FDCWD, args->path, O_RDONLY | O_DIRECTORY | O_NONBLOCK, 0, 0);
  if (fd < 0) return (void)dm_fail(result, fd, DM_STEP_NONE);
  DIR *dir = fdopendir(fd);
  if (dir == NULL) {
    dm_fail(result, -errno, DM_STEP_FINAL);
    close(fd);
    return;
  }
  int count;
  char **names = list_names(dir, &count, result);
  if (result->error == 0) result->total = count + result->bad_names;
  if (names != NULL && count > max_files) count = keep_preferred(names, count, (int)max_files, args);
  if (names != NULL) {
    int wanted = count < max_files ? count : (int)max_files;
    result->entries = calloc((size_t)(wanted > 0 ? wanted : 1), sizeof *result->entries);
    if (result->entries == NULL) dm_fail(result, -ENOMEM, DM_STEP_NONE);
    int64_t read_so_far = 0;
    for (int index = 0; index < count; index++) {
      if (index >= wanted || result->entries == NULL) {
        free(names[index]);
        continue;
      }
      struct dm_conf_entry *entry = &result->entries[result->nentries++];
      entry->name = names[index];
      if (read_so_far >= max_total) entry->skipped = true;
      else read_so_far += (int64_t)read_entry(dirfd(dir), entry, max_file_bytes);
    }
    free(names);
  }
  closedir(dir);
}
