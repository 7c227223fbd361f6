// The transition ops of KN-SPEC section 3 as element functors, written once and run by both
// backends: the CPU calls f(i) for every index, the CUDA backend launches one thread per index
// (transitions.cu). Statistic rows are row-major [rows][columns] float32; sums run in double in a
// fixed order. Each functor says what one index computes.
#pragma once

#include "host_device.h"

#if !defined(__CUDACC__)
#include <cmath>
#endif

namespace kn {

#if !defined(__CUDACC__)
// CUDA's rsqrt, for the host compiler.
inline double rsqrt(double value) { return 1.0 / std::sqrt(value); }
#endif

// sum over k of a[k * a_stride] * b[k * b_stride]
KN_HOST_DEVICE double strided_dot(const float* a, int64_t a_stride, const float* b, int64_t b_stride, int64_t n) {
  double sum = 0.0;
  for (int64_t k = 0; k < n; ++k) sum += double(a[k * a_stride]) * double(b[k * b_stride]);
  return sum;
}

// Affine forward, index = r * outputs + o: mean' = bias + weight . mean, var' = weightSq . var + noise.
// weight_sq == nullptr means weight o weight.
struct AffineForward {
  int64_t outputs, inputs;
  const float *mean, *var, *weight, *weight_sq, *bias, *noise;
  bool noise_per_output;
  float *out_mean, *out_var;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t r = index / outputs, o = index % outputs;
    const float* row_weight = weight + o * inputs;
    double var_sum = 0.0;
    for (int64_t i = 0; i < inputs; ++i) {
      const double square = weight_sq ? double(weight_sq[o * inputs + i]) : double(row_weight[i]) * row_weight[i];
      var_sum += square * var[r * inputs + i];
    }
    out_mean[index] = float((bias ? bias[o] : 0.0) + strided_dot(row_weight, 1, mean + r * inputs, 1, inputs));
    out_var[index] = float(var_sum + (noise ? noise[noise_per_output ? o : 0] : 0.0f));
  }
};

// Affine backward to the inputs, index = r * inputs + i: dmean = weight^T dmean', dvar = weightSq^T dvar'.
struct AffineInputGradient {
  int64_t outputs, inputs;
  const float *weight, *weight_sq, *dmean_out, *dvar_out;  // gradients may be null (zero)
  float *dmean, *dvar;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t r = index / inputs, i = index % inputs;
    double mean_sum = 0.0, var_sum = 0.0;
    for (int64_t o = 0; o < outputs; ++o) {
      const double w = weight[o * inputs + i];
      if (dmean_out) mean_sum += w * dmean_out[r * outputs + o];
      if (dvar_out) var_sum += (weight_sq ? double(weight_sq[o * inputs + i]) : w * w) * dvar_out[r * outputs + o];
    }
    dmean[index] = float(mean_sum);
    dvar[index] = float(var_sum);
  }
};

// Affine backward to the weights, index = o * inputs + i. With weightSq defaulted (tied), the
// variance path flows into the weight too: dweight += 2 weight * (dvar' . var).
struct AffineWeightGradient {
  int64_t rows, outputs, inputs;
  const float *mean, *var, *weight, *dmean_out, *dvar_out;
  bool tied;
  float *dweight, *dweight_sq;  // dweight_sq: only when not tied (may be null)
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t o = index / inputs, i = index % inputs;
    const double through_mean = dmean_out ? strided_dot(dmean_out + o, outputs, mean + i, inputs, rows) : 0.0;
    const double through_var = dvar_out ? strided_dot(dvar_out + o, outputs, var + i, inputs, rows) : 0.0;
    dweight[index] = float(through_mean + (tied ? 2.0 * weight[index] * through_var : 0.0));
    if (dweight_sq) dweight_sq[index] = float(through_var);
  }
};

// Column sums of a [rows][columns] matrix, index = column; or, with `total`, one sum of everything
// (index 0): gradients of per-column or scalar biases and noises.
struct ColumnSums {
  int64_t rows, columns;
  const float* values;  // null: zero
  bool total;
  float* out;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    double sum = 0.0;
    if (values)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = total ? 0 : index; c < (total ? columns : index + 1); ++c) sum += values[r * columns + c];
    out[index] = float(sum);
  }
};

