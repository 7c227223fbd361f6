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
      "cflags_cc": ["-std=c++20", "-O3", "-ffp-contract=off", "-Wno-psabi", "-Wall", "-Wextra", "-Werror"],
      "cflags_cc!": ["-std=gnu++17", "-fno-exceptions"]
    }
  ],
  "conditions": [
    # kn_mpi.node, the MPI engine of lib/distributed (cmake/mpi.cmake): built where Open MPI's mpicc
    # is on the PATH, unless KN_MPI=off; with KN_MPI=on a missing mpicc fails the build.
    ["<!(test \"${KN_MPI:-auto}\" = on || command -v mpicc >/dev/null 2>&1 && test \"${KN_MPI:-auto}\" != off && echo 1 || echo 0)==1", {
      "targets": [
        {
          "target_name": "kn_mpi",
          "sources": ["csrc/mpi/mpi_addon.cpp", "csrc/mpi/mpi_world.cpp"],
          "dependencies": [
            "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except_all"
          ],
          "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "OMPI_SKIP_MPICXX", "MPICH_SKIP_MPICXX"],
          "cflags_cc": ["-std=c++20", "-O3", "-Wall", "-Wextra", "-Werror", "<!@(mpicc --showme:compile)"],
          "cflags_cc!": ["-std=gnu++17", "-fno-exceptions"],
          "libraries": ["<!@(mpicc --showme:link)", "-ldl"]
        }
      ]
    }]
  ]
}
