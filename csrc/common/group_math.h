// The group transition as element functors (run like those of transition_math.h: a CPU loop or
// one CUDA thread per index): per-channel statistic rows [rows][channels] to the moments of one
// GKN unit, rows [rows][groups], group g holding the `per_group` consecutive channels
// [g * per_group, (g + 1) * per_group). A unit's values come from its channels in equal shares
// (each channel has the same number of spatial positions), so the unit is an equal mixture:
//   m_g = mean_c m_c,   u_g = mean_c u_c + mean_c (m_c - m_g)^2 = E[mean over the unit of (x - m_g)^2].
// Row-major float32 in and out; sums in double in channel order.
#pragma once

#include "host_device.h"

namespace kn {

// mean over the group's channels of values[first .. first + per_group)
KN_HOST_DEVICE double group_mean(const float* values, int64_t first, int64_t per_group) {
  double sum = 0.0;
  for (int64_t k = 0; k < per_group; ++k) sum += values[first + k];
  return sum / double(per_group);
}

// Forward, index = r * groups + g. The spread of the channel means is taken around m_g (two
// passes), so large common means do not cancel the variance away.
struct GroupMomentsForward {
  int64_t groups, per_group;
  const float *mean, *var;
  float *out_mean, *out_var;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t r = index / groups, g = index % groups;
    const int64_t first = r * groups * per_group + g * per_group;
    const double m = group_mean(mean, first, per_group);
    double spread = 0.0;
    for (int64_t k = 0; k < per_group; ++k) {
      const double d = double(mean[first + k]) - m;
      spread += d * d;
    }
    out_mean[index] = float(m);
    out_var[index] = float(group_mean(var, first, per_group) + spread / double(per_group));
  }
};

// Backward, index = r * channels + c (c in group g):
//   dm_c = (dm_g + 2 du_g (m_c - m_g)) / per_group,   du_c = du_g / per_group.
// (d/dm_c of mean_k (m_k - m_g)^2 is 2 (m_c - m_g) / per_group: the terms through m_g sum to zero.)
struct GroupMomentsBackward {
  int64_t groups, per_group;
  const float* mean;
  const float *dmean_out, *dvar_out;  // may be null (zero)
  float *dmean, *dvar;
  KN_HOST_DEVICE void operator()(int64_t index) const {
    const int64_t channels = groups * per_group;
    const int64_t r = index / channels, g = (index % channels) / per_group, unit = r * groups + g;
    const double gm = dmean_out ? dmean_out[unit] : 0.0f, gv = dvar_out ? dvar_out[unit] : 0.0f;
    const double centered = double(mean[index]) - group_mean(mean, r * channels + g * per_group, per_group);
    dmean[index] = float((gm + 2.0 * gv * centered) / double(per_group));
    dvar[index] = float(gv / double(per_group));
  }
};

}  // namespace kn
