// Per-cell and per-element formulas of KN and GKN (KN-SPEC 1.6 and 2), written once and called by
// both backends: the CPU element passes and reductions (csrc/cpu/element_passes.cpp,
// cell_reductions.cpp, kalman_norm.cpp) and the CUDA kernels (cuda/kalman_norm_forward.cu,
// kalman_norm_backward.cu, cell_reductions.cuh). A "cell" is one (sample, channel) pair, indexed
// sample * C + channel; every element of a cell shares one set of coefficients.
//
// Dtype contract: coefficients and element maps are float on both backends; with contraction off
// (docs/CUDA.md, "Floating point") the same inputs give the same bits on the CPU and the GPU.
#pragma once

#include "host_device.h"
#include "kalman_norm_math.h"
#include "norm_shape.h"

namespace kn {

// The unit of cell `cell` (sample * C + channel). The per-cell functions below take the cell's
// unit and channel instead of the cell, so that the CPU's nested (sample, channel) loops divide
// once per cell, as the GPU's one-thread-per-cell kernels do through this function.
KN_HOST_DEVICE int64_t unit_of_cell_index(const NormShape& shape, int64_t cell) {
  return shape.unit_of_cell(cell / shape.channels, cell % shape.channels);
}

// ---- Forward ---------------------------------------------------------------------------------

// One cell's normalize coefficients: y = act((x - center) * scale + shift + residual).
struct NormalizeCell {
  float center;  // the unit's mean (posterior, or running / fixed)
  float scale;   // gamma_c / sqrt(var + eps)
  float shift;   // beta_c
};

// The coefficients of a cell of `channel` whose unit has this mean and 1/sqrt(var + eps); gamma
// null means 1, beta null means 0.
KN_HOST_DEVICE NormalizeCell normalize_cell(float mean, float rstd, const float* gamma, const float* beta, int64_t channel) {
  return NormalizeCell{mean, (gamma ? gamma[channel] : 1.f) * rstd, beta ? beta[channel] : 0.f};
}

// The same from the per-unit arrays, for a cell of `unit` and `channel`.
KN_HOST_DEVICE NormalizeCell normalize_cell(const float* unit_mean, const float* unit_rstd, const float* gamma,
                                            const float* beta, int64_t unit, int64_t channel) {
  return normalize_cell(unit_mean[unit], unit_rstd[unit], gamma, beta, channel);
}

// KN-SPEC 1.6 for one element, with the fused epilogue: act((x - center) * scale + shift [+ residual]).
// `residual` is read only when kResidual. T is float, or (CPU lanes) a GCC vector of floats.
template <bool kResidual, bool kRelu, typename T>
KN_HOST_DEVICE T normalize_element(T x, T residual, T center, T scale, T shift) {
  T value = (x - center) * scale + shift;
  if constexpr (kResidual) value += residual;
  if constexpr (kRelu) value = value < T{} ? T{} : value;  // NaN stays NaN
  return value;
}

// ---- Backward --------------------------------------------------------------------------------

// dy' of KN-SPEC 2 under the relu epilogue: dy where the forward's output y is positive, else 0.
// T is float, or (CPU lanes) a GCC vector of floats.
template <typename T>
KN_HOST_DEVICE T relu_gradient(T dy, T y) {
  return y > T{} ? dy : T{};
}

// Sums over a set of elements (a cell, a chunk of one, or a unit): of dy' and of dy' (x - center).
// T: float in the GPU's per-thread states and cells; double in the CPU's cells and in every unit
// fold (kalman_norm_units.h).
template <typename T>
struct GradientSums {
  T sum_dy;
  T sum_dy_centered;
};

// The per-element step of the gradient sums (T float, or a GCC vector of floats on the CPU).
template <typename T>
KN_HOST_DEVICE void gradient_add(GradientSums<T>& sums, T gradient, T x, T center) {
  sums.sum_dy += gradient;
  sums.sum_dy_centered += gradient * (x - center);
}

// The sums of two disjoint sets.
template <typename T>
KN_HOST_DEVICE GradientSums<T> merge_gradient_sums(const GradientSums<T>& a, const GradientSums<T>& b) {
  return GradientSums<T>{a.sum_dy + b.sum_dy, a.sum_dy_centered + b.sum_dy_centered};
}

// One cell's input-gradient coefficients: dx = dy' * scale + (x - center) * centered + constant.
struct InputGradientCell {
  float scale;     // gamma_c * rstd
  float center;    // the observed mean xbar
  float centered;  // 2 Gs2 / M
  float constant;  // Gxbar / M
};

// The coefficients of a cell of `unit` and `channel`, from the unit's forward state and backward
// result.
KN_HOST_DEVICE InputGradientCell input_gradient_cell(const float* gamma, const float* rstd, const float* observed_mean,
                                                     const UnitBackward<float>* units, int64_t unit, int64_t channel) {
  return InputGradientCell{(gamma ? gamma[channel] : 1.f) * rstd[unit], observed_mean[unit], units[unit].centered,
                           units[unit].constant};
}

// KN-SPEC 2 for one element: dx = dy' * scale + (x - center) * centered + constant (T as for
// normalize_element).
template <typename T>
KN_HOST_DEVICE T input_gradient_element(T gradient, T x, T scale, T center, T centered, T constant) {
  return gradient * scale + (x - center) * centered + constant;
}

}  // namespace kn
