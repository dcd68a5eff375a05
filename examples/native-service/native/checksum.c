// A one-function N-API addon: fnv1a(string) returns the 32-bit FNV-1a hash as 8 hex digits.
// Plain C against node_api.h, so it builds with node-gyp alone and runs on any Node >= 22.
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>

static napi_value fnv1a(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char text[1024];
  size_t length = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], text, sizeof text, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "fnv1a expects a string");
    return NULL;
  }
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < length; i++) {
    hash = (hash ^ (unsigned char)text[i]) * 16777619u;
  }
  char hex[9];
  snprintf(hex, sizeof hex, "%08x", hash);
  napi_value result;
  napi_create_string_utf8(env, hex, 8, &result);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "fnv1a", NAPI_AUTO_LENGTH, fnv1a, NULL, &fn);
  napi_set_named_property(env, exports, "fnv1a", fn);
  return exports;
}
