// Both passes walk memory rows: in NCHW a row is one cell (S elements, one set of coefficients,
// kStride = 0); in NHWC a row is one (sample, position) across channels (coefficients step with
// the channel, kStride = 1). Templates keep the epilogue choices out of the inner loops.
#include "element_passes.h"

#include "../common/kalman_norm_cells.h"
#include "thread_pool.h"

namespace kn {
namespace {

// Calls row(offset, length, first_cell) for every memory row, spread over the pool, and a
// template with the coefficient stride of the layout.
template <typename RowFn>
void for_each_row(const NormShape& shape, RowFn&& row) {
  if (shape.layout == Layout::kNCHW) {
    parallel_for(shape.cells(), shape.spatial, [&](int64_t begin, int64_t end) {
      for (int64_t cell = begin; cell < end; ++cell)
        row.template operator()<0>(cell * shape.spatial, shape.spatial, cell);
    });
  } else {
    parallel_for(shape.samples * shape.spatial, shape.channels, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r)
        row.template operator()<1>(r * shape.channels, shape.channels, (r / shape.spatial) * shape.channels);
    });
  }
}

template <int kStride, bool kResidual, bool kRelu>
void normalize_row(const float* x, const float* residual, float* y, int64_t length,
                   const float* center, const float* scale, const float* shift) {
  for (int64_t i = 0; i < length; ++i) {
    const int64_t k = i * kStride;
    y[i] = normalize_element<kResidual, kRelu>(x[i], kResidual ? residual[i] : 0.f, center[k], scale[k], shift[k]);
  }
}

template <bool kResidual, bool kRelu>
void normalize_all(const NormShape& shape, const float* x, const float* residual,
                   const NormalizeCoefficients& k, float* y) {
  for_each_row(shape, [&]<int kStride>(int64_t offset, int64_t length, int64_t cell) {
    normalize_row<kStride, kResidual, kRelu>(x + offset, kResidual ? residual + offset : nullptr,
                                             y + offset, length, k.center + cell, k.scale + cell,
                                             k.shift + cell);
  });
}

template <int kStride, bool kRelu, bool kResidualGrad>
void input_gradient_row(const float* x, const float* dy, const float* y, float* dx, float* dresidual,
                        int64_t length, const InputGradientCoefficients& k, int64_t cell) {
  const float* scale = k.scale + cell;
  const float* center = k.center + cell;
  const float* centered = k.centered + cell;
  const float* constant = k.constant + cell;
  for (int64_t i = 0; i < length; ++i) {
    const int64_t c = i * kStride;
    const float g = kRelu ? relu_gradient(dy[i], y[i]) : dy[i];
    dx[i] = input_gradient_element(g, x[i], scale[c], center[c], centered[c], constant[c]);
    if (kResidualGrad) dresidual[i] = g;
  }
}

template <bool kRelu, bool kResidualGrad>
void input_gradient_all(const NormShape& shape, const float* x, const float* dy, const float* y,
                        const InputGradientCoefficients& k, float* dx, float* dresidual) {
  for_each_row(shape, [&]<int kStride>(int64_t offset, int64_t length, int64_t cell) {
    input_gradient_row<kStride, kRelu, kResidualGrad>(
        x + offset, dy + offset, kRelu ? y + offset : nullptr, dx + offset,
        kResidualGrad ? dresidual + offset : nullptr, length, k, cell);
  });
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
