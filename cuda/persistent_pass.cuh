// A training pass (forward or backward) in one launch, when what it reads fits on chip: a
// cooperative grid of one kernel_launch block per SM walks the plan's blocks (block b takes the
// plan's blocks b, b + grid, ...) twice. The first walk is the statistics kernel's work
// (cell_reductions.cuh), keeping every vector it loads of x (and dy, y) in the block's shared
// memory (RecordingFetch); a grid sync; block 0 runs the Finish the last block runs in the
// two-launch pass; a grid sync; the second walk is the element pass's work (element_passes.cuh),
// reading those vectors back from shared memory (ReplayFetch). The partials, the Finish and every
// element's arithmetic are the two-launch pass's, so both give the same bits; the global traffic
// is one read of each input and one write of each output.
#pragma once

#include <cooperative_groups.h>

#include <mutex>

#include "launch.cuh"

namespace kn::cuda {

// Dynamic shared memory of a persistent block: the row lanes' States (NHWC), then the cache.
struct PersistentLayout {
  size_t cache_offset;
  size_t bytes;
};

template <typename Policy, int V, typename Finish, typename Op>
__global__ void __launch_bounds__(kBlockThreads, 1) persistent_pass_kernel(ReductionPlan plan, Policy policy,
                                                                        typename Policy::State* partials, Finish finish,
                                                                        Op op, PersistentLayout layout) {
  using State = typename Policy::State;
  KN_DYNAMIC_SHARED(unsigned char, shared);
  const cooperative_groups::grid_group grid = cooperative_groups::this_grid();
  const int rank = int(threadIdx.y * blockDim.x + threadIdx.x), threads = int(blockDim.x * blockDim.y);
  const int64_t blocks = plan.blocks();
  RecordingFetch record{CacheSlots{shared + layout.cache_offset, rank, threads}};
  for (int64_t block = blockIdx.x; block < blocks; block += gridDim.x) {
    if (plan.runs()) run_statistics_block<Policy, V>(plan, block, policy, partials, record);
    else tile_statistics_block(plan, block, policy, partials, record, reinterpret_cast<State*>(shared));
    __syncthreads();  // the next tile writes the row lanes' States again
  }
  grid.sync();
  if (blockIdx.x == 0) finish(rank, threads);
  grid.sync();
  ReplayFetch replay{CacheSlots{shared + layout.cache_offset, rank, threads}};
  for (int64_t block = blockIdx.x; block < blocks; block += gridDim.x) walk_block<V>(plan, block, op, replay);
}

// Whether passes may run persistent (set_persistent_passes, kalman_norm_cuda.h).
bool persistent_passes_enabled();

// The current device's SMs and the dynamic shared memory a persistent block may use, read once per
// device; sms == 0 where it cannot launch cooperative grids.
struct PersistentDevice {
  int device;
  int sms;
  size_t shared_budget;
};
PersistentDevice persistent_device(const char* op);

// Raises kKernel's dynamic shared memory limit to the budget once per device and checks that a
// block with the whole budget fits on an SM; false where either fails. (A template of the kernel
// itself, not of its type: the kernels of two vector widths share a type.)
template <auto kKernel>
bool persistent_kernel_ready(const PersistentDevice& device) {
  static std::mutex lock;
  static uint64_t tried = 0, ready = 0;  // bit d: device d
  if (device.sms == 0 || device.device >= 64) return false;
  std::lock_guard<std::mutex> guard(lock);
  const uint64_t bit = uint64_t(1) << device.device;
  if (!(tried & bit)) {
    tried |= bit;
    const void* function = reinterpret_cast<const void*>(kKernel);
    int blocks = 0;
    const bool fits =
        cudaFuncSetAttribute(function, cudaFuncAttributeMaxDynamicSharedMemorySize, int(device.shared_budget)) == cudaSuccess &&
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, function, kBlockThreads, device.shared_budget) == cudaSuccess &&
        blocks >= 1;
    if (fits) ready |= bit;
    else cudaGetLastError();  // not an error of the op: it takes two launches instead
  }
  return ready & bit;
}

// The persistent block's layout for `plan` when `tensors` tensors of element type T are cached,
// with `grid` blocks; bytes == 0 where it does not fit the budget.
template <typename State, typename T, int V>
PersistentLayout persistent_layout(const ReductionPlan& plan, int tensors, unsigned grid, size_t budget) {
  const size_t lanes = plan.runs() ? 0 : (size_t(kBlockThreads) * sizeof(State) + 15) / 16 * 16;
  const int64_t blocks_per_grid_block = ceil_div(plan.blocks(), grid);
  const size_t slots = size_t(tensors) * size_t(blocks_per_grid_block) * size_t(plan.steps_per_block());
  const size_t bytes = lanes + slots * kBlockThreads * sizeof(Packed<T, V>);
  return bytes <= budget ? PersistentLayout{lanes, bytes} : PersistentLayout{0, 0};
}

// One training pass over `plan`: the persistent kernel where `tensors` cached inputs fit on chip,
// else the statistics kernel with `finish` in its last block and then the element pass `op`.
template <typename Policy, typename Finish, typename Op>
void launch_training_pass(const ReductionPlan& plan, const Policy& policy, typename Policy::State* partials,
                          unsigned* ticket, const Finish& finish, const Op& op, int tensors, cudaStream_t stream,
                          const char* op_name) {
  using T = typename Policy::Element;
  constexpr int kVector = kVectorWidth<T>;
  const auto persistent = [&](auto vector) -> bool {
    constexpr int V = decltype(vector)::value;
    constexpr auto kernel = persistent_pass_kernel<Policy, V, Finish, Op>;
    const PersistentDevice device = persistent_device(op_name);
    if (!persistent_passes_enabled() || !persistent_kernel_ready<kernel>(device)) return false;
    const unsigned grid = unsigned(plan.blocks() < device.sms ? plan.blocks() : device.sms);
    const PersistentLayout layout = persistent_layout<typename Policy::State, T, V>(plan, tensors, grid, device.shared_budget);
    if (layout.bytes == 0) return false;
    launch_cooperative_kernel(kernel, grid, plan_launch(plan).threads, layout.bytes, stream, plan, policy, partials, finish, op, layout);
    check_launch(op_name, "persistent_pass_kernel");
    return true;
  };
  const bool vectors = plan.runs() && plan.vector_width == kVector;
  if (vectors ? persistent(std::integral_constant<int, kVector>{}) : persistent(std::integral_constant<int, 1>{})) return;
  launch_statistics(plan, policy, partials, ticket, finish, stream, op_name);
  launch_walk(plan, op, stream, op_name);
}

}  // namespace kn::cuda
