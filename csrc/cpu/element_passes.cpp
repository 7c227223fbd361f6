// Both passes walk memory rows: in NCHW a row is one cell (S elements, one set of coefficients,
// kStride = 0); in NHWC a row is one (sample, position) across channels (coefficients step with
// the channel, kStride = 1). Templates keep the epilogue choices out of the inner loops. On tensors
// larger than the caches the output is written by non-temporal stores (kStreaming): a plain store
// first reads its line (read for ownership), which made writing y or dx cost as much as reading x.
#include "element_passes.h"

#include "../common/kalman_norm_cells.h"
#include "float_lanes.h"
#include "thread_pool.h"

namespace kn {
namespace {

// Tensors from this size on are written by non-temporal stores: the output would not stay in the
// cache for the next layer anyway.
constexpr int64_t kStreamingBytes = int64_t(8) << 20;

// Whether `out` is written by non-temporal stores: when it is large, and every row is whole aligned
// vectors. A line written partly by plain stores and partly by non-temporal ones is evicted and
// written back in pieces: with rows of 49 floats, 32x2048x7x7 NCHW took 4x as long.
bool streaming_output(const NormShape& shape, const float* out) {
  const int64_t row_length = shape.layout == Layout::kNCHW ? shape.spatial : shape.channels;
  return shape.elements() * int64_t(sizeof(float)) >= kStreamingBytes && aligned16(out) && row_length % 4 == 0;
}

// Calls row(offset, length, first_cell) for every memory row, spread over the pool, and a
// template with the coefficient stride of the layout. With kStreaming, each piece ends with a
// store fence, so its non-temporal stores are done before the pool reports the piece done.
template <bool kStreaming, typename RowFn>
void for_each_row(const NormShape& shape, RowFn&& row) {
  if (shape.layout == Layout::kNCHW) {
    parallel_for(shape.cells(), shape.spatial, [&](int64_t begin, int64_t end) {
      for (int64_t cell = begin; cell < end; ++cell)
        row.template operator()<0>(cell * shape.spatial, shape.spatial, cell);
      if (kStreaming) store_fence();
    });
  } else {
    parallel_for(shape.samples * shape.spatial, shape.channels, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r)
        row.template operator()<1>(r * shape.channels, shape.channels, (r / shape.spatial) * shape.channels);
      if (kStreaming) store_fence();
    });
  }
}

// Writes out[i] = one(i) for i in [0, length); with kStreaming (out aligned, length a multiple of 4:
// streaming_output), out[i..i+3] = four(i) by non-temporal stores.
template <bool kStreaming, typename One, typename Four>
void write_row(float* out, int64_t length, One&& one, Four&& four) {
  if constexpr (kStreaming) {
    for (int64_t i = 0; i < length; i += 4) stream4(out + i, four(i));
  } else {
    for (int64_t i = 0; i < length; ++i) out[i] = one(i);
  }
}

// The coefficients of elements i..i+3 of a row: one value (kStride 0) or four consecutive ones.
template <int kStride>
Float4 coefficient4(const float* coefficients, int64_t i) {
  if constexpr (kStride == 0) return broadcast4(coefficients[0]);
  else return load4(coefficients + i);
}

template <int kStride, bool kResidual, bool kRelu, bool kStreaming>
void normalize_row(const float* x, const float* residual, float* y, int64_t length,
                   const float* center, const float* scale, const float* shift) {
  write_row<kStreaming>(
      y, length,
      [&](int64_t i) {
        const int64_t k = i * kStride;
        return normalize_element<kResidual, kRelu>(x[i], kResidual ? residual[i] : 0.f, center[k], scale[k], shift[k]);
      },
      [&](int64_t i) {
        return normalize_element<kResidual, kRelu>(load4(x + i), kResidual ? load4(residual + i) : Float4{},
                                                   coefficient4<kStride>(center, i), coefficient4<kStride>(scale, i),
                                                   coefficient4<kStride>(shift, i));
      });
}

