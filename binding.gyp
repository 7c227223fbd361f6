{
  "targets": [
    {
      "target_name": "kalman_norm",
      "sources": [
        "<!@(node -p \"require('fs').readFileSync('csrc/sources.txt', 'utf8').trim().split(/\\s+/).join(' ')\")"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except_all"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++20", "-O3", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror"],
      "cflags_cc!": ["-std=gnu++17", "-fno-exceptions"]
    }
  ]
}
