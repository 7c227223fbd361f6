// The geometry shared by every pass, CPU and CUDA: how a tensor [N, C, spatial] is laid out in
// memory and which elements form one statistic unit.
#pragma once

#include <stdint.h>

#include "host_device.h"

namespace kn {

enum class Layout { kNCHW = 0, kNHWC = 1 };  // numbered as in lib/binding.ts

// A unit is a block of `samples_per_unit` consecutive samples by `channels_per_unit` consecutive
// channels, over all spatial positions: KN has (virtualBatch, 1), GKN has (1, C / G). Units form
// a row-major grid [unit_rows][unit_cols]: [B][C] for KN, [N][G] for GKN. A "cell" is one
// (sample, channel) pair: S elements, the smallest piece that belongs to exactly one unit.
struct NormShape {
  int64_t samples = 0;   // N
  int64_t channels = 0;  // C
  int64_t spatial = 0;   // S
  Layout layout = Layout::kNCHW;
  int64_t samples_per_unit = 1;
  int64_t channels_per_unit = 1;

  KN_HOST_DEVICE int64_t elements() const { return samples * channels * spatial; }
  KN_HOST_DEVICE int64_t cells() const { return samples * channels; }
  KN_HOST_DEVICE int64_t unit_rows() const { return samples / samples_per_unit; }
  KN_HOST_DEVICE int64_t unit_cols() const { return channels / channels_per_unit; }
  KN_HOST_DEVICE int64_t units() const { return unit_rows() * unit_cols(); }
  KN_HOST_DEVICE int64_t unit_size() const { return samples_per_unit * channels_per_unit * spatial; }  // M
  KN_HOST_DEVICE int64_t cells_per_unit() const { return samples_per_unit * channels_per_unit; }
  KN_HOST_DEVICE int64_t unit_of_cell(int64_t sample, int64_t channel) const {
    return (sample / samples_per_unit) * unit_cols() + channel / channels_per_unit;
  }
  // The cell (sample * C + channel) of the element at memory index `index`.
  KN_HOST_DEVICE int64_t cell_of_element(int64_t index) const {
    if (layout == Layout::kNCHW) return index / spatial;
    return (index / (spatial * channels)) * channels + index % channels;
  }
  // On the CPU, KN's units (one channel each) and the units of the first row skip the divisions: a
  // 64-bit one costs tens of cycles there, in loops over every unit (KN 2x2048x7x7 NHWC forward:
  // 8% of its time). On the GPU the branches spilled registers in the statistics kernels.
  KN_HOST_DEVICE int64_t column_of_unit(int64_t unit) const {
#if defined(__CUDA_ARCH__)
    return unit % unit_cols();
#else
    const int64_t cols = channels_per_unit == 1 ? channels : unit_cols();
    return unit < cols ? unit : unit % cols;
#endif
  }
  // The i-th cell of a unit, in a fixed order (sample-major), as a (sample, channel) pair.
  KN_HOST_DEVICE int64_t unit_cell_sample(int64_t unit, int64_t i) const {
    return (unit / unit_cols()) * samples_per_unit + i / channels_per_unit;
  }
  KN_HOST_DEVICE int64_t unit_cell_channel(int64_t unit, int64_t i) const {
    return column_of_unit(unit) * channels_per_unit + i % channels_per_unit;
  }
};

}  // namespace kn