// Moments of max(0, z) for z ~ N(m, u), with their derivatives, in double.
struct ReluMomentsResult {
  double mean, var;
  double dmean_dm, dmean_du, dvar_dm, dvar_du;
};

KN_HOST_DEVICE ReluMomentsResult relu_moments(double m, double u) {
  const double kInvSqrt2Pi = 0.39894228040143267794;
  const double kInvSqrt2 = 0.70710678118654752440;
  ReluMomentsResult result{};
  if (!(u > 0.0)) {  // the deterministic limit (u = 0); NaN passes through the arithmetic below
    const double positive = m > 0.0 ? 1.0 : 0.0;
    result.mean = m > 0.0 ? m : (m == m ? 0.0 : m);
    result.var = u == u ? 0.0 : u;
    result.dmean_dm = positive;
    result.dvar_du = m > 0.0 ? 1.0 : (m < 0.0 ? 0.0 : 0.5 - kInvSqrt2Pi * kInvSqrt2Pi);
    return result;
  }
  const double s = sqrt(u), t = m / s;
  const double pdf = kInvSqrt2Pi * exp(-0.5 * t * t);
  const double cdf = 0.5 * erfc(-t * kInvSqrt2);
  const double q = 0.5 * erfc(t * kInvSqrt2);  // Phi(-t) = 1 - Phi(t), without the cancellation
  const double g = t * cdf + pdf;               // E / s
  double spread;                                // var / u, without cancellation on either side
  if (t <= 0.0) {
    const double h = (t * t + 1.0) * cdf + t * pdf;
    spread = h - g * g;
  } else {
    spread = 1.0 + (t * t - 1.0) * q - t * pdf - t * t * q * q + 2.0 * t * q * pdf - pdf * pdf;
  }
  result.mean = s * g;
  result.var = u * spread;
  result.dmean_dm = cdf;
  result.dmean_du = pdf / (2.0 * s);
  result.dvar_dm = 2.0 * result.mean * q;
  result.dvar_du = cdf - g * pdf;
  return result;
}

// relu forward, index = element: out moments and the four local derivatives for the backward.
struct ReluForward {
  const float *mean, *var;
  float *out_mean, *out_var;
  float *dmean_dm, *dmean_du, *dvar_dm, *dvar_du;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const ReluMomentsResult r = relu_moments(mean[index], var[index]);
    out_mean[index] = float(r.mean);
    out_var[index] = float(r.var);
    dmean_dm[index] = float(r.dmean_dm);
    dmean_du[index] = float(r.dmean_du);
    dvar_dm[index] = float(r.dvar_dm);
    dvar_du[index] = float(r.dvar_du);
  }
};

// The chain rule through saved local derivatives, index = element:
// dm = dmean' * dmean_dm + dvar' * dvar_dm, du = dmean' * dmean_du + dvar' * dvar_du.
struct LocalChain {
  const float *dmean_out, *dvar_out;  // may be null (zero)
  const float *dmean_dm, *dmean_du, *dvar_dm, *dvar_du;
  float *dmean, *dvar;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const double gm = dmean_out ? dmean_out[index] : 0.0f, gv = dvar_out ? dvar_out[index] : 0.0f;
    dmean[index] = float(gm * dmean_dm[index] + gv * dvar_dm[index]);
    dvar[index] = float(gm * dmean_du[index] + gv * dvar_du[index]);
  }
};

// Normalize forward, index = r * columns + c: x ~ N(mp, vp) normalized with (mu, v):
// mean' = gamma (mp - mu) / sqrt(v + eps) + beta, var' = gamma^2 vp / (v + eps).
struct NormalizeForward {
  int64_t columns;
  const float *mean, *var, *stat_mean, *stat_var, *gamma, *beta;
  float eps;
  float *out_mean, *out_var;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t c = index % columns;
    const double g = gamma ? gamma[c] : 1.0f, inverse = 1.0 / (double(stat_var[index]) + eps);
    out_mean[index] = float(g * (double(mean[index]) - stat_mean[index]) * sqrt(inverse) + (beta ? beta[c] : 0.0f));
    out_var[index] = float(g * g * var[index] * inverse);
  }
};

