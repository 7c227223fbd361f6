// Both passes walk memory rows: in NCHW a row is one cell (S elements, one set of coefficients,
// kStride = 0); in NHWC a row is one (sample, position) across channels (coefficients step with
// the channel, kStride = 1). The rows themselves, and when they are written by non-temporal stores,
// are in element_rows.h (the fused unit passes write the same rows). Templates keep the epilogue
// choices out of the inner loops.
#include "element_passes.h"

#include "element_rows.h"
#include "vector_width.h"

namespace kn {
namespace {

using namespace element_rows;

// Calls row.template operator()<W, kStride>(offset, length, first_cell) for every memory row, spread
// over the pool, with the vector width and the coefficient stride of the layout. With kStreaming,
// each piece ends with a store fence, so its non-temporal stores are done before the pool reports
// the piece done.
template <bool kStreaming, typename RowFn>
void for_each_row(const NormShape& shape, RowFn&& row) {
  if (shape.layout == Layout::kNCHW) {
    parallel_for_vectors(shape.cells(), shape.spatial, [&](int64_t begin, int64_t end, auto width) {
      for (int64_t cell = begin; cell < end; ++cell)
        row.template operator()<decltype(width)::value, 0>(cell * shape.spatial, shape.spatial, cell);
      if (kStreaming) store_fence();
    });
  } else {
    parallel_for_vectors(shape.samples * shape.spatial, shape.channels, [&](int64_t begin, int64_t end, auto width) {
      for (int64_t r = begin; r < end; ++r)
        row.template operator()<decltype(width)::value, 1>(r * shape.channels, shape.channels,
                                                           (r / shape.spatial) * shape.channels);
      if (kStreaming) store_fence();
    });
  }
}

template <bool kResidual, bool kRelu, bool kStreaming>
void normalize_all(const NormShape& shape, const float* x, const float* residual,
                   const NormalizeCoefficients& k, float* y) {
  for_each_row<kStreaming>(shape, [&]<int W, int kStride>(int64_t offset, int64_t length, int64_t cell) {
    normalize_row<W, kStride, kResidual, kRelu, kStreaming>(x + offset, kResidual ? residual + offset : nullptr,
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

template <bool kRelu, bool kResidualGrad, bool kStreaming>
void input_gradient_all(const NormShape& shape, const float* x, const float* dy, const float* y,
                        const InputGradientCoefficients& k, float* dx, float* dresidual) {
  for_each_row<kStreaming>(shape, [&]<int W, int kStride>(int64_t offset, int64_t length, int64_t cell) {
    input_gradient_row<W, kStride, kRelu, kResidualGrad, kStreaming>(
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
