# node-gyp build of the addon. Sources, defines and flags come from native/build.json (shared
# with CMakeLists.txt); node's common.gypi defaults that would make this build differ are
# dropped here (its -Wno-unused-parameter, its gnu++17). What remains of common.gypi is either
# repeated in build.json (-O3, -fPIC, -pthread, -fno-rtti, -fno-exceptions,
# -fno-omit-frame-pointer) or has no effect on this code (-m64 and node's own defines).
{
  "targets": [
    {
      "target_name": "vfio",
      "sources": ["<!@(node -p \"require('./native/build.json').sources.join(' ')\")"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["<!@(node -p \"require('./native/build.json').defines.join(' ')\")"],
      "cflags!": ["-Wno-unused-parameter"],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["<!@(node -p \"require('./native/build.json').cflags.join(' ')\")"]
    }
  ]
}
