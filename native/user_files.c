/*
 * Node-API side of the user-file operations: `fileOp(kind, uid, gid, groups, args)`
 * queues one operation on the key pool (key_pool.c) under the user's uid and returns a
 * Promise; the worker thread takes on the user's credentials (as_user.c), runs the
 * operation (user_ops.c and beside it), returns to root and hands the result back to
 * the event loop through a thread-safe function. The event loop never waits for a
 * worker. Expected failures resolve with an errno; only bad arguments throw.
 *
 * One Node environment per process is assumed (the manager's main thread): the
 * thread-safe function is made once, and it keeps the event loop alive only while
 * operations are in flight.
 */
#define _GNU_SOURCE
#include "user_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "as_user.h"
#include "held_release.h"
#include "channel.h"
#include "key_pool.h"
#include "user_ops.h"

struct file_job {
  struct dm_job job; /* first: the pool hands back this pointer */
  enum dm_op_kind kind;
  struct dm_creds creds;
  struct dm_op_args args;
  struct dm_op_result result;
  napi_deferred deferred;
};

static struct dm_channel done;
static int in_flight;

static void free_job(struct file_job *job) {
  dm_creds_free(&job->creds);
  free(job->args.path);
  for (int index = 0; index < job->args.npaths; index++) free(job->args.paths[index]);
  free(job->args.paths);
  free(job->args.data);
  dm_free_result(&job->result);
  free(job);
}

static void run_job(struct dm_job *base) {
  struct file_job *job = (struct file_job *)base;
  struct dm_saved saved;
  int error = dm_become(&job->creds, &saved);
  if (error != 0) dm_fail(&job->result, error, DM_STEP_NONE);
  else dm_run_op(job->kind, &job->args, &job->result);
  if (dm_return(&saved) != 0) {
    // Cannot happen (the saved uid is 0); a thread that stayed a user must not go on.
    fprintf(stderr, "daemon-manager: a file worker could not return to root; aborting\n");
    abort();
  }
  if (!dm_channel_send(&done, job)) free_job(job); /* the environment is going away */
}

/* ---- results to JS ---- */

static void set_number(napi_env env, napi_value object, const char *key, double number) {
  napi_value value;
  napi_create_double(env, number, &value);
  napi_set_named_property(env, object, key, value);
}

static void set_string(napi_env env, napi_value object, const char *key, const char *text) {
  napi_value value;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, object, key, value);
}

