// Per-unit math of Kalman Normalization (../docs/MATH.md, KN-SPEC sections 1 and 2), written once
// and compiled both as C++ (the CPU backend) and as CUDA (the GPU kernels), so that the CPU
// tests cover the GPU's arithmetic too.
//
// A "unit" is the set of elements sharing one mean and variance: a (ghost batch, channel) pair for
// KN, a (sample, group) pair for GKN. Nothing here touches a tensor; every function takes the
// handful of scalars of one unit.
//
// Dtype contract: T is the accumulation type (the CPU's chunk and cell merges run in double, the
// GPU's per-thread, warp and chunk merges in float; the merge of cells into units runs in double
// on both, kalman_norm_units.h); the Kalman fusion and the backward coefficients are instantiated
// with float on both backends, so CPU and GPU round them identically. The per-unit folds over a
// call's arrays are in kalman_norm_units.h, the per-cell and per-element maps in kalman_norm_cells.h.
#pragma once

#include "host_device.h"

#include <cstdint>

#if !defined(__CUDACC__)
#include <cmath>
#endif

namespace kn {

#if !defined(__CUDACC__)
using std::exp;
using std::log;
#endif

// Running (count, mean, sum of squared deviations) of a set of values.
template <typename T>
struct Moments {
  T count;
  T mean;
  T m2;  // sum of (value - mean)^2, so the biased variance is m2 / count
};

// Chan et al.'s parallel merge: the moments of the union of two disjoint sets. Exact in real
// arithmetic and stable in floating point (no sum-of-squares cancellation on shifted data).
template <typename T>
KN_HOST_DEVICE Moments<T> merge_moments(const Moments<T>& a, const Moments<T>& b) {
  const T count = a.count + b.count;
  if (count == T(0)) return a;
  const T weight_b = b.count / count;
  const T delta = b.mean - a.mean;
  Moments<T> merged;
  merged.count = count;
  merged.mean = a.mean + delta * weight_b;
  merged.m2 = a.m2 + b.m2 + delta * delta * a.count * weight_b;
  return merged;
}

// Welford's step: the moments of a set after adding one value. The GPU's per-element update
// (cuda/cell_reductions.cuh, MomentsPolicy); the CPU's inner loops sum deviations from a chunk
// mean instead (csrc/cpu/cell_reductions.cpp), which vectorizes.
template <typename T>
KN_HOST_DEVICE void welford_add(Moments<T>& moments, T value) {
  moments.count += T(1);
  const T delta = value - moments.mean;
  moments.mean += delta / moments.count;
  moments.m2 += delta * (value - moments.mean);
}

// Moments of `count` values from the sums of their deviations from `shift` (shift chosen close to
// the mean, so that `sum_squares - sum^2/count` does not cancel).
template <typename T>
KN_HOST_DEVICE Moments<T> moments_from_shifted_sums(T count, T shift, T sum, T sum_squares) {
  Moments<T> result;
  result.count = count;
  result.mean = shift + sum / count;
  const T m2 = sum_squares - sum * sum / count;
  result.m2 = m2 < T(0) ? T(0) : m2;  // rounding can push an exact zero below it; NaN passes
  return result;
}

// The prediction for one unit, carried over from the previous layer.
template <typename T>
struct UnitPrior {
  T mean;
  T var;
};

// The normalization statistics that one unit ends up with.
template <typename T>
struct UnitPosterior {
  T mean;
  T var;
};

// KN-SPEC 1.5: fuse the batch observation (xbar, s2) with the prior through the gain K.
template <typename T>
KN_HOST_DEVICE UnitPosterior<T> kalman_fuse(T xbar, T s2, const UnitPrior<T>& prior, T gain) {
  const T innovation = xbar - prior.mean;  // d_j
  const T keep = T(1) - gain;
  UnitPosterior<T> posterior;
  posterior.mean = prior.mean + gain * innovation;
  posterior.var = keep * prior.var + gain * s2 + gain * keep * innovation * innovation;
  return posterior;
}

// 1 / sqrt(var + eps), correctly rounded square root and division on both backends (CUDA's
// defaults without fast-math), so the CPU and the GPU agree bit for bit.
KN_HOST_DEVICE float inverse_std(float var, float eps) { return 1.0f / sqrtf(var + eps); }

// v - v is 0 for a finite v and NaN for an infinity or a NaN; the same test on both backends.
template <typename T>
KN_HOST_DEVICE bool is_finite(T value) {
  return value - value == T(0);
}

// KN-SPEC 1.4: which statistic of the prior-to-observation ratios decides the guard.
enum class GuardStatistic : int {
  kGeometric = 0,  // exp(mean of log((u + eps) / (s2 + eps))): finite mean at 2 samples a unit
  kMean = 1,       // mean of u / (s2 + eps) (official); fires on most micro-batch calls
};

// One unit's term of the guard statistic.
template <typename T>
KN_HOST_DEVICE T guard_term(GuardStatistic statistic, T s2, T prior_var, T eps) {
  if (statistic == GuardStatistic::kMean) return prior_var / (s2 + eps);
  return log((prior_var + eps) / (s2 + eps));
}

// The guard statistic's sum over units is taken in one order on both backends, so that the
// decision at the threshold's edge cannot differ: kGuardLanes lanes, lane l summing units l,
// l + kGuardLanes, ... in increasing order (double), then a fixed tree over the lanes: for stride
// = kGuardLanes / 2, ..., 1, lane l < stride adds lane l + stride. The GPU runs one thread per lane
// (cuda/kalman_norm_forward.cu, guard_kernel); the CPU runs the lanes one after another.
constexpr int kGuardLanes = 256;

// One step of the tree: lanes[lane] += lanes[lane + stride] (lane < stride).
KN_HOST_DEVICE void guard_tree_step(double* lanes, int lane, int stride) { lanes[lane] += lanes[lane + stride]; }

// Whether the guard fires, from the sum of guard_term over `units` units: r >= tau. An infinite
// tau never fires, and neither does a NaN ratio (a NaN batch propagates instead).
template <typename T>
KN_HOST_DEVICE bool guard_fires(GuardStatistic statistic, T term_sum, T units, T tau) {
  const T average = term_sum / units;
  const T ratio = statistic == GuardStatistic::kMean ? average : exp(average);
  return is_finite(tau) && ratio >= tau;
}

// KN-SPEC 1.8: one column's running estimates, running = (1 - momentum) running + momentum *
// (average of the posterior over the column's `rows` unit rows, `stride` apart). Accumulates in
// double on both backends. A column whose posterior is not finite in some row is left unchanged (one
// bad batch must not poison inference); returns false then.
KN_HOST_DEVICE bool update_running_column(const float* posterior_mean, const float* posterior_var, int64_t rows,
                                          int64_t stride, float momentum, float* running_mean, float* running_var) {
  double mean_sum = 0.0, var_sum = 0.0;
  for (int64_t row = 0; row < rows; ++row) {
    mean_sum += posterior_mean[row * stride];
    var_sum += posterior_var[row * stride];
  }
  if (!is_finite(mean_sum) || !is_finite(var_sum)) return false;
  const double keep = 1.0 - double(momentum), rows_count = double(rows);
  *running_mean = float(keep * *running_mean + double(momentum) * mean_sum / rows_count);
  *running_var = float(keep * *running_var + double(momentum) * var_sum / rows_count);
  return true;
}

// Everything the backward pass knows about one unit from the forward pass.
template <typename T>
struct UnitForwardState {
  T xbar;            // observed mean
  T s2;              // observed biased variance
  UnitPrior<T> prior;
  T gain;            // K
  T rstd;            // 1 / sqrt(posterior var + eps)
  bool fused;        // a prior was used: given, and the guard did not fire
  bool constant;     // eval mode: the statistics are constants (running estimates)
};

// The per-unit results of the backward pass: dx_i = dy'_i gamma_c rstd + centered (x_i - xbar)
// + constant, and the gradients of the prior and the gain.
template <typename T>
struct UnitBackward {
  T centered;  // 2 Gs2 / M
  T constant;  // Gxbar / M
  T dprior_mean;
  T dprior_var;
  T dgain;
};

// KN-SPEC 2. `sum_g` = sum of gamma_c dy_i over the unit, `sum_g_xhat` = sum of gamma_c dy_i
// xhat_i; `dmean_out`, `dvar_out` = gradients arriving at the posterior; `count` = M.
template <typename T>
KN_HOST_DEVICE UnitBackward<T> unit_backward(const UnitForwardState<T>& unit, T sum_g,
                                             T sum_g_xhat, T dmean_out, T dvar_out, T count) {
  UnitBackward<T> result = {T(0), T(0), T(0), T(0), T(0)};
  if (unit.constant) return result;
  const T grad_mean = -sum_g * unit.rstd + dmean_out;                            // Gmu
  const T grad_var = -sum_g_xhat * unit.rstd * unit.rstd / T(2) + dvar_out;      // Gvar
  if (!unit.fused) {  // K = 1: plain BN / GN
    result.centered = T(2) * grad_var / count;
    result.constant = grad_mean / count;
    return result;
  }
  const T gain = unit.gain;
  const T keep = T(1) - gain;
  const T innovation = unit.xbar - unit.prior.mean;
  const T cross = T(2) * gain * keep * innovation * grad_var;  // 2 K (1-K) d Gvar
  const T grad_xbar = gain * grad_mean + cross;
  const T grad_s2 = gain * grad_var;
  result.centered = T(2) * grad_s2 / count;
  result.constant = grad_xbar / count;
  result.dprior_mean = keep * grad_mean - cross;
  result.dprior_var = keep * grad_var;
  result.dgain = innovation * grad_mean +
                 (unit.s2 - unit.prior.var + (T(1) - T(2) * gain) * innovation * innovation) *
                     grad_var;
  return result;
}

}  // namespace kn
