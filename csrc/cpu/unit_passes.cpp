// A work item is one NCHW unit: its cells' runs are reduced by the chunk kernels in the chunks the
// separate passes use (a unit of one sample, GKN's group, as one run), finished by the shared
// per-unit functions, and written by the element rows while the unit is in the cache, in the order
// of the separate passes, so the bits are theirs. Tried and left out: NHWC blocks of channels over
// all rows, which would read x once there too. 10 to 35% slower on small tensors (2026-11-30); on
// large ones each row's block is a short strided read, and a bare C++ loop over a 103 MB tensor
// (100352 rows of 256 channels) took 39 to 51 ms in blocks of 16 to 64 channels against 12 to 13 ms
// for two full sweeps (2026-12-01).
#include "unit_passes.h"

#include <algorithm>
#include <type_traits>

#include "../common/kalman_norm_cells.h"
#include "../common/kalman_norm_units.h"
#include "cell_reductions.h"
#include "chunk_kernels.h"
#include "chunk_plan.h"
#include "element_rows.h"
#include "scratch.h"
#include "thread_pool.h"
#include "vector_width.h"

namespace kn {
namespace {

using namespace chunk_kernels;
using namespace element_rows;

// Which calls take these passes, measured at 2 threads against the separate passes (2026-12-01,
// docs/BENCHMARKS.md, sixth round). A unit must stay in the cache between its reduction and its
// writes: up to kMaxUnitBytes of x (and as much dy). A unit that is one contiguous run (one sample:
// GKN's groups) is read as one stream: the backward from kMinBackwardRun elements (GKN 2x512x7x7,
// units of 784: 15% faster), the forward from kMinForwardRun (2x64x56x56, 6272: 20% faster;
// 2x256x14x14, 1568: 12% slower) or with cells of up to kMaxShortCell elements (which the separate
// pass reduces one small cell at a time) from kMinShortCellUnit (2x2048x7x7: 8% faster). A unit of
// several samples (KN) is strided runs, one per cell, which must be long enough to stream (from
// kMinStridedCell: 32x1024x14x14, runs of 196, was 30% slower). Its forward, which asks for the
// next unit while writing (write_asking_ahead), was as fast or faster at every size (32x64x56x56
// 12 to 18%, 32x128x28x28 11 to 14%, 4x64x56x56 8%, 2x128x28x28 even); its backward pays only
// where the separate passes' second read of x and dy comes from memory, from kMinStridedBackward
// bytes of x, dy and dx (32x512x28x28 15% faster; 32x128x28x28, 38 MB, 8 to 20% slower). A call
// of fewer than kMinUnits units (a few channels or groups) keeps the separate passes, which spread
// its cells and rows over the threads where items of whole units would leave threads idle (KN
// 2x3x224x224 forward: 0.114 to 0.127 ms as 3 items, 0.106 to 0.107 separate).
constexpr int64_t kMinUnits = 16;
constexpr int64_t kMaxUnitBytes = int64_t(2) << 20;
constexpr int64_t kMinBackwardRun = 512;
constexpr int64_t kMinForwardRun = 4096;
constexpr int64_t kMaxShortCell = 64;
constexpr int64_t kMinShortCellUnit = 1024;
constexpr int64_t kMinStridedCell = 784;
constexpr int64_t kMinStridedBackward = int64_t(64) << 20;

// Calls fn(std::bool_constant<a>, std::bool_constant<b>, std::bool_constant<c>).
template <typename Fn>
void with_flags(bool a, bool b, bool c, Fn&& fn) {
  const auto with_c = [&](auto a_flag, auto b_flag) {
    if (c) fn(a_flag, b_flag, std::true_type{});
    else fn(a_flag, b_flag, std::false_type{});
  };
  const auto with_b = [&](auto a_flag) {
    if (b) with_c(a_flag, std::true_type{});
    else with_c(a_flag, std::false_type{});
  };
  if (a) with_b(std::true_type{});
  else with_b(std::false_type{});
}

// Calls cell_fn(sample, channel) for each cell of `unit`, sample-major.
template <typename CellFn>
void for_each_unit_cell(const NormShape& shape, int64_t unit, CellFn&& cell_fn) {
  const int64_t first_sample = shape.unit_cell_sample(unit, 0), first_channel = shape.unit_cell_channel(unit, 0);
  for (int64_t n = first_sample; n < first_sample + shape.samples_per_unit; ++n)
    for (int64_t c = first_channel; c < first_channel + shape.channels_per_unit; ++c) cell_fn(n, c);
}

// While a KN unit (strided runs) is written from the cache, this thread's reads from memory would
// idle: each segment of a row first asks for the same segment of the next unit's cell (the next
// channel's, right after it), so that unit's reduction finds it in the cache. KN 32x256x56x56 NCHW
// forward: 10.3 to 10.6 ms without, 8.7 to 8.9 with segments of 64 floats (9.0 to 9.3 with 256, no
// gain with 1024). Left out where it was slower: the backward (x and dy ahead: GKN 4x64x112x112 20%
// slower, KN 32x64x112x112 7%) and GKN's contiguous units, which the hardware prefetcher follows.
constexpr int64_t kSegment = 64;
constexpr int64_t kLineFloats = 16;

// Calls row(at, length) over the `length` elements of a row of x in segments; `ahead`: how far on
// the next unit's cell is (0: no next unit).
template <typename RowFn>
void write_asking_ahead(const float* x_row, int64_t length, int64_t ahead, RowFn&& row) {
  if (ahead == 0) {
    row(0, length);
    return;
  }
  for (int64_t at = 0; at < length; at += kSegment) {
    const int64_t segment = std::min(kSegment, length - at);
    for (int64_t i = 0; i < segment; i += kLineFloats) __builtin_prefetch(x_row + ahead + at + i);
    row(at, segment);
  }
}

// How far on the cells of the next unit of the item are, when it is KN's next channel.
int64_t next_unit_distance(const NormShape& shape, int64_t unit, int64_t end) {
  const bool strided = shape.samples_per_unit > 1 && shape.channels_per_unit == 1;
  if (!strided || unit + 1 >= end || shape.column_of_unit(unit) + 1 == shape.unit_cols()) return 0;
  return shape.spatial;
}

template <bool kResidual, bool kRelu, bool kStreaming>
void forward_units(const TrainingForward& args, Moments<double>* run_cells) {
  const ForwardIO& io = args.io;
  const NormShape& shape = io.shape;
  const NormShape runs = reduced_shape(shape);  // the cells as the separate pass reduces them
  const ChunkPlan plan(runs);
  const UnitState& state = args.state;
  const bool with_prior = args.prior_mean.values != nullptr;
  const float* x = io.x.as<float>();
  const float* residual = io.epilogue.residual.as<float>();
  float* y = io.y.as<float>();
  parallel_for_vectors(shape.units(), 2 * shape.unit_size(), [&](int64_t begin, int64_t end, auto width) {
    constexpr int W = decltype(width)::value;
    for (int64_t unit = begin; unit < end; ++unit) {
      for_each_unit_cell(runs, unit, [&](int64_t sample, int64_t channel) {
        const int64_t cell = sample * runs.channels + channel;
        const float* run = x + cell * runs.spatial;
        run_cells[cell] = plan.fold_chunks([&](int64_t at, int64_t length) { return run_moments<W>(run + at, length); },
                                           merge_moments<double>);
      });
      write_unit_observation(state, unit, unit_moments(runs, run_cells, unit));
      write_unit_posterior(args, unit, with_prior);
      const int64_t ahead = next_unit_distance(shape, unit, end);
      for_each_unit_cell(shape, unit, [&](int64_t sample, int64_t channel) {
        const NormalizeCell k = normalize_cell(state.posterior_mean, state.rstd, io.epilogue.gamma, io.epilogue.beta, unit, channel);
        const int64_t offset = (sample * shape.channels + channel) * shape.spatial;
        write_asking_ahead(x + offset, shape.spatial, ahead, [&](int64_t at, int64_t length) {
          at += offset;
          normalize_row<W, 0, kResidual, kRelu, kStreaming>(x + at, kResidual ? residual + at : nullptr, y + at,
                                                            length, &k.center, &k.scale, &k.shift);
        });
      });
    }
    if (kStreaming) store_fence();
  });
}

template <bool kRelu, bool kResidualGrad, bool kStreaming>
void backward_units(const Backward& args, bool fused, UnitBackward<float>* units, GradientSums<double>* cells) {
  const NormShape& shape = args.shape;
  const ChunkPlan plan(shape);
  const UnitState& forward = args.state;
  const float* x = args.x.as<float>();
  const float* dy = args.dy.as<float>();
  const float* y = args.relu_output.as<float>();
  float* dx = args.dx.as<float>();
  float* dresidual = args.dresidual.as<float>();
  parallel_for_vectors(shape.units(), 2 * shape.unit_size(), [&](int64_t begin, int64_t end, auto width) {
    constexpr int W = decltype(width)::value;
    for (int64_t unit = begin; unit < end; ++unit) {
      const float center = forward.posterior_mean[unit];
      for_each_unit_cell(shape, unit, [&](int64_t sample, int64_t channel) {
        const int64_t cell = sample * shape.channels + channel, offset = cell * shape.spatial;
        const auto fold = [](const GradientSums<double>& a, const GradientSums<double>& b) { return merge_gradient_sums(a, b); };
        cells[cell] = plan.fold_chunks(
            [&](int64_t at, int64_t length) {
              at += offset;
              return run_gradient_sums<W, kRelu>(x + at, dy + at, kRelu ? y + at : nullptr, length, center);
            },
            fold);
      });
      units[unit] = backward_of_unit(args, unit, fused,
                                     unit_gradient_part(args, unit, unit_gradient_sums(shape, cells, args.gamma, unit)));
      for_each_unit_cell(shape, unit, [&](int64_t sample, int64_t channel) {
        const InputGradientCell k = input_gradient_cell(args.gamma, forward.rstd, forward.observed_mean, units, unit, channel);
        const int64_t offset = (sample * shape.channels + channel) * shape.spatial;
        input_gradient_row<W, 0, kRelu, kResidualGrad, kStreaming>(
            x + offset, dy + offset, kRelu ? y + offset : nullptr, dx + offset, kResidualGrad ? dresidual + offset : nullptr,
            shape.spatial, InputGradientCoefficients{&k.scale, &k.center, &k.centered, &k.constant}, 0);
      });
    }
    if (kStreaming) store_fence();
  });
}

}  // namespace

bool unit_passes_fit(const NormShape& shape, UnitPass pass) {
  const int64_t unit = shape.unit_size();
  if (shape.layout != Layout::kNCHW || shape.units() < kMinUnits || unit * int64_t(sizeof(float)) > kMaxUnitBytes)
    return false;
  const bool forward = pass == UnitPass::kForward;
  if (shape.samples_per_unit == 1) {
    if (!forward) return unit >= kMinBackwardRun;
    return unit >= kMinForwardRun || (shape.spatial <= kMaxShortCell && unit >= kMinShortCellUnit);
  }
  if (shape.spatial < kMinStridedCell) return false;
  return forward || 3 * shape.elements() * int64_t(sizeof(float)) >= kMinStridedBackward;  // x, dy, dx
}

void fused_training_forward(const TrainingForward& args) {
  const ForwardIO& io = args.io;
  const Scratch<Moments<double>> runs = scratch<Moments<double>>(reduced_shape(io.shape).cells());
  with_flags(bool(io.epilogue.residual), io.epilogue.relu, streaming_output(io.shape, io.y.as<float>()),
             [&](auto kResidual, auto kRelu, auto kStreaming) {
               forward_units<decltype(kResidual)::value, decltype(kRelu)::value, decltype(kStreaming)::value>(
                   args, runs.get());
             });
}

void fused_backward(const Backward& args, bool fused, UnitBackward<float>* units) {
  const NormShape& shape = args.shape;
  const Scratch<GradientSums<double>> cells = scratch<GradientSums<double>>(shape.cells());
  with_flags(bool(args.relu_output), bool(args.dresidual), streaming_output(shape, args.dx.as<float>()),
             [&](auto kRelu, auto kResidualGrad, auto kStreaming) {
               backward_units<decltype(kRelu)::value, decltype(kResidualGrad)::value, decltype(kStreaming)::value>(
                   args, fused, units, cells.get());
             });
  if (!args.dgamma && !args.dbeta) return;
  parallel_for(shape.channels, shape.samples * kPerUnitCost, [&](int64_t begin, int64_t end) {
    for (int64_t channel = begin; channel < end; ++channel) {
      const ParameterGradients gradients = channel_parameter_gradients(shape, cells.get(), args.state.rstd, channel);
      if (args.dgamma) args.dgamma[channel] = float(gradients.dgamma);
      if (args.dbeta) args.dbeta[channel] = float(gradients.dbeta);
    }
  });
}

}  // namespace kn
