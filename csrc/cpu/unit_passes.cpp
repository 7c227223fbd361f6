// A work item is one unit whose elements are one contiguous run (NCHW, one sample per unit: GKN's
// groups): it is reduced by the chunk kernels in the chunks the separate passes use, finished by the
// shared per-unit functions, and written by the element rows while it is in the cache, in the order
// of the separate passes, so the bits are theirs. Tried and left out (slower at 2 threads, 2026-11-30):
// KN units of several samples (strided runs: their per-unit chains of merges, square root and
// division no longer overlap across units, 2x2048x7x7 NCHW 10% slower), and NHWC blocks of channels
// over all rows (narrower row segments: 10 to 35% slower).
#include "unit_passes.h"

#include <type_traits>

#include "../common/kalman_norm_cells.h"
#include "../common/kalman_norm_units.h"
#include "cell_reductions.h"
#include "chunk_kernels.h"
#include "chunk_plan.h"
#include "element_rows.h"
#include "scratch.h"
#include "thread_pool.h"

namespace kn {
namespace {

using namespace chunk_kernels;
using namespace element_rows;

// Units whose cells are short (up to kMaxCellElements: the separate backward reduces them one small
// cell at a time, in a job of its own), of at least kMinUnitElements elements (which hide the latency
// of the unit's chain) and up to kMaxUnitBytes (x's part; with dy, and y under relu, the backward
// reads three times that, within a 512 KB L2). Measured at 2 threads: GKN 2x2048x7x7 (cells of 49)
// 8% faster; 2x256x14x14 (196) 2% slower and 2x64x56x56 (3136) 8% slower, so they keep the
// separate passes.
constexpr int64_t kMaxCellElements = 64;
constexpr int64_t kMinUnitElements = 1024;
constexpr int64_t kMaxUnitBytes = 128 * 1024;

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

template <bool kResidual, bool kRelu, bool kStreaming>
void forward_units(const TrainingForward& args, Moments<double>* run_moments_of) {
  const ForwardIO& io = args.io;
  const NormShape& shape = io.shape;
  const NormShape runs = reduced_shape(shape);  // a unit's run as one cell, as the separate pass reduces it
  const ChunkPlan plan(runs);
  const UnitState& state = args.state;
  const bool with_prior = args.prior_mean.values != nullptr;
  const float* x = io.x.as<float>();
  const float* residual = io.epilogue.residual.as<float>();
  float* y = io.y.as<float>();
  parallel_for(shape.units(), 2 * shape.unit_size(), [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      // The unit's moments, chunk by chunk in order (cell_moments over the run shape), then merged
      // into the unit as unit_moments does.
      const int64_t run = unit * runs.spatial;
      Moments<double> moments = run_moments(x + run, plan.chunk_size(0));
      for (int64_t chunk = 1; chunk < plan.chunks_per_cell(); ++chunk)
        moments = merge_moments(moments, run_moments(x + run + plan.chunk_begin(chunk), plan.chunk_size(chunk)));
      run_moments_of[unit] = moments;  // the run shape's cell `unit`
      write_unit_observation(state, unit, unit_moments(runs, run_moments_of, unit));
      write_unit_posterior(args, unit, with_prior);
      const int64_t sample = unit / shape.unit_cols();
      const int64_t first_channel = shape.unit_cell_channel(unit, 0);
      for (int64_t c = first_channel; c < first_channel + shape.channels_per_unit; ++c) {
        const NormalizeCell k = normalize_cell(state.posterior_mean, state.rstd, io.epilogue.gamma, io.epilogue.beta, unit, c);
        const int64_t offset = (sample * shape.channels + c) * shape.spatial;
        normalize_row<0, kResidual, kRelu, kStreaming>(x + offset, kResidual ? residual + offset : nullptr, y + offset,
                                                       shape.spatial, &k.center, &k.scale, &k.shift);
      }
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
  parallel_for(shape.units(), 2 * shape.unit_size(), [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t sample = unit / shape.unit_cols();
      const int64_t first_channel = shape.unit_cell_channel(unit, 0);
      const float center = forward.posterior_mean[unit];
      // Each cell's sums, chunk by chunk in order (cell_gradient_sums).
      for (int64_t c = first_channel; c < first_channel + shape.channels_per_unit; ++c) {
        const int64_t cell = sample * shape.channels + c, offset = cell * shape.spatial;
        const auto chunk_sums = [&](int64_t chunk) {
          const int64_t at = offset + plan.chunk_begin(chunk);
          return run_gradient_sums<kRelu>(x + at, dy + at, kRelu ? y + at : nullptr, plan.chunk_size(chunk), center);
        };
        GradientSums<double> total = chunk_sums(0);
        for (int64_t chunk = 1; chunk < plan.chunks_per_cell(); ++chunk) total = merge_gradient_sums(total, chunk_sums(chunk));
        cells[cell] = total;
      }
      units[unit] = backward_of_unit(args, unit, fused,
                                     unit_gradient_part(args, unit, unit_gradient_sums(shape, cells, args.gamma, unit)));
      for (int64_t c = first_channel; c < first_channel + shape.channels_per_unit; ++c) {
        const InputGradientCell k = input_gradient_cell(args.gamma, forward.rstd, forward.observed_mean, units, unit, c);
        const int64_t offset = (sample * shape.channels + c) * shape.spatial;
        input_gradient_row<0, kRelu, kResidualGrad, kStreaming>(
            x + offset, dy + offset, kRelu ? y + offset : nullptr, dx + offset, kResidualGrad ? dresidual + offset : nullptr,
            shape.spatial, InputGradientCoefficients{&k.scale, &k.center, &k.centered, &k.constant}, 0);
      }
    }
    if (kStreaming) store_fence();
  });
}

}  // namespace

bool unit_passes_fit(const NormShape& shape) {
  return shape.layout == Layout::kNCHW && shape.samples_per_unit == 1 && shape.channels_per_unit > 1 &&
         shape.spatial <= kMaxCellElements && shape.unit_size() >= kMinUnitElements &&
         shape.unit_size() * int64_t(sizeof(float)) <= kMaxUnitBytes;
}

void fused_training_forward(const TrainingForward& args) {
  const ForwardIO& io = args.io;
  const Scratch<Moments<double>> runs = scratch<Moments<double>>(io.shape.units());
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
