# The CUDA backend, decided by KN_CUDA: the kernels in cuda/ as a static library linked into the
# addon with the static CUDA runtime (so the addon loads where no GPU or driver exists), and the
# addon's device-memory binding. Warnings are errors, and a register spill is a warning.
# KN_CUDA=emulate compiles the same kernels as C++ against the SIMT emulator (cmake/emulator.cmake).
include(CheckLanguage)

# Every kernel file, for nvcc and for the emulator alike: a new cuda/*.cu joins both builds.
file(GLOB KN_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cuda/*.cu)

if(kn_cuda_mode STREQUAL "off")
  message(STATUS "kalman-norm: CUDA off (KN_CUDA=off)")
  return()
endif()
if(kn_cuda_mode STREQUAL "emulate")
  include(${CMAKE_CURRENT_LIST_DIR}/emulator.cmake)
  return()
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

add_library(kn_cuda STATIC ${KN_CUDA_SOURCES})
set_target_properties(kn_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON CUDA_RUNTIME_LIBRARY Static
                                         CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON CUDA_EXTENSIONS OFF)
# -fmad=false: no contraction of a * b + c into an FMA, so the GPU rounds every operation as the
# emulator and the CPU do (docs/CUDA.md, "What the emulator proves").
target_compile_options(kn_cuda PRIVATE -O3 -fmad=false --Werror all-warnings -Xptxas=-warn-spills,-warn-lmem-usage
                                       --resource-usage)

target_sources(kalman_norm PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/csrc/addon/device_memory.cpp)
target_compile_definitions(kalman_norm PRIVATE KN_WITH_CUDA)
target_include_directories(kalman_norm SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
target_link_libraries(kalman_norm PRIVATE kn_cuda CUDA::cudart_static)
