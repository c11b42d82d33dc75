/*
 * A way from a worker thread to the event loop (a thread-safe function) that stays
 * safe to call while the Node environment goes away. See channel.c.
 */
#ifndef DM_CHANNEL_H
#define DM_CHANNEL_H

#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>

struct dm_channel {
  napi_threadsafe_function tsfn;
  pthread_mutex_t lock;
  bool closed;
};

/* Makes the channel, not keeping the event loop alive; a pending exception on failure. */
napi_status dm_channel_open(napi_env env, struct dm_channel *channel, napi_value callback,
                            const char *name, napi_threadsafe_function_call_js deliver);
/* Queues data for deliver(); false (data not taken) once the environment is going away. */
bool dm_channel_send(struct dm_channel *channel, void *data);

#endif
