// The two statistics kernels of the CUDA backend, generic over what they accumulate (a Policy) and
// over what the last block does with it (a Finish): run_statistics_kernel for NCHW (one warp per
// run, warp-shuffle merge) and tile_statistics_kernel for NHWC (threads along channels, row lanes
// merged in shared memory). Both write one partial per (cell, chunk) at plan.partial_index (see
// reduction_plan.h for who reads what); the last block to finish folds them and computes the
// per-unit results, so a whole reduction and what follows from it is one launch.
//
// A Policy has: `State` (a small struct of floats), `static State empty()`, `Context context(cell)`
// (what its adds need to know about the cell), `template <int V, typename Fetch> void add(State&,
// int64_t first_element, Context, Fetch&) const` (it reads its tensors through the Fetch of
// tensor_fetch.cuh) and `static State merge(a, b)`. A Finish is a functor
// `void operator()(int rank, int threads) const` run by every thread of the last block.
//
// The work of one block is a device function of the block's index in the plan
// (run_statistics_block, tile_statistics_block), so the persistent kernels (persistent_pass.cuh)
// can run several of the plan's blocks in one.
#pragma once

#include "device_io.cuh"
#include "kernel_launch.cuh"
#include "../csrc/common/kalman_norm_cells.h"
#include "../csrc/common/kalman_norm_math.h"
#include "reduction_plan.h"
#include "tensor_fetch.cuh"

namespace kn::cuda {

// Per-element Welford moments of x (forward statistics): welford_add of kalman_norm_math.h.
template <typename T>
struct MomentsPolicy {
  using Element = T;
  using State = Moments<float>;
  using Context = int;  // nothing per cell
  const T* x;

  __device__ static State empty() { return State{0.f, 0.f, 0.f}; }
  __device__ Context context(int64_t) const { return 0; }
  template <int V, typename Fetch>
  __device__ void add(State& state, int64_t first, Context, Fetch& fetch) const {
    float values[V];
    fetch(x, first, values);
#pragma unroll
    for (int i = 0; i < V; ++i) welford_add(state, values[i]);
  }
  __device__ static State merge(const State& a, const State& b) { return merge_moments(a, b); }
};

// x and dy' (dy masked by y > 0 under the relu epilogue) of the V elements from `first`.
template <typename T, int V, bool kRelu, typename Fetch>
__device__ __forceinline__ void load_x_and_gradient(Fetch& fetch, const T* x, const T* dy, const T* y, int64_t first,
                                                    float (&xs)[V], float (&grads)[V]) {
  fetch(x, first, xs);
  fetch(dy, first, grads);
  if constexpr (kRelu) {
    float ys[V];
    fetch(y, first, ys);
#pragma unroll
    for (int i = 0; i < V; ++i) grads[i] = relu_gradient(grads[i], ys[i]);
  }
}

// Sums of dy' and dy' (x - center[cell]) (backward), dy' = dy masked by y > 0 with relu: the
// shared GradientSums, gradient_add and merge_gradient_sums of kalman_norm_cells.h, in float.
template <typename T, bool kRelu>
struct GradientPolicy {
  using Element = T;
  using State = GradientSums<float>;
  using Context = float;  // the cell's center: its unit's posterior mean
  NormShape shape;
  const T* x;
  const T* dy;
  const T* y;                   // the forward's output (relu only)
  const float* posterior_mean;  // per unit

  __device__ static State empty() { return State{0.f, 0.f}; }
  __device__ Context context(int64_t cell) const { return posterior_mean[unit_of_cell_index(shape, cell)]; }
  template <int V, typename Fetch>
  __device__ void add(State& state, int64_t first, Context center, Fetch& fetch) const {
    float xs[V], grads[V];
    load_x_and_gradient<T, V, kRelu>(fetch, x, dy, y, first, xs, grads);
#pragma unroll
    for (int i = 0; i < V; ++i) gradient_add(state, grads[i], xs[i], center);
  }
  __device__ static State merge(const State& a, const State& b) { return merge_gradient_sums(a, b); }
};

__device__ __forceinline__ Moments<float> shuffle_down(const Moments<float>& s, int offset) {
  return Moments<float>{__shfl_down_sync(0xffffffffu, s.count, offset),
                        __shfl_down_sync(0xffffffffu, s.mean, offset),
                        __shfl_down_sync(0xffffffffu, s.m2, offset)};
}

__device__ __forceinline__ GradientSums<float> shuffle_down(const GradientSums<float>& s, int offset) {
  return GradientSums<float>{__shfl_down_sync(0xffffffffu, s.sum_dy, offset),
                      __shfl_down_sync(0xffffffffu, s.sum_dy_centered, offset)};
}

// Tree merge across a warp in a fixed order; lane 0 ends with the merge of all 32 lanes.
template <typename Policy>
__device__ __forceinline__ typename Policy::State warp_merge(typename Policy::State state) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) state = Policy::merge(state, shuffle_down(state, offset));
  return state;
}

// Every block calls this once its partials are written. The last block to arrive runs
// finish(rank, threads) with every block's partials visible (each block fences its writes before
// taking a ticket, the last one fences after: the pattern of the CUDA guide's __threadfence
// example), then sets the ticket back to zero for the next launch on the stream.
template <typename Finish>
__device__ void finish_in_last_block(unsigned* ticket, const Finish& finish) {
  __shared__ unsigned arrived;
  const int rank = int(threadIdx.y * blockDim.x + threadIdx.x), threads = int(blockDim.x * blockDim.y);
  __threadfence();
  __syncthreads();
  if (rank == 0) arrived = atomicAdd(ticket, 1u);
  __syncthreads();
  if (arrived != gridDim.x - 1) return;
  __threadfence();
  finish(rank, threads);
  if (rank == 0) *ticket = 0;
}

