# The CUDA part of the build, decided by KN_CUDA. Until the CUDA kernels land it compiles the
# shared host+device header (cuda/kn_unit_math.h) as device code for every target architecture,
# so a CUDA compile error fails the build wherever nvcc exists.
include(CheckLanguage)

string(TOLOWER "${KN_CUDA}" kn_cuda_mode)
if(kn_cuda_mode STREQUAL "off")
  message(STATUS "kalman-norm: CUDA off (KN_CUDA=off)")
  return()
endif()
if(NOT kn_cuda_mode STREQUAL "auto" AND NOT kn_cuda_mode STREQUAL "on")
  message(FATAL_ERROR "KN_CUDA must be auto, on or off, got '${KN_CUDA}'")
endif()

check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(kn_cuda_mode STREQUAL "on")
    message(FATAL_ERROR "KN_CUDA=on but no CUDA compiler (nvcc) was found")
  endif()
  message(STATUS "kalman-norm: CUDA off (no nvcc found)")
  return()
endif()

# Machine code for Ampere (sm_80) and Hopper (sm_90), plus PTX for later GPUs.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 80-real 90)
endif()
enable_language(CUDA)
set(CMAKE_CUDA_STANDARD 17)
message(STATUS "kalman-norm: CUDA on (${CMAKE_CUDA_COMPILER}, architectures ${CMAKE_CUDA_ARCHITECTURES})")

add_library(kn_cuda_device_math OBJECT ${CMAKE_CURRENT_SOURCE_DIR}/cuda/kn_unit_math_device.cu)
target_compile_options(kn_cuda_device_math PRIVATE -O3 --Werror all-warnings -Xptxas=-warn-spills)
add_dependencies(kalman_norm kn_cuda_device_math)
