// The element passes walk the reduction plan's items (reduction_plan.h), so every thread's
// coefficients are fixed for its whole item and no element index is ever divided: an Op gets
// begin_cell(cell) once, then apply<V>(first_element) for each vector it covers.
#pragma once

#include "reduction_plan.h"

namespace kn::cuda {

template <int V, typename Op>
__device__ __forceinline__ void walk_plan(const ReductionPlan& plan, Op& op) {
  if (plan.runs()) {
    const int64_t item = int64_t(blockIdx.x) * (kBlockThreads / kWarp) + threadIdx.x / kWarp;
    if (item >= plan.items()) return;
    const int lane = threadIdx.x % kWarp;
    const RunItem run = run_item(plan, item);
    op.begin_cell(run.cell);
    for (int64_t step = 0;; ++step) {
      const int64_t first = run_element(plan, run, lane, step);
      if (first < 0) break;
      op.template apply<V>(first);
    }
  } else {
    const TileItem tile = tile_item(plan, blockIdx.x);
    if (int64_t(threadIdx.x) >= tile.channels) return;
    op.begin_cell(tile.sample * plan.shape.channels + tile.channel_begin + threadIdx.x);
    for (int64_t step = 0;; ++step) {
      const int64_t element = tile_element(plan, tile, threadIdx.x, threadIdx.y, step);
      if (element < 0) break;
      op.template apply<1>(element);
    }
  }
}

}  // namespace kn::cuda
