// The element passes walk the reduction plan's items (reduction_plan.h), so every thread's
// coefficients are fixed for its whole item and no element index is ever divided: an Op gets
// begin_cell(cell) once, then apply<V>(first_element, fetch) for each vector it covers, reading
// what the reduction also read through the Fetch (tensor_fetch.cuh).
#pragma once

#include "cuda_check.h"
#include "device_io.cuh"
#include "kernel_launch.cuh"
#include "reduction_plan.h"
#include "tensor_fetch.cuh"

namespace kn::cuda {

// The plan's block `block`: in NCHW a warp per run, in NHWC one tile.
template <int V, typename Op, typename Fetch>
__device__ __forceinline__ void walk_block(const ReductionPlan& plan, int64_t block, Op& op, Fetch& fetch) {
  if (plan.runs()) {
    const int64_t item = block * (kBlockThreads / kWarp) + threadIdx.x / kWarp;
    if (item >= plan.items()) return;
    const int lane = threadIdx.x % kWarp;
    const RunItem run = run_item(plan, item);
    op.begin_cell(run.cell);
    for (int64_t step = 0;; ++step) {
      const int64_t first = run_element(plan, run, lane, step);
      if (first < 0) break;
      op.template apply<V>(first, fetch);
    }
  } else {
    const TileItem tile = tile_item(plan, block);
    if (int64_t(threadIdx.x) >= tile.channels) return;
    op.begin_cell(tile.sample * plan.shape.channels + tile.channel_begin + threadIdx.x);
    for (int64_t step = 0;; ++step) {
      const int64_t element = tile_element(plan, tile, threadIdx.x, threadIdx.y, step);
      if (element < 0) break;
      op.template apply<1>(element, fetch);
    }
  }
}

// The launch shape of a kernel that walks the plan's items: NCHW, kBlockThreads threads holding
// one run per warp; NHWC, one tile per block of (tile_channels, row_lanes) threads.
struct PlanLaunch {
  unsigned blocks;
  dim3 threads;
};

inline PlanLaunch plan_launch(const ReductionPlan& plan) {
  return PlanLaunch{unsigned(plan.blocks()), plan.runs() ? dim3(kBlockThreads) : dim3(plan.tile_channels, plan.row_lanes)};
}

// One thread's share of an element pass; V = elements per vector load (NCHW runs only).
template <int V, typename Op>
__global__ void __launch_bounds__(kBlockThreads) walk_kernel(ReductionPlan plan, Op op) {
  GlobalFetch fetch;
  walk_block<V>(plan, blockIdx.x, op, fetch);
}

// Launches an element pass over the plan: 16-byte vectors where the plan allows them. `Op`
// names its tensors' element type as Op::Element.
template <typename Op>
void launch_walk(const ReductionPlan& plan, const Op& op, cudaStream_t stream, const char* op_name) {
  constexpr int kVector = kVectorWidth<typename Op::Element>;
  const PlanLaunch launch = plan_launch(plan);
  if (plan.runs() && plan.vector_width == kVector)
    launch_kernel(walk_kernel<kVector, Op>, launch.blocks, launch.threads, 0, stream, plan, op);
  else launch_kernel(walk_kernel<1, Op>, launch.blocks, launch.threads, 0, stream, plan, op);
  check_launch(op_name, "walk_kernel");
}

}  // namespace kn::cuda