template <bool kResidual, bool kRelu, bool kStreaming>
void normalize_all(const NormShape& shape, const float* x, const float* residual,
                   const NormalizeCoefficients& k, float* y) {
  for_each_row<kStreaming>(shape, [&]<int kStride>(int64_t offset, int64_t length, int64_t cell) {
    normalize_row<kStride, kResidual, kRelu, kStreaming>(x + offset, kResidual ? residual + offset : nullptr,
                                                         y + offset, length, k.center + cell, k.scale + cell,
                                                         k.shift + cell);
  });
}

template <bool kResidual, bool kRelu>
void normalize_all(const NormShape& shape, const float* x, const float* residual,
                   const NormalizeCoefficients& k, float* y) {
  if (streaming_output(shape, y)) normalize_all<kResidual, kRelu, true>(shape, x, residual, k, y);
  else normalize_all<kResidual, kRelu, false>(shape, x, residual, k, y);
}

template <int kStride, bool kRelu, bool kResidualGrad, bool kStreaming>
void input_gradient_row(const float* x, const float* dy, const float* y, float* dx, float* dresidual,
                        int64_t length, const InputGradientCoefficients& k, int64_t cell) {
  const float* scale = k.scale + cell;
  const float* center = k.center + cell;
  const float* centered = k.centered + cell;
  const float* constant = k.constant + cell;
  write_row<kStreaming>(
      dx, length,
      [&](int64_t i) {
        const int64_t c = i * kStride;
        const float g = kRelu ? relu_gradient(dy[i], y[i]) : dy[i];
        if (kResidualGrad) dresidual[i] = g;
        return input_gradient_element(g, x[i], scale[c], center[c], centered[c], constant[c]);
      },
      [&](int64_t i) {
        const Float4 g = kRelu ? relu_gradient(load4(dy + i), load4(y + i)) : load4(dy + i);
        if (kResidualGrad) store4(dresidual + i, g);
        return input_gradient_element(g, load4(x + i), coefficient4<kStride>(scale, i), coefficient4<kStride>(center, i),
                                      coefficient4<kStride>(centered, i), coefficient4<kStride>(constant, i));
      });
}

template <bool kRelu, bool kResidualGrad, bool kStreaming>
void input_gradient_all(const NormShape& shape, const float* x, const float* dy, const float* y,
                        const InputGradientCoefficients& k, float* dx, float* dresidual) {
  for_each_row<kStreaming>(shape, [&]<int kStride>(int64_t offset, int64_t length, int64_t cell) {
    input_gradient_row<kStride, kRelu, kResidualGrad, kStreaming>(
        x + offset, dy + offset, kRelu ? y + offset : nullptr, dx + offset,
        kResidualGrad ? dresidual + offset : nullptr, length, k, cell);
  });
}

template <bool kRelu, bool kResidualGrad>
void input_gradient_all(const NormShape& shape, const float* x, const float* dy, const float* y,
                        const InputGradientCoefficients& k, float* dx, float* dresidual) {
  if (streaming_output(shape, dx)) input_gradient_all<kRelu, kResidualGrad, true>(shape, x, dy, y, k, dx, dresidual);
  else input_gradient_all<kRelu, kResidualGrad, false>(shape, x, dy, y, k, dx, dresidual);
}

}  // namespace

void normalize_elements(const NormShape& shape, const float* x, const float* residual, bool relu,
                        const NormalizeCoefficients& coefficients, float* y) {
  if (residual && relu) normalize_all<true, true>(shape, x, residual, coefficients, y);
  else if (residual) normalize_all<true, false>(shape, x, residual, coefficients, y);
  else if (relu) normalize_all<false, true>(shape, x, residual, coefficients, y);
  else normalize_all<false, false>(shape, x, residual, coefficients, y);
}

void input_gradient_elements(const NormShape& shape, const float* x, const float* dy,
                             const float* relu_output, const InputGradientCoefficients& coefficients,
                             float* dx, float* dresidual) {
  if (relu_output && dresidual) input_gradient_all<true, true>(shape, x, dy, relu_output, coefficients, dx, dresidual);
  else if (relu_output) input_gradient_all<true, false>(shape, x, dy, relu_output, coefficients, dx, dresidual);
  else if (dresidual) input_gradient_all<false, true>(shape, x, dy, relu_output, coefficients, dx, dresidual);
  else input_gradient_all<false, false>(shape, x, dy, relu_output, coefficients, dx, dresidual);
}

}  // namespace kn
