# Builds host/native/build/Release/weft_io.node (N-API, Linux only).
# Headers: node-addon-api (header-only, a build-time dependency) and the running node's own
# headers; build.mjs passes --nodedir when they are installed locally so no download is needed.
{
  "targets": [
    {
      "target_name": "weft_io",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/args.cc",
        "src/netns.cc",
        "src/tun.cc",
        "src/fd_batch.cc",
        "src/socket.cc",
        "src/poller.cc",
        "src/epoll.cc",
        "src/engine.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
