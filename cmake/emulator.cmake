# KN_CUDA=emulate: every kernel file of cuda/ compiled unchanged as C++ against the SIMT emulator
# (csrc/emulator/: CUDA's headers, a fiber scheduler and a runtime over host memory), linked into
# the addon in place of the CUDA runtime, plus kn_emulator_checks, the emulator's own tests.
#   KN_EMULATE_ASAN=ON builds all of it with AddressSanitizer (out-of-bounds global and shared
#   memory, use after free); `npm run test:emulate:asan` runs the suite against that build.
option(KN_EMULATE_ASAN "Build the emulated CUDA backend with AddressSanitizer" OFF)
if(DEFINED ENV{KN_EMULATE_ASAN})
  set(KN_EMULATE_ASAN $ENV{KN_EMULATE_ASAN})
endif()
message(STATUS "kalman-norm: CUDA emulated (SIMT emulator), AddressSanitizer ${KN_EMULATE_ASAN}")

set(kn_emulator ${CMAKE_CURRENT_SOURCE_DIR}/csrc/emulator)
add_library(kn_emulator STATIC ${kn_emulator}/fiber.cpp ${kn_emulator}/scheduler.cpp ${kn_emulator}/runtime.cpp
                               ${kn_emulator}/memory.cpp ${kn_emulator}/streams.cpp
                               ${kn_emulator}/traffic.cpp)
target_include_directories(kn_emulator PUBLIC ${kn_emulator}/include)
target_compile_options(kn_emulator PRIVATE -O2 -Wall -Wextra -Werror)
target_link_libraries(kn_emulator PUBLIC Threads::Threads)

# The kernels: C++ (-x c++), with cuda_runtime.h force-included as nvcc does; no FMA contraction
# (nvcc builds with -fmad=false too). Warnings are errors except three that nvcc does not give
# and that kernel code meets by design: #pragma unroll (a hint), threadIdx.x (unsigned) against an
# int, and aggregates whose per-thread fields start unset.
add_library(kn_cuda STATIC ${KN_CUDA_SOURCES})
set_source_files_properties(${KN_CUDA_SOURCES} PROPERTIES LANGUAGE CXX)
target_compile_options(kn_cuda PRIVATE -x c++ -include ${kn_emulator}/include/cuda_runtime.h -O2 -ffp-contract=off
                                       -Wall -Wextra -Werror -Wno-unknown-pragmas -Wno-sign-compare
                                       -Wno-missing-field-initializers)
target_link_libraries(kn_cuda PUBLIC kn_emulator)
set_target_properties(kn_emulator kn_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON)

target_sources(kalman_norm PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/csrc/addon/device_memory.cpp
                                   ${CMAKE_CURRENT_SOURCE_DIR}/csrc/addon/emulator_binding.cpp)
target_compile_definitions(kalman_norm PRIVATE KN_WITH_CUDA KN_CUDA_EMULATED)
target_link_libraries(kalman_norm PRIVATE kn_cuda)

# The emulator's own tests: kernels with injected bugs, each of which must be reported. They live in
# test/emulator/, which the npm package does not ship: an installed package builds without them.
set(kn_emulator_tests ${CMAKE_CURRENT_SOURCE_DIR}/test/emulator)
if(EXISTS ${kn_emulator_tests}/injected_bugs.cu)
  add_executable(kn_emulator_checks ${kn_emulator_tests}/injected_bugs.cu)
  set_source_files_properties(${kn_emulator_tests}/injected_bugs.cu PROPERTIES LANGUAGE CXX)
  target_include_directories(kn_emulator_checks PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/cuda)
  target_compile_options(kn_emulator_checks PRIVATE -x c++ -include ${kn_emulator}/include/cuda_runtime.h -O1
                                                    -Wall -Wextra -Werror -Wno-unknown-pragmas)
  target_link_libraries(kn_emulator_checks PRIVATE kn_emulator)
endif()

# Traffic counters (csrc/emulator/traffic.h): the compiler calls a hook before every memory access of
# the kernels. Not with AddressSanitizer, which instruments them itself.
if(NOT KN_EMULATE_ASAN)
  target_compile_options(kn_cuda PRIVATE -fsanitize=kernel-address --param=asan-instrumentation-with-call-threshold=0
                                         --param=asan-stack=0 --param=asan-globals=0)
endif()

# Its half and bfloat16 conversions against CUDA's own host ones, where CUDA's headers are found.
find_path(KN_CUDA_FP16_INCLUDE cuda_fp16.h PATHS /usr/local/cuda/include ENV CUDA_PATH PATH_SUFFIXES include)
if(KN_CUDA_FP16_INCLUDE AND EXISTS ${kn_emulator_tests}/half_conversions.cpp)
  add_executable(kn_emulator_half_check ${kn_emulator_tests}/half_conversions.cpp)
  target_include_directories(kn_emulator_half_check SYSTEM PRIVATE ${KN_CUDA_FP16_INCLUDE})
  target_compile_options(kn_emulator_half_check PRIVATE -O2 -Wall -Wextra -Werror)
endif()

if(KN_EMULATE_ASAN)
  foreach(target kn_emulator kn_cuda kalman_norm kn_emulator_checks)
    if(TARGET ${target})
      target_compile_options(${target} PRIVATE -fsanitize=address -fno-omit-frame-pointer -g)
      target_link_options(${target} PRIVATE -fsanitize=address)
    endif()
  endforeach()
endif()
