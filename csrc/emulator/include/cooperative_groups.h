// The SIMT emulator's stand-in for CUDA's cooperative_groups.h: the grid and the block as groups
// that can sync (a grid sync needs launch_cooperative_kernel).
#pragma once

#include "../runtime_api.h"

namespace cooperative_groups {

class grid_group {
 public:
  void sync(std::source_location where = std::source_location::current()) const { kn_emu::grid_barrier(where); }
  unsigned long long size() const {
    return (unsigned long long)(gridDim.x) * gridDim.y * gridDim.z * blockDim.x * blockDim.y * blockDim.z;
  }
  unsigned long long thread_rank() const {
    const unsigned long long block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    return block * blockDim.x * blockDim.y * blockDim.z + (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  }
};

class thread_block {
 public:
  void sync(std::source_location where = std::source_location::current()) const { kn_emu::block_barrier(where); }
  unsigned size() const { return blockDim.x * blockDim.y * blockDim.z; }
  unsigned thread_rank() const { return (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x; }
};

inline grid_group this_grid() { return grid_group{}; }
inline thread_block this_thread_block() { return thread_block{}; }

}  // namespace cooperative_groups