static void free_data(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/** A Buffer over `*data` (taken over, *data set to NULL), or a copy where external buffers are refused. */
static void set_buffer(napi_env env, napi_value object, const char *key, char **data, size_t length) {
  napi_value value;
  if (length > 0 && napi_create_external_buffer(env, length, *data, free_data, NULL, &value) == napi_ok)
    *data = NULL;
  else napi_create_buffer_copy(env, length, length > 0 ? *data : "", NULL, &value);
  napi_set_named_property(env, object, key, value);
}

static napi_value stat_object(napi_env env, const struct stat *stat, bool acl_write) {
  napi_value object;
  napi_create_object(env, &object);
  set_number(env, object, "dev", (double)stat->st_dev);
  set_number(env, object, "ino", (double)stat->st_ino);
  set_number(env, object, "mode", stat->st_mode);
  set_number(env, object, "uid", stat->st_uid);
  set_number(env, object, "gid", stat->st_gid);
  set_number(env, object, "nlink", (double)stat->st_nlink);
  set_number(env, object, "size", (double)stat->st_size);
  napi_value value;
  napi_get_boolean(env, acl_write, &value);
  napi_set_named_property(env, object, "aclWrite", value);
  return object;
}

static napi_value entries_array(napi_env env, struct dm_op_result *result) {
  napi_value array;
  napi_create_array_with_length(env, (size_t)result->nentries, &array);
  for (int index = 0; index < result->nentries; index++) {
    struct dm_conf_entry *entry = &result->entries[index];
    napi_value object, value;
    napi_create_object(env, &object);
    set_string(env, object, "name", entry->name);
    set_number(env, object, "errno", entry->error);
    if (entry->mount_point != NULL) {
      set_number(env, object, "mountUid", (double)entry->mount_uid);
      set_string(env, object, "mountPoint", entry->mount_point);
    }
    if (entry->has_stat) napi_set_named_property(env, object, "stat", stat_object(env, &entry->stat, entry->acl_write));
    if (entry->read) set_buffer(env, object, "data", &entry->data, entry->length);
    napi_get_boolean(env, entry->skipped, &value);
    napi_set_named_property(env, object, "skipped", value);
    napi_set_element(env, array, (uint32_t)index, object);
  }
  return array;
}

static napi_value result_object(napi_env env, struct file_job *job) {
  struct dm_op_result *result = &job->result;
  napi_value object, value;
  napi_create_object(env, &object);
  set_number(env, object, "errno", result->error);
  static const char *const steps[] = {"", "parent", "final"};
  set_string(env, object, "step", steps[result->step]);
  if (result->error_path != NULL) set_string(env, object, "errorPath", result->error_path);
  if (result->mount_point != NULL) {
    set_number(env, object, "mountUid", (double)result->mount_uid);
    set_string(env, object, "mountPoint", result->mount_point);
  }
  if (result->has_stat) {
    napi_value stat = stat_object(env, &result->stat, result->acl_write);
    if (result->btime[0] != '\0') set_string(env, stat, "btime", result->btime);
    napi_set_named_property(env, object, "stat", stat);
  }
  if (result->fd >= 0) {
    set_number(env, object, "fd", result->fd);
    result->fd = -1; /* JS owns it now */
  }
  if (result->holder_pid > 0) set_number(env, object, "holderPid", result->holder_pid);
  if (job->kind == DM_READ_CHUNK && result->has_stat) {
    set_buffer(env, object, "data", &result->data, result->length);
    set_number(env, object, "next", (double)result->next);
    set_number(env, object, "size", (double)result->size);
  }
  if (job->kind == DM_READ_CONFIG_DIR && result->error == 0) {
    napi_set_named_property(env, object, "entries", entries_array(env, result));
    set_number(env, object, "total", result->total);
    napi_get_boolean(env, result->listing_cut, &value);
    napi_set_named_property(env, object, "listingCut", value);
    set_number(env, object, "badNames", result->bad_names);
    napi_value shown;
    napi_create_array_with_length(env, (size_t)result->nbad_shown, &shown);
    for (int index = 0; index < result->nbad_shown; index++) {
      napi_value text;
      napi_create_string_utf8(env, result->bad_shown[index], NAPI_AUTO_LENGTH, &text);
      napi_set_element(env, shown, (uint32_t)index, text);
    }
    napi_set_named_property(env, object, "badNamesShown", shown);
  }
  return object;
}

static void deliver(napi_env env, napi_value callback, void *context, void *data) {
  (void)callback;
  (void)context;
  struct file_job *job = data;
  if (env != NULL) {
    napi_resolve_deferred(env, job->deferred, result_object(env, job));
    if (--in_flight == 0) napi_unref_threadsafe_function(env, done.tsfn);
  }
  free_job(job);
}

/* ---- arguments from JS ---- */

static bool get_property(napi_env env, napi_value object, const char *key, napi_value *value) {
  bool has = false;
  return napi_has_named_property(env, object, key, &has) == napi_ok && has &&
         napi_get_named_property(env, object, key, value) == napi_ok;
}

static char *copy_string(napi_env env, napi_value value) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *text = malloc(length + 1);
  if (text == NULL) return NULL;
  napi_get_value_string_utf8(env, value, text, length + 1, &length);
  // A NUL inside the string would silently cut the path: refused.
  if (strlen(text) != length) {
    free(text);
    return NULL;
  }
  return text;
}

static bool read_args(napi_env env, napi_value object, struct dm_op_args *args) {
  napi_value value;
  if (get_property(env, object, "path", &value) && (args->path = copy_string(env, value)) == NULL)
    return false;
  if (get_property(env, object, "paths", &value)) {
    uint32_t count;
    // mkdirs' few paths, or the names of a user's daemons (at most 1,000) for readConfigDir.
    if (napi_get_array_length(env, value, &count) != napi_ok || count > 1024) return false;
    args->paths = calloc(count + 1, sizeof *args->paths);
    for (uint32_t index = 0; args->paths != NULL && index < count; index++) {
      napi_value item;
      napi_get_element(env, value, index, &item);
      if ((args->paths[index] = copy_string(env, item)) == NULL) return false;
      args->npaths++;
    }
  }
  if (get_property(env, object, "data", &value)) {
    void *bytes;
    size_t length;
    if (napi_get_buffer_info(env, value, &bytes, &length) != napi_ok || length > 1024 * 1024)
      return false;
    args->data = malloc(length + 1);
    if (args->data == NULL) return false;
    memcpy(args->data, bytes, length);
    args->length = length;
  }
  const char *numbers[] = {"n1", "n2", "n3"};
  int64_t *targets[] = {&args->n1, &args->n2, &args->n3};
  for (int index = 0; index < 3; index++)
    if (get_property(env, object, numbers[index], &value) &&
        napi_get_value_int64(env, value, targets[index]) != napi_ok)
      return false;
  return true;
}

