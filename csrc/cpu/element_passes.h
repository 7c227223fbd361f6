// The two element passes of the CPU backend. Coefficients are given per cell (sample * C +
// channel), so one pass serves KN and GKN, NCHW and NHWC alike.
#pragma once

#include "../common/norm_shape.h"

namespace kn {

// Forward: y = act((x - center) * scale + shift + residual), act = relu or identity
// (normalize_element, csrc/common/kalman_norm_cells.h; coefficients from normalize_cell).
struct NormalizeCoefficients {
  const float* center;  // per cell: the posterior mean
  const float* scale;   // per cell: gamma / sqrt(var + eps)
  const float* shift;   // per cell: beta
};
void normalize_elements(const NormShape& shape, const float* x, const float* residual, bool relu,
                        const NormalizeCoefficients& coefficients, float* y);

// Backward: dy' = dy masked by relu_output > 0 (when given), dx = dy' * scale + (x - center) *
// centered + constant, and dresidual = dy' (when wanted): input_gradient_element and
// input_gradient_cell of csrc/common/kalman_norm_cells.h.
struct InputGradientCoefficients {
  const float* scale;     // per cell: gamma * rstd
  const float* center;    // per cell: the observed mean
  const float* centered;  // per cell: 2 Gs2 / M
  const float* constant;  // per cell: Gxbar / M
};
void input_gradient_elements(const NormShape& shape, const float* x, const float* dy,
                             const float* relu_output, const InputGradientCoefficients& coefficients,
                             float* dx, float* dresidual);

}  // namespace kn
