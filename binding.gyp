{
  "targets": [
    {
      "target_name": "dm_native",
      "sources": [
        "native/dm_native.c",
        "native/channel.c",
        "native/keeper_link.c",
        "native/locks.c",
        "native/sockets.c",
        "native/as_user.c",
        "native/conf_dir.c",
        "native/acl.c",
        "native/key_pool.c",
        "native/log_files.c",
        "native/log_journal.c",
        "native/log_place.c",
        "native/log_pump.c",
        "native/log_pump_napi.c",
        "native/lock_dir.c",
        "native/replace_file.c",
        "native/resolve.c",
        "native/user_mounts.c",
        "native/unix_sockets.c",
        "native/user_files.c",
        "native/user_ops.c",
        "native/datagram.c",
        "native/v8_memory.cc",
        "native/notify_socket.c",
        "native/digest.c",
        "native/held_release.c"
      ],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "dm-keeper",
      "type": "executable",
      "sources": [
        "native/keeper/keeper.c",
        "native/keeper/runs.c",
        "native/keeper/spawn.c",
        "native/keeper/fdstore.c",
        "native/held_release.c"
      ],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "dmctl-status",
      "type": "executable",
      "sources": ["native/dmctl/status.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "dm-early-signals",
      "type": "shared_library",
      "product_extension": "so",
      "sources": ["native/early/early_signals.c"],
      "cflags": ["-Wall", "-Wextra", "-O2", "-fPIC"]
    }
  ]
}
