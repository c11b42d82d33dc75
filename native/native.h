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

/*
 * Makes a unix socket refuse descriptors passed to it (SO_PASSRIGHTS off, Linux 6.16 on;
 * sockets accepted from a listener inherit it): the sender's sendmsg fails with EPERM.
 * A TCP socket with SO_LINGER and unsent data, passed by a user and closed by the
 * manager's thread (read() discards what it does not ask for, and the last close runs
 * there), held the manager in the kernel for the whole linger time (an outside review,
 * 36b, F6). 1 if the kernel has the option, 0 if not.
 */
int refuse_passed_descriptors(int fd);

void register_keeper_link(napi_env env, napi_value exports);
void register_locks(napi_env env, napi_value exports);
void register_sockets(napi_env env, napi_value exports);
void register_datagram(napi_env env, napi_value exports);
void register_notify_socket(napi_env env, napi_value exports);
void register_digest(napi_env env, napi_value exports);

#endif
