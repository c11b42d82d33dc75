/* Registers the log pump (log_pump_napi.c) on the addon's exports. */
#ifndef DM_LOG_PUMP_NAPI_H
#define DM_LOG_PUMP_NAPI_H

#include <node_api.h>

napi_status dm_register_log_pump(napi_env env, napi_value exports);

#endif
