// The CPU's element rows: normalize (forward) and input gradient (backward) over one memory row of
// elements that share a coefficient (NCHW: a cell's run, kStride 0) or step it with the channel
// (NHWC: a row of channels, kStride 1). The element passes (element_passes.cpp) and the fused unit
// passes (unit_passes.cpp) both call them. On tensors larger than the caches the output is written
// by non-temporal stores (kStreaming): a plain store first reads its line (read for ownership).
#pragma once

#include <cstdint>

#include "../common/kalman_norm_cells.h"
#include "../common/norm_shape.h"
#include "element_passes.h"
#include "float_lanes.h"

namespace kn {
namespace element_rows {

// Tensors from this size on are written by non-temporal stores: the output would not stay in the
// cache for the next layer anyway.
inline constexpr int64_t kStreamingBytes = int64_t(8) << 20;

// Whether `out` is written by non-temporal stores: when it is large, and every row is whole aligned
// vectors. A line written partly by plain stores and partly by non-temporal ones is evicted and
// written back in pieces: with rows of 49 floats, 32x2048x7x7 NCHW took 4x as long.
inline bool streaming_output(const NormShape& shape, const float* out) {
  const int64_t row_length = shape.layout == Layout::kNCHW ? shape.spatial : shape.channels;
  return shape.elements() * int64_t(sizeof(float)) >= kStreamingBytes && aligned16(out) && row_length % 4 == 0;
}

// Writes out[i] = one(i) for i in [0, length); with kStreaming (out aligned, length a multiple of 4:
// streaming_output), out[i..i+V) = vector.template operator()<V>(i) by non-temporal stores, V = W
// and then 4 for the last 4 when W is 8.
template <int W, bool kStreaming, typename One, typename Vector>
KN_LANES_INLINE void write_row(float* out, int64_t length, One&& one, Vector&& vector) {
  if constexpr (kStreaming) {
    int64_t i = 0;
    for (; i + W <= length; i += W) stream<W>(out + i, vector.template operator()<W>(i));
    if (W > 4 && i < length) stream<4>(out + i, vector.template operator()<4>(i));
  } else {
    for (int64_t i = 0; i < length; ++i) out[i] = one(i);
  }
}

// The coefficients of elements i..i+V-1 of a row: one value (kStride 0) or V consecutive ones.
template <int V, int kStride>
KN_LANES_INLINE FloatVec<V> coefficients(const float* values, int64_t i) {
  if constexpr (kStride == 0) return broadcast<V>(values[0]);
  else return load<V>(values + i);
}

template <int W, int kStride, bool kResidual, bool kRelu, bool kStreaming>
KN_LANES_INLINE void normalize_row(const float* x, const float* residual, float* y, int64_t length,
                                   const float* center, const float* scale, const float* shift) {
  write_row<W, kStreaming>(
      y, length,
      [&](int64_t i) {
        const int64_t k = i * kStride;
        return normalize_element<kResidual, kRelu>(x[i], kResidual ? residual[i] : 0.f, center[k], scale[k], shift[k]);
      },
      [&]<int V>(int64_t i) {
        return normalize_element<kResidual, kRelu>(load<V>(x + i), kResidual ? load<V>(residual + i) : FloatVec<V>{},
                                                   coefficients<V, kStride>(center, i), coefficients<V, kStride>(scale, i),
                                                   coefficients<V, kStride>(shift, i));
      });
}

template <int W, int kStride, bool kRelu, bool kResidualGrad, bool kStreaming>
KN_LANES_INLINE void input_gradient_row(const float* x, const float* dy, const float* y, float* dx, float* dresidual,
                                        int64_t length, const InputGradientCoefficients& k, int64_t cell) {
  const float* scale = k.scale + cell;
  const float* center = k.center + cell;
  const float* centered = k.centered + cell;
  const float* constant = k.constant + cell;
  write_row<W, kStreaming>(
      dx, length,
      [&](int64_t i) {
        const int64_t c = i * kStride;
        const float g = kRelu ? relu_gradient(dy[i], y[i]) : dy[i];
        if (kResidualGrad) dresidual[i] = g;
        return input_gradient_element(g, x[i], scale[c], center[c], centered[c], constant[c]);
      },
      [&]<int V>(int64_t i) {
        const FloatVec<V> g = kRelu ? relu_gradient(load<V>(dy + i), load<V>(y + i)) : load<V>(dy + i);
        if (kResidualGrad) store<V>(dresidual + i, g);
        return input_gradient_element(g, load<V>(x + i), coefficients<V, kStride>(scale, i),
                                      coefficients<V, kStride>(center, i), coefficients<V, kStride>(centered, i),
                                      coefficients<V, kStride>(constant, i));
      });
}

}  // namespace element_rows
}  // namespace kn