// NCHW, the plan's block `block`: kBlockThreads threads = kBlockThreads / 32 warps, one run each.
template <typename Policy, int V, typename Fetch>
__device__ void run_statistics_block(const ReductionPlan& plan, int64_t block, const Policy& policy,
                                     typename Policy::State* partials, Fetch& fetch) {
  const int64_t item = block * (kBlockThreads / kWarp) + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (item >= plan.items()) return;  // the item is the same for the whole warp
  const RunItem run = run_item(plan, item);
  const typename Policy::Context context = policy.context(run.cell);
  typename Policy::State state = Policy::empty();
  for (int64_t step = 0;; ++step) {
    const int64_t first = run_element(plan, run, lane, step);
    if (first < 0) break;
    policy.template add<V>(state, first, context, fetch);
  }
  state = warp_merge<Policy>(state);
  const int64_t channels = plan.shape.channels;
  if (lane == 0) partials[plan.partial_index(run.cell / channels, run.cell % channels, run.chunk)] = state;
}

// NHWC, the plan's block `block`: (tile_channels, row_lanes) threads, one tile; `lanes` (shared
// memory) holds one State per thread, merged along the row lanes in a fixed order.
template <typename Policy, typename Fetch>
__device__ void tile_statistics_block(const ReductionPlan& plan, int64_t block, const Policy& policy,
                                      typename Policy::State* partials, Fetch& fetch, typename Policy::State* lanes) {
  using State = typename Policy::State;
  const TileItem tile = tile_item(plan, block);
  const int channel_lane = threadIdx.x, row_lane = threadIdx.y;
  const int64_t cell = tile.sample * plan.shape.channels + tile.channel_begin + channel_lane;
  State state = Policy::empty();
  if (channel_lane < tile.channels) {
    const typename Policy::Context context = policy.context(cell);
    for (int64_t step = 0;; ++step) {
      const int64_t element = tile_element(plan, tile, channel_lane, row_lane, step);
      if (element < 0) break;
      policy.template add<1>(state, element, context, fetch);
    }
  }
  lanes[row_lane * blockDim.x + channel_lane] = state;
  __syncthreads();
  if (row_lane == 0 && channel_lane < tile.channels) {
    for (unsigned r = 1; r < blockDim.y; ++r) state = Policy::merge(state, lanes[r * blockDim.x + channel_lane]);
    partials[plan.partial_index(tile.sample, tile.channel_begin + channel_lane, tile.chunk)] = state;
  }
}

// NCHW: one block of the plan, then the last block finishes.
template <typename Policy, int V, typename Finish>
__global__ void __launch_bounds__(kBlockThreads) run_statistics_kernel(ReductionPlan plan, Policy policy,
                                                                       typename Policy::State* partials,
                                                                       unsigned* ticket, Finish finish) {
  GlobalFetch fetch;
  run_statistics_block<Policy, V>(plan, blockIdx.x, policy, partials, fetch);
  finish_in_last_block(ticket, finish);
}

// NHWC: one tile of the plan (dynamic shared memory: one State per thread), then the last block
// finishes.
template <typename Policy, typename Finish>
__global__ void __launch_bounds__(kBlockThreads) tile_statistics_kernel(ReductionPlan plan, Policy policy,
                                                                        typename Policy::State* partials,
                                                                        unsigned* ticket, Finish finish) {
  KN_DYNAMIC_SHARED(unsigned char, shared_bytes);
  GlobalFetch fetch;
  tile_statistics_block(plan, blockIdx.x, policy, partials, fetch, reinterpret_cast<typename Policy::State*>(shared_bytes));
  finish_in_last_block(ticket, finish);
}

// A statistics kernel whose partials a later kernel folds.
struct NoFinish {
  __device__ void operator()(int, int) const {}
};

// A finish alone, in one block: a split call's halves (CallPart). One block per SM at most (the
// second bound) leaves ptxas every register; with the default bound it spilled one.
template <typename Finish>
__global__ void __launch_bounds__(kBlockThreads, 1) finish_kernel(Finish finish) {
  finish(int(threadIdx.x), int(blockDim.x));
}

// A cell's partials merged in chunk order (for the finishing block).
template <typename Policy>
__device__ typename Policy::State fold_partials(const ReductionPlan& plan, const typename Policy::State* partials,
                                                int64_t cell) {
  const int64_t sample = cell / plan.shape.channels, channel = cell % plan.shape.channels;
  typename Policy::State total = partials[plan.partial_index(sample, channel, 0)];
  for (int64_t chunk = 1; chunk < plan.chunks; ++chunk)
    total = Policy::merge(total, partials[plan.partial_index(sample, channel, chunk)]);
  return total;
}

// Every cell's state for the finishing block: with one chunk a cell, the partials are the cells
// already (partial_index is the cell's index in both layouts), so nothing is copied; else each
// cell's chunks are folded into `cells`. The block's threads call it together.
template <typename Policy>
__device__ const typename Policy::State* folded_cells(const ReductionPlan& plan, const typename Policy::State* partials,
                                                      typename Policy::State* cells, int rank, int threads) {
  if (plan.chunks == 1) return partials;
  for (int64_t cell = rank; cell < plan.shape.cells(); cell += threads) cells[cell] = fold_partials<Policy>(plan, partials, cell);
  __syncthreads();
  return cells;
}

}  // namespace kn::cuda
