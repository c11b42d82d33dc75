/* Helpers shared by the addon's files (defined in dm_native.c). */
#ifndef DM_NATIVE_H
#define DM_NATIVE_H

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

napi_value throw_errno(napi_env env, const char *call);
napi_value throw_type(napi_env env, const char *message);
int int_arg(napi_env env, napi_callback_info info, size_t index, int32_t *out);
int string_arg(napi_env env, napi_callback_info info, size_t index, char *out, size_t size);

void register_keeper_link(napi_env env, napi_value exports);
void register_locks(napi_env env, napi_value exports);
void register_sockets(napi_env env, napi_value exports);
void register_datagram(napi_env env, napi_value exports);
void register_notify_socket(napi_env env, napi_value exports);
void register_digest(napi_env env, napi_value exports);

#endif
