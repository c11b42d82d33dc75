/*
 * Node-API side of the log pump (log_pump.c): pumpStart(onEvent, deadlineMs),
 * pumpAttach(...), pumpCommand(kind, id) -> Promise<number>, pumpStats(id),
 * pumpExpectBanner(id, banner). Events
 * reach JS through one thread-safe function, which keeps the event loop alive only
 * while commands are in flight (a manager has other reasons to stay up).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "log_journal.h"
#include "log_pump.h"
#include "log_pump_napi.h"

static struct dm_channel events;
static int in_flight;

static void emit(struct dm_pump_event *event) {
  if (!dm_channel_send(&events, event)) free(event);
}

static void deliver(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  struct dm_pump_event *event = data;
  if (env != NULL && event->type == DM_PUMP_DONE) {
    napi_value value;
    napi_create_double(env, (double)event->value, &value);
    napi_resolve_deferred(env, (napi_deferred)event->token, value);
    if (--in_flight == 0) napi_unref_threadsafe_function(env, events.tsfn);
  } else if (env != NULL) {
    napi_value argv[3], undefined;
    napi_create_int32(env, event->type, &argv[0]);
    napi_create_int32(env, event->id, &argv[1]);
    napi_create_string_utf8(env, event->message, NAPI_AUTO_LENGTH, &argv[2]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, callback, 3, argv, NULL);
  }
  free(event);
}

static napi_value throw_errno(napi_env env, const char *call, int negative) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", call, strerror(-negative));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value undefined_value(napi_env env) {
  napi_value value;
  napi_get_undefined(env, &value);
  return value;
}

/* pumpStart(onEvent(type, id, message), deadlineMs) */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t deadline;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[1], &deadline) != napi_ok || deadline <= 0) {
    napi_throw_type_error(env, NULL, "pumpStart(onEvent, deadlineMs)");
    return NULL;
  }
  // One pump per process: a second start must not replace the channel the first one uses.
  static bool started;
  if (started) return throw_errno(env, "pumpStart", -EALREADY);
  if (dm_channel_open(env, &events, argv[0], "dm-log-pump", deliver) != napi_ok) {
    napi_throw_error(env, NULL, "pumpStart: cannot make the event channel");
    return NULL;
  }
  started = true;
  int error = dm_pump_start(emit, deadline);
  if (error != 0) return throw_errno(env, "pumpStart", error);
  return undefined_value(env);
}

static bool int_at(napi_env env, napi_value *argv, size_t index, int32_t *out) {
  return napi_get_value_int32(env, argv[index], out) == napi_ok;
}

/*
 * pumpAttach(id, pipeFd, fileFd, maxBytes, keep, timestamps, uid, gid, groups, path,
 *            gapBytes, gapError, skipRest, journalFd, placeFd): gapBytes to skipRest what
 * an earlier pump dropped; journalFd and placeFd (-1: none) the daemon's journal and the
 * record of which file its pump writes, taken over.
 */
static napi_value js_attach(napi_env env, napi_callback_info info) {
  size_t argc = 15;
  napi_value argv[15];
  int32_t id, pipe_fd, file_fd, keep, journal_fd, place_fd;
  int64_t max_bytes;
  bool timestamps, skip_rest;
  int64_t gap_bytes;
  int32_t gap_error;
  uint32_t uid, gid, count;
  char path[4096];
  size_t length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 15 ||
      !int_at(env, argv, 0, &id) || !int_at(env, argv, 1, &pipe_fd) || !int_at(env, argv, 2, &file_fd) ||
      napi_get_value_int64(env, argv[3], &max_bytes) != napi_ok || !int_at(env, argv, 4, &keep) ||
      napi_get_value_bool(env, argv[5], &timestamps) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &uid) != napi_ok ||
      napi_get_value_uint32(env, argv[7], &gid) != napi_ok ||
      napi_get_array_length(env, argv[8], &count) != napi_ok || count > 64 ||
      napi_get_value_string_utf8(env, argv[9], path, sizeof path, &length) != napi_ok ||
      length >= sizeof path - 1 || napi_get_value_int64(env, argv[10], &gap_bytes) != napi_ok ||
      !int_at(env, argv, 11, &gap_error) || napi_get_value_bool(env, argv[12], &skip_rest) != napi_ok ||
      !int_at(env, argv, 13, &journal_fd) || !int_at(env, argv, 14, &place_fd)) {
    napi_throw_type_error(env, NULL, "pumpAttach: bad arguments");
    return NULL;
  }
  gid_t groups[64];
  for (uint32_t index = 0; index < count; index++) {
    napi_value item;
    uint32_t group = 0;
    napi_get_element(env, argv[8], index, &item);
    napi_get_value_uint32(env, item, &group);
    groups[index] = group;
  }
  struct dm_creds owner = {.uid = uid, .gid = gid, .ngroups = (int)count, .groups = groups};
  struct dm_pump_options options = {.max_bytes = max_bytes, .keep = keep, .timestamps = timestamps};
  struct dm_pump_gap gap = {.bytes = gap_bytes, .error = gap_error, .skip_rest = skip_rest};
  int error = dm_pump_attach(id, pipe_fd, file_fd, &options, &owner, path, &gap, journal_fd, place_fd);
  if (error != 0) return throw_errno(env, "pumpAttach", error);
  return undefined_value(env);
}

