// The pooling transitions of KN-SPEC section 3c as element functors (run like those of
// transition_math.h: a CPU loop or one CUDA thread per index). A pool window holds `taps`
// activations of one channel, each N(m, u) like the channel's statistics say, with one pairwise
// correlation `rho` in [0, 1] between taps. Rows are [rows][columns] float32; the pool maps each
// element's (m, u) to the pooled value's, so the shape is unchanged.
#pragma once

#include "host_device.h"

#if !defined(__CUDACC__)
#include <cmath>
#endif

namespace kn {

// Var(mean of k taps) / u = (1 + (k - 1) rho) / k.
KN_HOST_DEVICE double avg_pool_variance_factor(int64_t taps, double correlation) {
  return (1.0 + double(taps - 1) * correlation) / double(taps);
}

// Average pool, index = element: mean' = mean, var' = factor var. The map is linear and diagonal,
// so the backward is the same functor on the incoming gradients (null: zero).
struct AvgPoolMoments {
  int64_t taps;
  float correlation;
  const float *mean, *var;
  float *out_mean, *out_var;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    out_mean[index] = mean ? mean[index] : 0.0f;
    out_var[index] = var ? float(avg_pool_variance_factor(taps, correlation) * var[index]) : 0.0f;
  }
};

// The max of `taps` standard normals with pairwise correlation rho, by Clark's (1961) pairwise
// recursion: the running max Y of the first i taps is taken as a Gaussian N(gain, spread), then
// max(Y, X) with the next tap X has, with a^2 = Var(Y - X) and alpha = (E Y - E X) / a,
//   E = E Y Phi(alpha) + E X Phi(-alpha) + a phi(alpha),
//   E2 = (E Y^2 + Var Y) Phi(alpha) + (E X^2 + Var X) Phi(-alpha) + (E Y + E X) a phi(alpha),
// and Clark's covariance with any later tap Z: Cov(Y, Z) Phi(alpha) + Cov(X, Z) Phi(-alpha).
// Clark's formulas commute with shifts and scalings, so for taps N(m, u) the pool is
// N(m + sqrt(u) gain, u spread): the recursion runs on standard normals and depends on k and rho only.
struct ClarkMax {
  double gain, spread;
};

KN_HOST_DEVICE ClarkMax clark_max_of_standard_normals(int64_t taps, double correlation) {
  const double kInvSqrt2Pi = 0.39894228040143267794;
  const double kInvSqrt2 = 0.70710678118654752440;
  double gain = 0.0, spread = 1.0, covariance = correlation;  // Y = the first tap; Cov(Y, next tap)
  for (int64_t i = 1; i < taps; ++i) {
    const double a2 = spread + 1.0 - 2.0 * covariance;
    if (!(a2 > 0.0)) continue;  // Y - X is the constant gain >= 0 (rho = 1): the max is Y
    const double a = sqrt(a2), alpha = gain / a;
    const double upper = 0.5 * erfc(-alpha * kInvSqrt2), lower = 0.5 * erfc(alpha * kInvSqrt2);
    const double density = kInvSqrt2Pi * exp(-0.5 * alpha * alpha);
    const double mean = gain * upper + a * density;
    const double second = (gain * gain + spread) * upper + lower + gain * a * density;
    covariance = covariance * upper + correlation * lower;
    spread = second - mean * mean;
    gain = mean;
  }
  return {gain, spread};
}

// Max pool forward, index = element: out moments and the four local derivatives for the backward
// (run by LocalChain, like relu's), from `pool` = clark_max_of_standard_normals(taps, rho), computed
// once per call. u <= 0 is the deterministic limit (m, 0); there dmean/du, which is +infinity at
// u = 0 (the sqrt), is taken as 0, and dvar/du as its limit from above. NaN in u gives NaN moments;
// NaN in m a NaN mean.
struct MaxPoolForward {
  ClarkMax pool;
  const float *mean, *var;
  float *out_mean, *out_var;
  float *dmean_dm, *dmean_du, *dvar_dm, *dvar_du;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const double m = mean[index], u = var[index];
    const bool spread_out = u > 0.0;
    const double s = spread_out ? sqrt(u) : (u == u ? 0.0 : u);
    out_mean[index] = float(m + s * pool.gain);
    out_var[index] = float(spread_out ? u * pool.spread : (u == u ? 0.0 : u));
    dmean_dm[index] = 1.0f;
    dmean_du[index] = float(spread_out ? pool.gain / (2.0 * s) : 0.0);
    dvar_dm[index] = 0.0f;
    dvar_du[index] = float(pool.spread);
  }
};

}  // namespace kn
