/*
 * The file operations done in a user's tree, as the user, on a worker thread (see
 * user_ops.c). Pure C: user_files.c turns arguments and results to and from JS.
 */
#ifndef DM_USER_OPS_H
#define DM_USER_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "resolve.h"

enum dm_op_kind {
  DM_READ_CONFIG_DIR,
  DM_MKDIRS,
  DM_OPEN_APPEND,
  DM_ROTATE,
  DM_READ_CHUNK,
  DM_LOCK_DIR,
  DM_BIND_UNIX,
  DM_CONNECT_UNIX,
  DM_REPLACE_FILE,
  DM_REMOVE_SOCKET,
};

/** The badly named `*.conf` files readConfigDir names (the first ones in byte order). */
enum { DM_BAD_NAMES_KEPT = 10 };

/**
 * Whether `length` bytes can be a daemon's name (the file being NAME.conf): a letter, a
 * digit or `_`, then up to 127 of those or `.`, `@`, `+`, `-`. The same rule as
 * isValidDaemonName in src/config/daemon.ts (a unit test holds them equal).
 */
bool dm_is_daemon_name(const char *name, size_t length);

/** One `*.conf` file of readConfigDir. */
struct dm_conf_entry {
  char *name;
  int error; /* errno of opening or reading it, 0 if none */
  /* EREMOTE: the FUSE file system a user mounted that the file is on (malloc'd point). */
  uid_t mount_uid;
  char *mount_point;
  bool has_stat;
  struct stat stat;
  bool acl_write; /* an ACL lets a named user or group write it */
  bool read;    /* false: a directory, FIFO ..., or the byte budget was used up */
  bool skipped; /* not read because maxTotalBytes were read already */
  char *data;
  size_t length;
};

struct dm_op_args {
  char *path;
  char **paths;
  int npaths;
  int64_t n1, n2, n3;
  /* replaceFile: the new content. */
  char *data;
  size_t length;
};

struct dm_op_result {
  int error;         /* errno, 0 on success */
  enum dm_step step; /* where a path failed */
  char *error_path;  /* the path that failed (malloc'd), or NULL for args.path */
  /* EREMOTE: the FUSE file system a user mounted that the path would enter. */
  uid_t mount_uid;
  char *mount_point;
  bool has_stat;
  struct stat stat;
  /* Its birth time in ns since the epoch (statx), "" where the file system keeps none: with
     the device and inode, which a file made after one deleted may get again, who it is. */
  char btime[32];
  bool acl_write;    /* an ACL lets a named user or group write it */
  int fd;            /* a descriptor handed to the caller, or -1 */
  int holder_pid;    /* lockDir: who holds the lock, 0 if unknown */
  char *data;
  size_t length;
  int64_t next, size;
  struct dm_conf_entry *entries;
  int nentries;
  int total; /* readConfigDir: `*.conf` names seen (up to the listing cap) */
  bool listing_cut;
  /* readConfigDir: `*.conf` files whose name cannot be a daemon's, and the first few. */
  int bad_names;
  char *bad_shown[DM_BAD_NAMES_KEPT];
  int nbad_shown;
};

/* Each in its own file; all run as the user, on a worker thread. */
void dm_read_config_dir(const struct dm_op_args *args, struct dm_op_result *result);
void dm_lock_dir(const struct dm_op_args *args, struct dm_op_result *result);
void dm_bind_unix(const struct dm_op_args *args, struct dm_op_result *result);
void dm_connect_unix(const struct dm_op_args *args, struct dm_op_result *result);
void dm_replace_file(const struct dm_op_args *args, struct dm_op_result *result);
void dm_remove_socket(const struct dm_op_args *args, struct dm_op_result *result);

/** Sets result's error from a negative errno and where it happened; returns false. */
bool dm_fail(struct dm_op_result *result, int negative_errno, enum dm_step step);

/** Runs `kind` (the caller has already taken on the user's credentials). */
void dm_run_op(enum dm_op_kind kind, const struct dm_op_args *args, struct dm_op_result *result);

void dm_free_result(struct dm_op_result *result);

/* The pid holding a flock on (dev, ino), from /proc/locks; 0 if none is found. */
int dm_lock_holder(dev_t dev, ino_t ino);

#endif
