// Runs one kernel launch: the threads of a block (all blocks, for a cooperative launch) as fibers
// in lockstep at every synchronizing call, with checks that name the kernel's file and line: a
// __syncthreads not reached by every thread or reached at different places, a lane that returns or
// is left out while its warp waits in a shuffle, a deadlock, a write past the end of dynamic
// shared memory.
#pragma once

#include <string>

#include "runtime_api.h"

namespace kn_emu {

// Fills memory with a NaN pattern: 0x7fc0 as 16-bit values, 0x7fc07fc0 as floats, NaN as doubles.
void fill_nan(void* memory, size_t bytes);

// Bytes of the section that holds every kernel's static __shared__ variables.
size_t static_shared_bytes();

enum class ThreadOrder { kAscending, kDescending };

// Runs every block of `launch`; returns "" or what went wrong. One launch at a time per process.
std::string run_grid(const KernelLaunch& launch, ThreadOrder order);

// The grid syncs the last run_grid went through.
uint64_t last_grid_syncs();

}  // namespace kn_emu
