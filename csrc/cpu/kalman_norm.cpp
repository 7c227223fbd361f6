// Drives the passes of cell_reductions and element_passes and applies the shared per-unit and
// per-cell math in between (csrc/common/kalman_norm_units.h, kalman_norm_cells.h: the same
// functions the CUDA kernels call). Forward: one reduction pass and one element pass over x.
// Backward: one reduction pass over (x, dy) and one element pass. A split call (CallPart, for
// several processes) stops after the reduction (kSums) or starts after it (kFinish). A whole NCHW
// call whose units fit in the cache may take the fused passes of unit_passes.h instead: each unit
// reduced and written while it is in the cache, same bits.
#include "kalman_norm.h"

#include <array>

#include "../common/kalman_norm_cells.h"
#include "../common/kalman_norm_math.h"
#include "../common/kalman_norm_units.h"
#include "cell_reductions.h"
#include "element_passes.h"
#include "scratch.h"
#include "thread_pool.h"
#include "unit_passes.h"

namespace kn {
namespace {

// Calls cell_fn(cell, unit, channel) for every cell, spread over the pool by sample: nested loops,
// so that finding the cell's unit costs one division (the GPU kernels run one thread per cell
// instead). Every cell is written independently.
template <typename CellFn>
void for_each_cell(const NormShape& shape, CellFn&& cell_fn) {
  parallel_for(shape.samples, shape.channels * kPerUnitCost, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n)
      for (int64_t c = 0; c < shape.channels; ++c) cell_fn(n * shape.channels + c, shape.unit_of_cell(n, c), c);
  });
}

// Calls unit_fn(unit) for every unit, spread over the pool; `cells_per_unit` sizes the work.
template <typename UnitFn>
void for_each_unit(int64_t units, int64_t cells_per_unit, UnitFn&& unit_fn) {
  parallel_for(units, cells_per_unit * kPerUnitCost, [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) unit_fn(unit);
  });
}

// Per-cell forward coefficients from per-unit statistics, then the element pass.
void normalize_with_unit_statistics(const ForwardIO& io, const float* unit_mean, const float* unit_rstd) {
  const NormShape& shape = io.shape;
  const Epilogue& epilogue = io.epilogue;
  const Scratch<float> center = scratch<float>(shape.cells()), scale = scratch<float>(shape.cells()),
                       shift = scratch<float>(shape.cells());
  for_each_cell(shape, [&](int64_t cell, int64_t unit, int64_t channel) {
    const NormalizeCell k = normalize_cell(unit_mean, unit_rstd, epilogue.gamma, epilogue.beta, unit, channel);
    center[cell] = k.center;
    scale[cell] = k.scale;
    shift[cell] = k.shift;
  });
  normalize_elements(shape, io.x.as<float>(), epilogue.residual.as<float>(), epilogue.relu,
                     NormalizeCoefficients{center.get(), scale.get(), shift.get()}, io.y.as<float>());
}

// Units whose merges units_moments interleaves: KN's 32x2048x7x7 NHWC merged its 65536 cells in
// 235 µs one unit at a time.
constexpr int kMergedUnits = 4;

// Calls unit_fn(unit, moments) for every unit with its moments: its cells merged in a fixed order.
template <typename UnitFn>
void for_each_unit_moments(const NormShape& given, const float* x, UnitFn&& unit_fn) {
  const NormShape shape = reduced_shape(given);
  const Scratch<Moments<double>> cells = scratch<Moments<double>>(shape.cells());
  cell_moments(shape, x, cells.get());
  const int64_t units = shape.units();
  const int64_t groups = (units + kMergedUnits - 1) / kMergedUnits;
  for_each_unit(groups, kMergedUnits * shape.cells_per_unit(), [&](int64_t group) {
    const int64_t first = group * kMergedUnits;
    if (first + kMergedUnits > units) {
      for (int64_t unit = first; unit < units; ++unit) unit_fn(unit, unit_moments(shape, cells.get(), unit));
      return;
    }
    Moments<double> moments[kMergedUnits];
    units_moments(shape, cells.get(), first, moments);
    for (int k = 0; k < kMergedUnits; ++k) unit_fn(first + k, moments[k]);
  });
}