// Normalize backward, index = element: gradients to x's moments and to the statistics.
struct NormalizeBackward {
  int64_t columns;
  const float *mean, *var, *stat_mean, *stat_var, *gamma;
  float eps;
  const float *dmean_out, *dvar_out;  // may be null
  float *dmean, *dvar, *dstat_mean, *dstat_var;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t c = index % columns;
    const double g = gamma ? gamma[c] : 1.0f, inverse = 1.0 / (double(stat_var[index]) + eps), r = sqrt(inverse);
    const double gm = dmean_out ? dmean_out[index] : 0.0f, gv = dvar_out ? dvar_out[index] : 0.0f;
    const double centered = double(mean[index]) - stat_mean[index];
    dmean[index] = float(gm * g * r);
    dvar[index] = float(gv * g * g * inverse);
    dstat_mean[index] = float(-gm * g * r);
    // d r / d v = -r^3 / 2, d r^2 / d v = -r^4
    dstat_var[index] = float(-0.5 * gm * g * centered * r * inverse - gv * g * g * var[index] * inverse * inverse);
  }
};

// Normalize backward to gamma, index = column: sum over rows of (mp - mu) r dmean' + 2 gamma vp r^2 dvar'.
struct NormalizeGammaGradient {
  int64_t rows, columns;
  const float *mean, *var, *stat_mean, *stat_var, *gamma;
  float eps;
  const float *dmean_out, *dvar_out;
  float* dgamma;
  KN_HOST_DEVICE void operator()(int64_t c) const {
    const double g = gamma ? gamma[c] : 1.0f;
    double sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t index = r * columns + c;
      const double rstd = rsqrt(double(stat_var[index]) + eps);
      if (dmean_out) sum += (double(mean[index]) - stat_mean[index]) * rstd * dmean_out[index];
      if (dvar_out) sum += 2.0 * g * var[index] * rstd * rstd * dvar_out[index];
    }
    dgamma[c] = float(sum);
  }
};

// Residual join, index = r * columns + c: a + b, with b's columns zero-padded symmetrically when it
// has fewer (ResNet's option-A shortcut): b column j sits at column j + pad. `noise` (may be null)
// is added to the variance, per column or as one scalar (the identity with process noise).
struct AddForward {
  int64_t columns, b_columns, pad;
  const float *a_mean, *a_var, *b_mean, *b_var;  // b may be null
  const float* noise;
  bool noise_per_column;
  float *out_mean, *out_var;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t r = index / columns, c = index - r * columns, j = c - pad;
    const bool from_b = b_mean && j >= 0 && j < b_columns;
    out_mean[index] = a_mean[index] + (from_b ? b_mean[r * b_columns + j] : 0.0f);
    out_var[index] = a_var[index] + (from_b ? b_var[r * b_columns + j] : 0.0f) +
                     (noise ? noise[noise_per_column ? c : 0] : 0.0f);
  }
};

// Gathers the padded columns back, index = r * narrow + j: out[r][j] = wide[r][j + pad].
struct GatherColumns {
  int64_t wide, narrow, pad;
  const float* values;  // null: zero
  float* out;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t r = index / narrow, j = index % narrow;
    out[index] = values ? values[r * wide + j + pad] : 0.0f;
  }
};

// Convolution transition, index = o * inputs + i: weight = sum over taps, weightSq = sum of squares.
struct ConvTransitionForward {
  int64_t taps;
  const float* kernel;  // [outputs][inputs][taps]
  float *weight, *weight_sq;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    double sum = 0.0, squares = 0.0;
    for (int64_t t = 0; t < taps; ++t) {
      const double w = kernel[index * taps + t];
      sum += w;
      squares += w * w;
    }
    weight[index] = float(sum);
    weight_sq[index] = float(squares);
  }
};

// Its backward, index = kernel element: dkernel = dweight + 2 kernel dweightSq.
struct ConvTransitionBackward {
  int64_t taps;
  const float *kernel, *dweight, *dweight_sq;  // gradients may be null
  float* dkernel;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t pair = index / taps;
    dkernel[index] = (dweight ? dweight[pair] : 0.0f) + (dweight_sq ? 2.0f * kernel[index] * dweight_sq[pair] : 0.0f);
  }
};

// Gradient accumulation, index = element: target += source.
struct Accumulate {
  const float* source;
  float* target;
  KN_HOST_DEVICE void operator()(int64_t index) const { target[index] += source[index]; }
};

}  // namespace kn
