// Device-memory traffic of the kernels. The emulated build compiles the kernel files with
// -fsanitize=kernel-address in outline mode (no sanitizer runtime): the compiler then calls
// __asan_{load,store}N_noabort before every access of kernel code, and traffic.cpp notes those
// outside the running thread's stack, shared memory and launch arguments: global memory. A kernel's
// traffic is 32 bytes for each distinct 32-byte sector it read (and, apart, wrote): what a GPU
// moves to and from DRAM when its caches hold the kernel's footprint, so a value that every
// thread loads counts once, and x read by two kernels counts twice.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace kn_emu {

// Where the running emulated thread's non-global memory lies; all zero outside a kernel.
struct LocalRanges {
  uintptr_t stack_begin, stack_end;
  uintptr_t dynamic_shared_begin, dynamic_shared_end;
  uintptr_t launch_begin, launch_end;
};

extern thread_local LocalRanges local_ranges;

// Bytes of global memory (whole sectors) the kernel run by this host thread since the last take
// read and wrote; empties the sets.
void take_kernel_traffic(uint64_t& read, uint64_t& written);

}  // namespace kn_emu
