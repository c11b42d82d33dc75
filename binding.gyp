{
  "targets": [
    {
      "target_name": "dm_native",
      "sources": ["native/dm_native.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
