{
  "targets": [
    {
      "target_name": "virt_tier",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/peercred.cc",
        "native/move_pages.cc",
        "native/process_madvise.cc",
        "native/pagemap.cc",
        "native/idle.cc",
        "native/residency.cc",
        "native/page_states.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=9", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
