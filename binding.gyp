{
  "targets": [
    {
      "target_name": "dm_native",
      "sources": ["native/dm_native.c", "native/datagram.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "dm-launch",
      "type": "executable",
      "sources": ["native/dm_launch.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