// The observation of each unit (KN-SPEC 1.1): from x, or for a split call's kFinish from the
// processes' moments (CallPart). kSums writes the moments and stops.
void observe_units(const TrainingForward& args) {
  const UnitState& state = args.state;
  if (args.part == CallPart::kFinish) {
    for_each_unit(args.io.shape.units(), args.parts, [&](int64_t unit) {
      write_unit_observation(state, unit, merged_unit_moments(args, unit));
    });
    return;
  }
  for_each_unit_moments(args.io.shape, args.io.x.as<float>(), [&](int64_t unit, const Moments<double>& moments) {
    if (args.part == CallPart::kSums) store_unit_moments(args, unit, moments);
    else write_unit_observation(state, unit, moments);
  });
}

// The guard's decision over all units of the call: the lanes of guard_kernel, spread over the pool
// (each lane sums its units in its own order, so the bits do not depend on the threads), then its
// tree, in turn.
bool decide_guard(const TrainingForward& args) {
  std::array<double, kGuardLanes> lanes;
  const int64_t units_per_lane = args.io.shape.units() / kGuardLanes + 1;
  for_each_unit(kGuardLanes, units_per_lane, [&](int64_t lane) { lanes[lane] = guard_lane_sum(args, int(lane)); });
  for (int stride = kGuardLanes / 2; stride > 0; stride /= 2)
    for (int lane = 0; lane < stride; ++lane) guard_tree_step(lanes.data(), lane, stride);
  return guard_decision(args, lanes[0]);
}

void update_running(const TrainingForward& args) {
  const NormShape& shape = args.io.shape;
  const int64_t columns = shape.unit_cols();
  for (int64_t col = 0; col < columns; ++col) {
    const bool updated = update_running_column(args.state.posterior_mean + col, args.var + col, shape.unit_rows(),
                                               columns, args.momentum, args.running_mean + col, args.running_var + col);
    args.running_skipped[col] = updated ? 0.f : 1.f;
  }
}

// The gradient of one spread input (prior or gain), when wanted.
void store_spread_sums(const NormShape& shape, const UnitBackward<float>* units, UnitField field,
                       const UnitValues& like, float* out) {
  if (!out) return;
  for (int64_t index = 0; index < spread_outputs(shape, like.spread); ++index)
    out[index] = spread_sum(shape, units, field, like.spread, index);
}

// The backward's reduction: per cell, the sums of dy' and dy' (x - mu); then, per unit, its sums of
// g = gamma dy' and g (x - mu) with the gradients given at its posterior (through unit_fn), and per
// channel dgamma and dbeta. Both gather their cells in the order the GPU's kernels use
// (kalman_norm_units.h).
template <typename UnitFn>
void reduce_gradients(const Backward& args, UnitFn&& unit_fn) {
  const NormShape& shape = args.shape;
  const UnitState& forward = args.state;
  const Scratch<GradientSums<double>> sums = scratch<GradientSums<double>>(shape.cells());
  cell_gradient_sums(shape, args.x.as<float>(), args.dy.as<float>(), args.relu_output.as<float>(),
                     forward.posterior_mean, sums.get());
  for_each_unit(shape.units(), shape.cells_per_unit(), [&](int64_t unit) {
    unit_fn(unit, unit_gradient_part(args, unit, unit_gradient_sums(shape, sums.get(), args.gamma, unit)));
  });
  if (args.dgamma || args.dbeta) {
    for_each_unit(shape.channels, shape.samples, [&](int64_t channel) {
      const ParameterGradients gradients = channel_parameter_gradients(shape, sums.get(), forward.rstd, channel);
      if (args.dgamma) args.dgamma[channel] = float(gradients.dgamma);
      if (args.dbeta) args.dbeta[channel] = float(gradients.dbeta);
    });
  }
}

}  // namespace

