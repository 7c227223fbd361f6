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

// Moments of a contiguous run (NCHW chunk).
inline Moments<double> run_moments(const float* x, int64_t length) {
  const int64_t full = length - length % kStep;
  Float4 sums[kGroups] = {};
  for (int64_t i = 0; i < full; i += kStep)
    for (int g = 0; g < kGroups; ++g) sums[g] += load4(x + i + 4 * g);
  float sum = total(sums);
  for (int64_t i = full; i < length; ++i) sum += x[i];
  const float shift = sum / float(length);

  const Float4 shift4 = broadcast4(shift);
  Float4 deviations[kGroups] = {}, squares[kGroups] = {};
  for (int64_t i = 0; i < full; i += kStep)
    for (int g = 0; g < kGroups; ++g) {
      const Float4 d = load4(x + i + 4 * g) - shift4;
      deviations[g] += d;
      squares[g] += d * d;
    }
  double deviation_sum = total(deviations), square_sum = total(squares);
  for (int64_t i = full; i < length; ++i) {
    const float d = x[i] - shift;
    deviation_sum += d;
    square_sum += double(d) * d;
  }
  return moments_from_shifted_sums<double>(double(length), shift, deviation_sum, square_sum);
}

// Sum of all lanes of one field of the groups, in the order of total(Float4 groups).
inline float total(const GradientSums<Float4> (&groups)[kGroups], Float4 GradientSums<Float4>::*field) {
  Float4 sum = groups[0].*field;
  for (int g = 1; g < kGroups; ++g) sum += groups[g].*field;
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

// Sums of a contiguous run (NCHW chunk) around one center.
template <bool kRelu>
GradientSums<double> run_gradient_sums(const float* x, const float* dy, const float* y, int64_t length,
                                       float center) {
  const int64_t full = length - length % kStep;
  const Float4 center4 = broadcast4(center);
  GradientSums<Float4> lanes[kGroups] = {};
  for (int64_t i = 0; i < full; i += kStep)
    for (int g = 0; g < kGroups; ++g) {
      const int64_t at = i + 4 * g;
      const Float4 grad = kRelu ? relu_gradient(load4(dy + at), load4(y + at)) : load4(dy + at);
      gradient_add(lanes[g], grad, load4(x + at), center4);
    }
  GradientSums<double> result{total(lanes, &GradientSums<Float4>::sum_dy), total(lanes, &GradientSums<Float4>::sum_dy_centered)};
  for (int64_t i = full; i < length; ++i) {
    const float g = kRelu ? relu_gradient(dy[i], y[i]) : dy[i];
    result.sum_dy += g;
    result.sum_dy_centered += double(g) * (x[i] - center);
  }
  return result;
}

}  // namespace chunk_kernels
}  // namespace kn
