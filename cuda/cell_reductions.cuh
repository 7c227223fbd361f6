// The two reduction kernels of the CUDA backend, generic over what they accumulate (a Policy):
// run_partials_kernel for NCHW (one warp per run, warp-shuffle merge) and tile_partials_kernel for
// NHWC (threads along channels, row lanes merged in shared memory). Both write one partial per
// (cell, chunk) at plan.partial_index; see reduction_plan.h for who reads what.
//
// A Policy has: `State` (a small struct of floats), `static State empty()`, `template <int V>
// void add(State&, int64_t first_element, int64_t cell) const` and `static State merge(a, b)`.
#pragma once

#include "device_io.cuh"
#include "kernel_launch.cuh"
#include "../csrc/common/kalman_norm_cells.h"
#include "../csrc/common/kalman_norm_math.h"
#include "reduction_plan.h"

namespace kn::cuda {

// Per-element Welford moments of x (forward statistics): welford_add of kalman_norm_math.h.
template <typename T>
struct MomentsPolicy {
  using Element = T;
  using State = Moments<float>;
  const T* x;

  __device__ static State empty() { return State{0.f, 0.f, 0.f}; }
  template <int V>
  __device__ void add(State& state, int64_t first, int64_t) const {
    float values[V];
    load_floats<T, V>(x + first, values);
#pragma unroll
    for (int i = 0; i < V; ++i) welford_add(state, values[i]);
  }
  __device__ static State merge(const State& a, const State& b) { return merge_moments(a, b); }
};

// x and dy' (dy masked by y > 0 under the relu epilogue) of the V elements from `first`.
template <typename T, int V, bool kRelu>
__device__ __forceinline__ void load_x_and_gradient(const T* x, const T* dy, const T* y, int64_t first, float (&xs)[V],
                                                    float (&grads)[V]) {
  load_floats<T, V>(x + first, xs);
  load_floats<T, V>(dy + first, grads);
  if constexpr (kRelu) {
    float ys[V];
    load_floats<T, V>(y + first, ys);
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
  const T* x;
  const T* dy;
  const T* y;             // the forward's output (relu only)
  const float* center;    // per cell

  __device__ static State empty() { return State{0.f, 0.f}; }
  template <int V>
  __device__ void add(State& state, int64_t first, int64_t cell) const {
    float xs[V], grads[V];
    load_x_and_gradient<T, V, kRelu>(x, dy, y, first, xs, grads);
    const float c = center[cell];
#pragma unroll
    for (int i = 0; i < V; ++i) gradient_add(state, grads[i], xs[i], c);
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

// NCHW. Block: kBlockThreads threads = kBlockThreads / 32 warps, one run each.
template <typename Policy, int V>
__global__ void __launch_bounds__(kBlockThreads) run_partials_kernel(ReductionPlan plan, Policy policy,
                                                                     typename Policy::State* partials) {
  const int64_t item = int64_t(blockIdx.x) * (kBlockThreads / kWarp) + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (item >= plan.items()) return;  // the item is the same for the whole warp
  const RunItem run = run_item(plan, item);
  typename Policy::State state = Policy::empty();
  for (int64_t step = 0;; ++step) {
    const int64_t first = run_element(plan, run, lane, step);
    if (first < 0) break;
    policy.template add<V>(state, first, run.cell);
  }
  state = warp_merge<Policy>(state);
  const int64_t channels = plan.shape.channels;
  if (lane == 0) partials[plan.partial_index(run.cell / channels, run.cell % channels, run.chunk)] = state;
}

// NHWC. Block: (tile_channels, row_lanes) threads, one tile; dynamic shared memory holds one State
// per thread.
template <typename Policy>
__global__ void __launch_bounds__(kBlockThreads) tile_partials_kernel(ReductionPlan plan, Policy policy,
                                                                      typename Policy::State* partials) {
  using State = typename Policy::State;
  KN_DYNAMIC_SHARED(unsigned char, shared_bytes);
  State* lanes = reinterpret_cast<State*>(shared_bytes);
  const TileItem tile = tile_item(plan, blockIdx.x);
  const int channel_lane = threadIdx.x, row_lane = threadIdx.y;
  const int64_t cell = tile.sample * plan.shape.channels + tile.channel_begin + channel_lane;
  State state = Policy::empty();
  for (int64_t step = 0;; ++step) {
    const int64_t element = tile_element(plan, tile, channel_lane, row_lane, step);
    if (element < 0) break;
    policy.template add<1>(state, element, cell);
  }
  lanes[row_lane * blockDim.x + channel_lane] = state;
  __syncthreads();
  if (row_lane != 0 || channel_lane >= tile.channels) return;
  for (unsigned r = 1; r < blockDim.y; ++r) state = Policy::merge(state, lanes[r * blockDim.x + channel_lane]);
  partials[plan.partial_index(tile.sample, tile.channel_begin + channel_lane, tile.chunk)] = state;
}

// Folds each cell's partials in chunk order: one thread per cell.
template <typename Policy>
__global__ void fold_cells_kernel(ReductionPlan plan, const typename Policy::State* partials,
                                  typename Policy::State* cells) {
  const int64_t cell = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (cell >= plan.shape.cells()) return;
  const int64_t sample = cell / plan.shape.channels, channel = cell % plan.shape.channels;
  typename Policy::State total = partials[plan.partial_index(sample, channel, 0)];
  for (int64_t chunk = 1; chunk < plan.chunks; ++chunk)
    total = Policy::merge(total, partials[plan.partial_index(sample, channel, chunk)]);
  cells[cell] = total;
}

}  // namespace kn::cuda
