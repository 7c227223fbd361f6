// The per-unit folds of KN and GKN that read a call's arrays (kalman_norm_call.h), written once and
// called by both backends, one unit (or one output value) at a time: the CPU loops over them
// (csrc/cpu/kalman_norm.cpp), the GPU runs one thread each (cuda/kalman_norm_forward.cu,
// kalman_norm_backward.cu). Each fold visits its terms in one fixed order and accumulates in
// double on both backends, so for the same cell sums both give the same bits.
#pragma once

#include "host_device.h"
#include "kalman_norm_call.h"
#include "kalman_norm_cells.h"
#include "kalman_norm_math.h"

namespace kn {

// ---- Forward ---------------------------------------------------------------------------------

// The first cell of `unit`: its cells are samples_per_unit rows of channels_per_unit consecutive
// cells, from here, visited sample-major (the order of NormShape::unit_cell_sample/channel).
KN_HOST_DEVICE int64_t first_cell_of_unit(const NormShape& shape, int64_t unit) {
  return shape.unit_cell_sample(unit, 0) * shape.channels + shape.unit_cell_channel(unit, 0);
}

// The cells of units first, first + 1, ..., first + kUnits - 1, each merged with Chan's formula
// in the unit's cell order, in double, into totals[k]. The units' merges are interleaved step by
// step: each merge waits on the division of the one before, so a CPU overlaps several units'
// chains (the same operations per unit, so the same bits as one unit at a time).
template <int kUnits, typename T>
KN_HOST_DEVICE void units_moments(const NormShape& shape, const Moments<T>* cells, int64_t first,
                                  Moments<double> (&totals)[kUnits]) {
  const Moments<T>* rows[kUnits];
  for (int k = 0; k < kUnits; ++k) {
    rows[k] = cells + first_cell_of_unit(shape, first + k);
    totals[k] = Moments<double>{0.0, 0.0, 0.0};
  }
  for (int64_t s = 0; s < shape.samples_per_unit; ++s)
    for (int64_t c = 0; c < shape.channels_per_unit; ++c)
      for (int k = 0; k < kUnits; ++k) {
        const Moments<T>& cell = rows[k][s * shape.channels + c];
        totals[k] = merge_moments(totals[k], Moments<double>{double(cell.count), double(cell.mean), double(cell.m2)});
      }
}

// One unit's cells merged (units_moments); cells are double on the CPU, float on the GPU.
template <typename T>
KN_HOST_DEVICE Moments<double> unit_moments(const NormShape& shape, const Moments<T>* cells, int64_t unit) {
  Moments<double> total[1];
  units_moments<1>(shape, cells, unit, total);
  return total[0];
}

// A split call's kSums (CallPart): this process's moments of `unit`, one value at a time.
KN_HOST_DEVICE void store_unit_moments(const TrainingForward& args, int64_t unit, const Moments<double>& moments) {
  double* row = args.unit_moments + unit * kMomentValues;
  row[0] = moments.count;
  row[1] = moments.mean;
  row[2] = moments.m2;
}

// A split call's kFinish (CallPart): the processes' moments of `unit` merged in rank order.
KN_HOST_DEVICE Moments<double> merged_unit_moments(const TrainingForward& args, int64_t unit) {
  const int64_t units = args.io.shape.units();
  Moments<double> total{0.0, 0.0, 0.0};
  for (int part = 0; part < args.parts; ++part) {
    const double* row = args.unit_moments + (part * units + unit) * kMomentValues;
    total = merge_moments(total, Moments<double>{row[0], row[1], row[2]});
  }
  return total;
}

// Writes a unit's observation from its moments.
KN_HOST_DEVICE void write_unit_observation(const UnitState& state, int64_t unit, const Moments<double>& moments) {
  state.observed_mean[unit] = float(moments.mean);
  state.observed_var[unit] = float(moments.m2 / moments.count);
}

// Lane `lane`'s partial of the guard statistic's sum (kGuardLanes, kalman_norm_math.h): units
// lane, lane + kGuardLanes, ... in increasing order, in double.
KN_HOST_DEVICE double guard_lane_sum(const TrainingForward& args, int lane) {
  const NormShape& shape = args.io.shape;
  double sum = 0.0;
  for (int64_t unit = lane; unit < shape.units(); unit += kGuardLanes)
    sum += guard_term<double>(args.guard_statistic, args.state.observed_var[unit], args.prior_var.at(shape, unit), args.io.eps);
  return sum;
}

// The decision from the lanes' total (lane 0 after the tree).
KN_HOST_DEVICE bool guard_decision(const TrainingForward& args, double term_sum) {
  return guard_fires<double>(args.guard_statistic, term_sum, double(args.io.shape.units()), double(args.guard));
}

// Whether a call used its prior: one was given and the guard did not fire (`guard_fired` is the
// forward's flag, written before this is read).
KN_HOST_DEVICE bool prior_used(const UnitValues& prior_mean, const int* guard_fired) {
  return prior_mean.values != nullptr && *guard_fired == 0;
}

// KN-SPEC 1.5-1.6 for one unit: writes its posterior (fused with the prior when `fused`, else the
// observation itself), the caller's copy of it and 1 / sqrt(var + eps). The observation is
// already written.
KN_HOST_DEVICE void write_unit_posterior(const TrainingForward& args, int64_t unit, bool fused) {
  const NormShape& shape = args.io.shape;
  const UnitState& state = args.state;
  const float xbar = state.observed_mean[unit], s2 = state.observed_var[unit];
  UnitPosterior<float> posterior{xbar, s2};
  if (fused) {
    const UnitPrior<float> prior{args.prior_mean.at(shape, unit), args.prior_var.at(shape, unit)};
    posterior = kalman_fuse<float>(xbar, s2, prior, args.gain.at(shape, unit));
  }
  state.posterior_mean[unit] = posterior.mean;
  args.mean[unit] = posterior.mean;
  args.var[unit] = posterior.var;
  state.rstd[unit] = inverse_std(posterior.var, args.io.eps);
}

// A forward with fixed statistics, for one unit: the state (observed = posterior = the
// statistics) and the caller's copies. The guard flag is the caller's to clear.
KN_HOST_DEVICE void write_fixed_unit(const FixedStatisticsForward& args, int64_t unit) {
  const UnitState& state = args.state;
  const float mean = args.statistics_mean[unit], var = args.statistics_var[unit];
  state.observed_mean[unit] = state.posterior_mean[unit] = args.mean[unit] = mean;
  state.observed_var[unit] = args.var[unit] = var;
  state.rstd[unit] = inverse_std(var, args.io.eps);
}

// The normalize coefficients of a cell of `unit` under fixed statistics, straight from them: the
// same bits as from the state write_fixed_unit writes (the GPU's one-launch inference computes them
// where it needs them, without waiting for that state).
KN_HOST_DEVICE NormalizeCell fixed_normalize_cell(const FixedStatisticsForward& args, int64_t unit, int64_t channel) {
  return normalize_cell(args.statistics_mean[unit], inverse_std(args.statistics_var[unit], args.io.eps),
                        args.io.epilogue.gamma, args.io.epilogue.beta, channel);
}

// ---- Backward --------------------------------------------------------------------------------

// What the backward pass knows about `unit` from the forward's arrays. `fused`: prior_used().
KN_HOST_DEVICE UnitForwardState<float> unit_forward_state(const Backward& args, int64_t unit, bool fused) {
  UnitForwardState<float> state{};
  state.xbar = args.state.observed_mean[unit];
  state.s2 = args.state.observed_var[unit];
  if (fused) state.prior = UnitPrior<float>{args.prior_mean.at(args.shape, unit), args.prior_var.at(args.shape, unit)};
  state.gain = fused ? args.gain.at(args.shape, unit) : 1.f;
  state.rstd = args.state.rstd[unit];
  state.fused = fused;
  state.constant = args.constant_statistics;
  return state;
}

// One cell's step of its unit's sums of g = gamma_c dy' and g (x - center), in double. Both
// backends add a unit's cells in the unit's cell order (sample-major), through unit_gradient_sums.
template <typename T>
KN_HOST_DEVICE void add_unit_gradient(GradientSums<double>& total, const GradientSums<T>& cell, const float* gamma,
                                      int64_t channel) {
  const double scale = gamma ? gamma[channel] : 1.0;
  total.sum_dy += scale * cell.sum_dy;
  total.sum_dy_centered += scale * cell.sum_dy_centered;
}

// A unit's sums of g and g (x - center): add_unit_gradient over its cells in the unit's cell order.
template <typename T>
KN_HOST_DEVICE GradientSums<double> unit_gradient_sums(const NormShape& shape, const GradientSums<T>* cells,
                                                        const float* gamma, int64_t unit) {
  GradientSums<double> total{0.0, 0.0};
  const int64_t first_channel = shape.unit_cell_channel(unit, 0);
  const GradientSums<T>* row = cells + first_cell_of_unit(shape, unit);
  for (int64_t s = 0; s < shape.samples_per_unit; ++s, row += shape.channels)
    for (int64_t c = 0; c < shape.channels_per_unit; ++c) add_unit_gradient(total, row[c], gamma, first_channel + c);
  return total;
}

// This process's part of a unit's backward sums: its sums (unit_gradient_sums) and the gradients
// its call was given at the posterior.
KN_HOST_DEVICE UnitGradientPart unit_gradient_part(const Backward& args, int64_t unit, const GradientSums<double>& sums) {
  return UnitGradientPart{sums.sum_dy, sums.sum_dy_centered, args.dmean_out ? args.dmean_out[unit] : 0.0,
                          args.dvar_out ? args.dvar_out[unit] : 0.0};
}

// A split call's kSums (CallPart): this process's part of `unit`, one value at a time.
KN_HOST_DEVICE void store_gradient_part(const Backward& args, int64_t unit, const UnitGradientPart& part) {
  double* row = args.unit_sums + unit * kGradientPartValues;
  row[0] = part.sum_dy;
  row[1] = part.sum_dy_centered;
  row[2] = part.dmean_out;
  row[3] = part.dvar_out;
}

// A split call's kFinish (CallPart): the processes' parts of `unit` added in rank order.
KN_HOST_DEVICE UnitGradientPart merged_gradient_part(const Backward& args, int64_t unit) {
  const int64_t units = args.shape.units();
  UnitGradientPart total{0.0, 0.0, 0.0, 0.0};
  for (int part = 0; part < args.parts; ++part) {
    const double* row = args.unit_sums + (part * units + unit) * kGradientPartValues;
    total.sum_dy += row[0];
    total.sum_dy_centered += row[1];
    total.dmean_out += row[2];
    total.dvar_out += row[3];
  }
  return total;
}

// KN-SPEC 2 for one unit, from its sums (centered on the posterior mean) over the whole call: M is
// the unit's elements over every process, and the prior and gain gradients are this process's
// share of them (CallPart; one process: the whole).
KN_HOST_DEVICE UnitBackward<float> backward_of_unit(const Backward& args, int64_t unit, bool fused,
                                                    const UnitGradientPart& sums) {
  const UnitForwardState<float> state = unit_forward_state(args, unit, fused);
  UnitBackward<float> result = unit_backward<float>(state, float(sums.sum_dy), float(sums.sum_dy_centered * state.rstd),
                                                    float(sums.dmean_out), float(sums.dvar_out), float(args.unit_size));
  const float parts = float(args.parts);
  result.dprior_mean /= parts;
  result.dprior_var /= parts;
  result.dgain /= parts;
  return result;
}

// dgamma_c = sum over samples of rstd * sum dy' (x - mu), dbeta_c = sum dy': one step per cell,
// samples in increasing order on both backends (channel_parameter_gradients), in double.
struct ParameterGradients {
  double dgamma;
  double dbeta;
};

template <typename T>
KN_HOST_DEVICE void add_parameter_gradients(ParameterGradients& total, const GradientSums<T>& cell, float unit_rstd) {
  total.dgamma += double(cell.sum_dy_centered) * unit_rstd;
  total.dbeta += cell.sum_dy;
}

template <typename T>
KN_HOST_DEVICE ParameterGradients channel_parameter_gradients(const NormShape& shape, const GradientSums<T>* cells,
                                                              const float* rstd, int64_t channel) {
  ParameterGradients total{0.0, 0.0};
  const GradientSums<T>* cell = cells + channel;
  const float* unit_rstd = rstd + shape.unit_of_cell(0, channel);  // the units of unit row 0, then down the rows
  for (int64_t row = 0; row < shape.unit_rows(); ++row, unit_rstd += shape.unit_cols())
    for (int64_t s = 0; s < shape.samples_per_unit; ++s, cell += shape.channels)
      add_parameter_gradients(total, *cell, *unit_rstd);
  return total;
}

// The per-unit gradients that are summed into outputs spread like their inputs.
enum class UnitField { kPriorMean, kPriorVar, kGain };

KN_HOST_DEVICE float field_of(const UnitBackward<float>& unit, UnitField field) {
  return field == UnitField::kPriorMean ? unit.dprior_mean : (field == UnitField::kPriorVar ? unit.dprior_var : unit.dgain);
}

// How many values an output spread like `spread` has.
KN_HOST_DEVICE int64_t spread_outputs(const NormShape& shape, UnitValues::Spread spread) {
  if (spread == UnitValues::Spread::kScalar) return 1;
  return spread == UnitValues::Spread::kPerColumn ? shape.unit_cols() : shape.units();
}

// Output value `index` of a gradient spread like `spread`: the sum of `field` over the units it
// was broadcast to, in increasing unit order, in double.
KN_HOST_DEVICE float spread_sum(const NormShape& shape, const UnitBackward<float>* units, UnitField field,
                                UnitValues::Spread spread, int64_t index) {
  if (spread == UnitValues::Spread::kPerUnit) return field_of(units[index], field);
  double sum = 0.0;
  if (spread == UnitValues::Spread::kPerColumn) {
    for (int64_t row = 0; row < shape.unit_rows(); ++row) sum += field_of(units[row * shape.unit_cols() + index], field);
  } else {
    for (int64_t unit = 0; unit < shape.units(); ++unit) sum += field_of(units[unit], field);
  }
  return float(sum);
}

}  // namespace kn
