// Compiles cuda/kn_unit_math.h as device code: one kernel applies the per-unit forward and
// backward math to arrays of units. It is the build's check that the shared header stays valid
// CUDA; the KN/GKN kernels of the CUDA backend will call the same functions.
#include "kn_unit_math.h"

namespace kn {

// One thread per unit: merge two halves' moments, fuse with the prior, and derive the backward
// coefficients, all in float as the CUDA backend does.
__global__ void unit_math_kernel(const Moments<float>* halves, const UnitPrior<float>* priors,
                                 const float* sums, float gain, float eps, int units,
                                 UnitBackward<float>* out) {
  const int unit = blockIdx.x * blockDim.x + threadIdx.x;
  if (unit >= units) return;
  const Moments<float> moments = merge_moments(halves[2 * unit], halves[2 * unit + 1]);
  const float s2 = moments.m2 / moments.count;
  const UnitPosterior<float> posterior = kalman_fuse(moments.mean, s2, priors[unit], gain);
  UnitForwardState<float> state{moments.mean, s2, priors[unit], gain,
                                inverse_std(posterior.var, eps), true, false};
  out[unit] = unit_backward(state, sums[2 * unit], sums[2 * unit + 1], 0.f, 0.f, moments.count);
}

}  // namespace kn
