# The CUDA backend, decided by KN_CUDA: the kernels in cuda/ as a static library linked into the
# addon with the static CUDA runtime (so the addon loads where no GPU or driver exists), and the
# addon's device-memory binding. Warnings are errors, and a register spill is a warning.
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
find_package(CUDAToolkit REQUIRED)
message(STATUS "kalman-norm: CUDA on (${CMAKE_CUDA_COMPILER}, architectures ${CMAKE_CUDA_ARCHITECTURES})")

add_library(kn_cuda STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/cuda/kalman_norm_forward.cu
  ${CMAKE_CURRENT_SOURCE_DIR}/cuda/kalman_norm_backward.cu
  ${CMAKE_CURRENT_SOURCE_DIR}/cuda/transitions.cu
  ${CMAKE_CURRENT_SOURCE_DIR}/cuda/covariance.cu)
set_target_properties(kn_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON CUDA_RUNTIME_LIBRARY Static
                                         CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON CUDA_EXTENSIONS OFF)
target_compile_options(kn_cuda PRIVATE -O3 --Werror all-warnings -Xptxas=-warn-spills,-warn-lmem-usage
                                       --resource-usage)

target_sources(kalman_norm PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/csrc/addon/device_memory.cpp
                                   ${CMAKE_CURRENT_SOURCE_DIR}/csrc/addon/cudnn_peer.cpp)
target_compile_definitions(kalman_norm PRIVATE KN_WITH_CUDA)
target_include_directories(kalman_norm SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
target_link_libraries(kalman_norm PRIVATE kn_cuda CUDA::cudart_static ${CMAKE_DL_LIBS})