static bool read_creds(napi_env env, napi_value *argv, struct dm_creds *creds) {
  uint32_t uid, gid, count;
  if (napi_get_value_uint32(env, argv[1], &uid) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &gid) != napi_ok ||
      napi_get_array_length(env, argv[3], &count) != napi_ok || count > 64)
    return false;
  creds->uid = uid;
  creds->gid = gid;
  creds->groups = calloc(count + 1, sizeof *creds->groups);
  if (creds->groups == NULL) return false;
  for (uint32_t index = 0; index < count; index++) {
    napi_value item;
    uint32_t group;
    if (napi_get_element(env, argv[3], index, &item) != napi_ok ||
        napi_get_value_uint32(env, item, &group) != napi_ok)
      return false;
    creds->groups[creds->ngroups++] = group;
  }
  return true;
}

/* fileOp(kind, uid, gid, groups, args): Promise of the raw result. */
static napi_value js_file_op(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t kind;
  struct file_job *job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw_error(env, NULL, "fileOp: out of memory");
    return NULL;
  }
  job->result.fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &kind) != napi_ok || kind < DM_READ_CONFIG_DIR ||
      kind > DM_REMOVE_SOCKET || !read_creds(env, argv, &job->creds) ||
      !read_args(env, argv[4], &job->args)) {
    free_job(job);
    napi_throw_type_error(env, NULL, "fileOp(kind, uid, gid, groups, args): bad arguments");
    return NULL;
  }
  job->kind = (enum dm_op_kind)kind;
  job->job.key = job->creds.uid;
  job->job.run = run_job;
  napi_value promise;
  napi_create_promise(env, &job->deferred, &promise);
  if (in_flight++ == 0) napi_ref_threadsafe_function(env, done.tsfn);
  int error = dm_pool_submit(&job->job);
  if (error != 0) {
    // No worker thread could be made: answered at once, as an errno like any other.
    dm_fail(&job->result, error, DM_STEP_NONE);
    deliver(env, NULL, NULL, job);
  }
  return promise;
}

/* isDaemonName(name): native/conf_dir.c's rule, for the test that holds it equal to JS's. */
static napi_value js_is_daemon_name(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  char name[1024];
  size_t length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "isDaemonName needs a string");
    return NULL;
  }
  napi_get_boolean(env, length < sizeof name - 1 && dm_is_daemon_name(name, length), &result);
  return result;
}

/* closeFd(fd): for descriptors handed out by fileOp (logs, locks, sockets). */
static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "closeFd needs a descriptor");
    return NULL;
  }
  napi_create_int32(env, close(fd) == -1 ? errno : 0, &result);
  return result;
}

/* releaseHeldSocket(fd): closes a socket held for a daemon, emptied first (see held_release.h). */
static napi_value js_release_held(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "releaseHeldSocket needs a descriptor");
    return NULL;
  }
  napi_create_int32(env, dm_release_held(fd), &result);
  return result;
}

/* filePoolCounts(): { threads, idle, jobs } of the worker pool. */
static napi_value js_pool_counts(napi_env env, napi_callback_info info) {
  (void)info;
  int threads, idle, jobs;
  dm_pool_counts(&threads, &idle, &jobs);
  napi_value object;
  napi_create_object(env, &object);
  set_number(env, object, "threads", threads);
  set_number(env, object, "idle", idle);
  set_number(env, object, "jobs", jobs);
  return object;
}

napi_status dm_register_user_files(napi_env env, napi_value exports) {
  napi_status status = dm_channel_open(env, &done, NULL, "dm-user-files", deliver);
  if (status != napi_ok) return status;
  napi_property_descriptor properties[] = {
      {"fileOp", NULL, js_file_op, NULL, NULL, NULL, napi_default, NULL},
      {"closeFd", NULL, js_close_fd, NULL, NULL, NULL, napi_default, NULL},
      {"releaseHeldSocket", NULL, js_release_held, NULL, NULL, NULL, napi_default, NULL},
      {"filePoolCounts", NULL, js_pool_counts, NULL, NULL, NULL, napi_default, NULL},
      {"isDaemonName", NULL, js_is_daemon_name, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof properties / sizeof *properties, properties);
}
