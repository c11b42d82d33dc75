/* Registers the user-file operations (user_files.c) on the addon's exports. */
#ifndef DM_USER_FILES_H
#define DM_USER_FILES_H

#include <node_api.h>

napi_status dm_register_user_files(napi_env env, napi_value exports);

#endif
