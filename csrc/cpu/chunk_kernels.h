// The CPU's NCHW chunk kernels: the moments and the gradient sums of a contiguous run of one cell,
// accumulated in float lanes and handed to double. The cell reductions (cell_reductions.cpp) and the
// fused unit passes (unit_passes.cpp) both call them, so a cell's sums have the same bits whichever
// pass computed them.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../common/kalman_norm_cells.h"
#include "../common/kalman_norm_math.h"
#include "float_lanes.h"

namespace kn {
namespace chunk_kernels {

// Calls add(accumulator, at) over the full W-float vectors of a run of `length` floats: each step
// of kStep floats into its kStep / W accumulators, then each 8 floats left into the first 8 lanes.
// Returns how many floats it covered (the rest is the caller's, one at a time).
template <int W, typename Add>
KN_LANES_INLINE int64_t for_each_vector(int64_t length, Add&& add) {
  const int64_t steps = length - length % kStep, vectors = length - length % 8;
  for (int64_t i = 0; i < steps; i += kStep)
    for (int a = 0; a < kStep / W; ++a) add(a, i + W * a);
  for (int64_t i = steps; i < vectors; i += 8)
    for (int a = 0; a < 8 / W; ++a) add(a, i + W * a);
  return vectors;
}

// Moments of a contiguous run (NCHW chunk).
template <int W>
KN_LANES_INLINE Moments<double> run_moments(const float* x, int64_t length) {
  using V = FloatVec<W>;
  V sums[kStep / W] = {};
  const int64_t vectors = for_each_vector<W>(length, [&](int a, int64_t at) { sums[a] += load<W>(x + at); });
  float sum = total<W>([&](int a) { return sums[a]; });
  for (int64_t i = vectors; i < length; ++i) sum += x[i];
  const float shift = sum / float(length);

  const V shift_vector = broadcast<W>(shift);
  V deviations[kStep / W] = {}, squares[kStep / W] = {};
  for_each_vector<W>(length, [&](int a, int64_t at) {
    const V d = load<W>(x + at) - shift_vector;
    deviations[a] += d;
    squares[a] += d * d;
  });
  double deviation_sum = total<W>([&](int a) { return deviations[a]; });
  double square_sum = total<W>([&](int a) { return squares[a]; });
  for (int64_t i = vectors; i < length; ++i) {
    const float d = x[i] - shift;
    deviation_sum += d;
    square_sum += double(d) * d;
  }
  return moments_from_shifted_sums<double>(double(length), shift, deviation_sum, square_sum);
}

// Sums of a contiguous run (NCHW chunk) around one center.
template <int W, bool kRelu>
KN_LANES_INLINE GradientSums<double> run_gradient_sums(const float* x, const float* dy, const float* y, int64_t length,
                                                       float center) {
  using V = FloatVec<W>;
  const V center_vector = broadcast<W>(center);
  GradientSums<V> lanes[kStep / W] = {};
  const int64_t vectors = for_each_vector<W>(length, [&](int a, int64_t at) {
    const V grad = kRelu ? relu_gradient(load<W>(dy + at), load<W>(y + at)) : load<W>(dy + at);
    gradient_add(lanes[a], grad, load<W>(x + at), center_vector);
  });
  GradientSums<double> result{total<W>([&](int a) { return lanes[a].sum_dy; }),
                              total<W>([&](int a) { return lanes[a].sum_dy_centered; })};
  for (int64_t i = vectors; i < length; ++i) {
    const float g = kRelu ? relu_gradient(dy[i], y[i]) : dy[i];
    result.sum_dy += g;
    result.sum_dy_centered += double(g) * (x[i] - center);
  }
  return result;
}

}  // namespace chunk_kernels
}  // namespace kn
