/*
 * A thread-safe function is freed while the Node environment is torn down (at the
 * process's exit), whether or not a thread still calls it: a worker thread that calls
 * it then locks a freed mutex, and the process aborts instead of exiting (seen: the log
 * pump told of a pipe's end just as a test file's process exited, exit status 134).
 * So each call goes through a lock and a flag, and an environment cleanup hook sets the
 * flag first: Node runs cleanup hooks in the reverse order of their registration, and
 * ours is registered after the thread-safe function's own.
 */
#define _GNU_SOURCE
#include "channel.h"

static void close_channel(void *argument) {
  struct dm_channel *channel = argument;
  pthread_mutex_lock(&channel->lock);
  channel->closed = true;
  pthread_mutex_unlock(&channel->lock);
}

napi_status dm_channel_open(napi_env env, struct dm_channel *channel, napi_value callback,
                            const char *name, napi_threadsafe_function_call_js deliver) {
  napi_value resource_name;
  napi_status status = napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  if (status == napi_ok)
    status = napi_create_threadsafe_function(env, callback, NULL, resource_name, 0, 1, NULL, NULL,
                                             NULL, deliver, &channel->tsfn);
  if (status != napi_ok) return status;
  pthread_mutex_init(&channel->lock, NULL);
  channel->closed = false;
  napi_unref_threadsafe_function(env, channel->tsfn);
  return napi_add_env_cleanup_hook(env, close_channel, channel);
}

bool dm_channel_send(struct dm_channel *channel, void *data) {
  pthread_mutex_lock(&channel->lock);
  bool sent = !channel->closed &&
              napi_call_threadsafe_function(channel->tsfn, data, napi_tsfn_nonblocking) == napi_ok;
  pthread_mutex_unlock(&channel->lock);
  return sent;
}