void kalman_norm_forward_training(const TrainingForward& args) {
  const NormShape& shape = args.io.shape;
  const UnitState& state = args.state;
  if (args.part == CallPart::kWhole && unit_passes_fit(shape, UnitPass::kForward)) {
    // x read once (unit_passes.h): y as if the guard does not fire, normalized again when it does.
    fused_training_forward(args);
    *state.guard_fired = args.prior_mean.values != nullptr && decide_guard(args) ? 1 : 0;
    if (*state.guard_fired) {
      for_each_unit(shape.units(), 1, [&](int64_t unit) { write_unit_posterior(args, unit, false); });
      normalize_with_unit_statistics(args.io, state.posterior_mean, state.rstd);
    }
    if (args.running_mean) update_running(args);
    return;
  }
  observe_units(args);
  if (args.part == CallPart::kSums) return;
  *state.guard_fired = args.prior_mean.values != nullptr && decide_guard(args) ? 1 : 0;
  const bool fused = prior_used(args.prior_mean, state.guard_fired);
  for_each_unit(shape.units(), 1, [&](int64_t unit) { write_unit_posterior(args, unit, fused); });
  normalize_with_unit_statistics(args.io, state.posterior_mean, state.rstd);
  if (args.running_mean) update_running(args);
}

void kalman_norm_forward_fixed(const FixedStatisticsForward& args) {
  for_each_unit(args.io.shape.units(), 1, [&](int64_t unit) { write_fixed_unit(args, unit); });
  *args.state.guard_fired = 0;
  normalize_with_unit_statistics(args.io, args.state.posterior_mean, args.state.rstd);
}

void kalman_norm_backward(const Backward& args) {
  const NormShape& shape = args.shape;
  const UnitState& forward = args.state;
  const bool fused = prior_used(args.prior_mean, forward.guard_fired);
  if (args.part == CallPart::kSums) {
    reduce_gradients(args, [&](int64_t unit, const UnitGradientPart& part) { store_gradient_part(args, unit, part); });
    return;
  }
  const Scratch<UnitBackward<float>> units = scratch<UnitBackward<float>>(shape.units());
  const bool one_pass = args.part == CallPart::kWhole && unit_passes_fit(shape, UnitPass::kBackward);
  if (one_pass) {
    fused_backward(args, fused, units.get());  // x and dy read once (unit_passes.h): dx, dgamma, dbeta
  } else if (args.part == CallPart::kFinish) {
    for_each_unit(shape.units(), args.parts, [&](int64_t unit) {
      units[unit] = backward_of_unit(args, unit, fused, merged_gradient_part(args, unit));
    });
  } else {
    reduce_gradients(args, [&](int64_t unit, const UnitGradientPart& part) {
      units[unit] = backward_of_unit(args, unit, fused, part);
    });
  }
  store_spread_sums(shape, units.get(), UnitField::kPriorMean, args.prior_mean, args.dprior_mean);
  store_spread_sums(shape, units.get(), UnitField::kPriorVar, args.prior_var, args.dprior_var);
  store_spread_sums(shape, units.get(), UnitField::kGain, args.gain, args.dgain);
  if (one_pass) return;

  const Scratch<float> scale = scratch<float>(shape.cells()), center = scratch<float>(shape.cells()),
                       centered = scratch<float>(shape.cells()), constant = scratch<float>(shape.cells());
  for_each_cell(shape, [&](int64_t cell, int64_t unit, int64_t channel) {
    const InputGradientCell k = input_gradient_cell(args.gamma, forward.rstd, forward.observed_mean, units.get(), unit, channel);
    scale[cell] = k.scale;
    center[cell] = k.center;
    centered[cell] = k.centered;
    constant[cell] = k.constant;
  });
  input_gradient_elements(shape, args.x.as<float>(), args.dy.as<float>(), args.relu_output.as<float>(),
                          InputGradientCoefficients{scale.get(), center.get(), centered.get(), constant.get()},
                          args.dx.as<float>(), args.dresidual.as<float>());
}

}  // namespace kn
