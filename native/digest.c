/*
 * sha256(data): the SHA-256 of a string (its UTF-8) or of bytes, as a 32-byte Buffer.
 * The manager digests every config it reads and names notify sockets by a digest; with
 * node:crypto for that, its JavaScript alone (a few dozen internal modules, compiled at
 * load) cost the idle manager 0.8 MiB of private memory and 1.5 MiB of RSS. This is the
 * OpenSSL that Node is built with and exports to addons: its plain SHA-256 functions,
 * which fetch no provider and allocate nothing (deprecated in OpenSSL 3 for the EVP
 * interface, which would). Computed on the main thread: a config is at most 256 KiB.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <node_api.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdlib.h>

#include "native.h"

static napi_value js_sha256(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1)
    return throw_type(env, "sha256(data): a string or bytes");
  unsigned char digest[SHA256_DIGEST_LENGTH];
  napi_valuetype type;
  napi_typeof(env, argv[0], &type);
  bool typed = false;
  napi_is_typedarray(env, argv[0], &typed);
  if (type == napi_string) {
    size_t length = 0;
    if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &length) != napi_ok) return NULL;
    char *text = malloc(length + 1);
    if (text == NULL) {
      napi_throw_error(env, "ENOMEM", "sha256: out of memory");
      return NULL;
    }
    napi_get_value_string_utf8(env, argv[0], text, length + 1, &length);
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, text, length);
    SHA256_Final(digest, &context);
    free(text);
  } else if (typed) {
    napi_typedarray_type kind;
    size_t length = 0, offset = 0;
    void *data = NULL;
    napi_value buffer;
    napi_get_typedarray_info(env, argv[0], &kind, &length, &data, &buffer, &offset);
    if (kind != napi_uint8_array) return throw_type(env, "sha256(data): a string or bytes");
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, data, length);
    SHA256_Final(digest, &context);
  } else {
    return throw_type(env, "sha256(data): a string or bytes");
  }
  napi_value result;
  napi_create_buffer_copy(env, sizeof digest, digest, NULL, &result);
  return result;
}

/* Adds sha256() to the addon's exports (declared in native.h, called from dm_native.c). */
void register_digest(napi_env env, napi_value exports) {
  napi_property_descriptor property = {"sha256", NULL, js_sha256, NULL, NULL, NULL, napi_default,
                                       NULL};
  napi_define_properties(env, exports, 1, &property);
}