/* pumpCommand(kind, id): Promise of a number (detach: the pipe's fd, or -1 if unknown). */
static napi_value js_command(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], promise;
  int32_t kind, id;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      !int_at(env, argv, 0, &kind) || !int_at(env, argv, 1, &id) || kind < DM_CMD_DETACH ||
      kind > DM_CMD_RESUME) {
    napi_throw_type_error(env, NULL, "pumpCommand(kind, id)");
    return NULL;
  }
  napi_deferred deferred;
  napi_create_promise(env, &deferred, &promise);
  if (in_flight++ == 0) napi_ref_threadsafe_function(env, events.tsfn);
  int error = dm_pump_command((enum dm_pump_command)kind, id, deferred);
  if (error != 0) return throw_errno(env, "pumpCommand", error);
  return promise;
}

/* pumpExpectBanner(id, banner): see dm_pump_expect_banner; false if the id is unknown. */
static napi_value js_expect_banner(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], value;
  int32_t id;
  char banner[8192];
  size_t length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      !int_at(env, argv, 0, &id) ||
      napi_get_value_string_utf8(env, argv[1], banner, sizeof banner, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "pumpExpectBanner(id, banner)");
    return NULL;
  }
  // A banner longer than this is not expected (it is not cut into one that never comes).
  bool known = length < sizeof banner - 1 && length > 0 && dm_pump_expect_banner(id, banner) == 0;
  napi_get_boolean(env, known, &value);
  return value;
}

static void set_number(napi_env env, napi_value object, const char *key, double number) {
  napi_value value;
  napi_create_double(env, number, &value);
  napi_set_named_property(env, object, key, value);
}

/** A file's birth time as `btime`, in ns since the epoch (as the user files' stat has it), if known. */
static void set_birth(napi_env env, napi_value object, const struct dm_pump_file *file) {
  if (file->birth_sec <= 0) return;
  char text[32];
  snprintf(text, sizeof text, "%lld%09lld", (long long)file->birth_sec, (long long)file->birth_nsec);
  napi_value value;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, object, "btime", value);
}

/*
 * pumpStats(id): { bytes, dropped, size, failing, stuck, eof, away, reason, gapBytes,
 * gapError, skipRest, dev, ino, beginsMidLine (if known), retired: [{ dev, ino, path }] (oldest first) }
 * or undefined.
 */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], object, value;
  int32_t id;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !int_at(env, argv, 0, &id)) {
    napi_throw_type_error(env, NULL, "pumpStats(id)");
    return NULL;
  }
  struct dm_pump_stats stats;
  dm_pump_stats(id, &stats);
  if (!stats.found) return undefined_value(env);
  napi_create_object(env, &object);
  set_number(env, object, "bytes", (double)stats.bytes);
  set_number(env, object, "dropped", (double)stats.dropped);
  set_number(env, object, "size", (double)stats.size);
  set_number(env, object, "gapBytes", (double)stats.gap.bytes);
  set_number(env, object, "gapError", (double)stats.gap.error);
  set_number(env, object, "dev", (double)stats.current.dev);
  set_number(env, object, "ino", (double)stats.current.ino);
  set_birth(env, object, &stats.current);
  if (stats.current_begins != 0) {
    napi_value begins;
    napi_get_boolean(env, stats.current_begins == 2, &begins);
    napi_set_named_property(env, object, "beginsMidLine", begins);
  }
  napi_value retired, entry;
  napi_create_array_with_length(env, (size_t)stats.retired_count, &retired);
  for (int index = 0; index < stats.retired_count; index++) {
    napi_create_object(env, &entry);
    set_number(env, entry, "dev", (double)stats.retired[index].dev);
    set_number(env, entry, "ino", (double)stats.retired[index].ino);
    set_birth(env, entry, &stats.retired[index]);
    napi_create_string_utf8(env, stats.retired_path[index], NAPI_AUTO_LENGTH, &value);
    napi_set_named_property(env, entry, "path", value);
    napi_set_element(env, retired, (uint32_t)index, entry);
  }
  napi_set_named_property(env, object, "retired", retired);
  const char *flags[] = {"failing", "stuck", "eof", "away", "skipRest"};
  bool values[] = {stats.failing, stats.stuck, stats.eof, stats.away, stats.gap.skip_rest};
  for (int index = 0; index < 5; index++) {
    napi_get_boolean(env, values[index], &value);
    napi_set_named_property(env, object, flags[index], value);
  }
  napi_create_string_utf8(env, stats.reason, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, object, "reason", value);
  return object;
}

/** journalTrim(dir, name): see dm_journal_trim; whether it was trimmed. */
static napi_value js_journal_trim(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char dir[PATH_MAX], name[NAME_MAX + 1];
  size_t length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_string_utf8(env, argv[0], dir, sizeof dir, &length) != napi_ok ||
      length >= sizeof dir - 1 ||
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &length) != napi_ok ||
      length >= sizeof name - 1 || strchr(name, '/') != NULL) {
    napi_throw_type_error(env, NULL, "journalTrim(dir, name)");
    return NULL;
  }
  int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd == -1) return throw_errno(env, "journalTrim", -errno);
  int result = dm_journal_trim(dir_fd, name);
  close(dir_fd);
  if (result < 0) return throw_errno(env, "journalTrim", result);
  napi_value value;
  napi_get_boolean(env, result == 1, &value);
  return value;
}

napi_status dm_register_log_pump(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"pumpStart", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"pumpAttach", NULL, js_attach, NULL, NULL, NULL, napi_default, NULL},
      {"pumpCommand", NULL, js_command, NULL, NULL, NULL, napi_default, NULL},
      {"pumpStats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"pumpExpectBanner", NULL, js_expect_banner, NULL, NULL, NULL, napi_default, NULL},
      {"journalTrim", NULL, js_journal_trim, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof properties / sizeof *properties, properties);
}
