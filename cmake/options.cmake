# What the product addon (../CMakeLists.txt) and the tools addon (../tools/native/CMakeLists.txt)
# are both built with: C++20, Release unless asked, and the KN_CUDA mode (auto, on, off or
# emulate; kn_cuda_mode), from -DKN_CUDA or the KN_CUDA environment variable (so `KN_CUDA=on npm
# install` works).
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE Release)
endif()

# A build mode: from -D<name>, else the environment variable <name>, else auto; cached with its
# choices, checked, and lower-cased into <out>. KN_CUDA here; KN_MPI in mpi.cmake.
function(kn_mode name doc out)
  set(choices ${ARGN})
  if(DEFINED ENV{${name}})
    set(default "$ENV{${name}}")
  else()
    set(default auto)
  endif()
  set(${name} ${default} CACHE STRING "${doc}")
  set_property(CACHE ${name} PROPERTY STRINGS ${choices})
  string(TOLOWER "${${name}}" mode)
  if(NOT mode IN_LIST choices)
    list(JOIN choices ", " listed)
    message(FATAL_ERROR "${name} must be one of ${listed}, got '${${name}}'")
  endif()
  set(${out} ${mode} PARENT_SCOPE)
endfunction()

kn_mode(KN_CUDA "Build the CUDA part: auto, on, off or emulate" kn_cuda_mode auto on off emulate)
