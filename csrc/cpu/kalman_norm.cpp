// Drives the passes of cell_reductions and element_passes and applies the per-unit math of
// csrc/common/kalman_norm_math.h in between. Forward: one reduction pass and one element pass over x.
// Backward: one reduction pass over (x, dy) and one element pass.
#include "kalman_norm.h"

#include <cmath>
#include <vector>

#include "../common/kalman_norm_math.h"
#include "cell_reductions.h"
#include "element_passes.h"
#include "thread_pool.h"

namespace kn {
namespace {

float gamma_at(const Epilogue& epilogue, int64_t channel) {
  return epilogue.gamma ? epilogue.gamma[channel] : 1.f;
}

// Per-cell forward coefficients from per-unit statistics, then the element pass.
void normalize_with_unit_statistics(const ForwardIO& io, const float* unit_mean, const float* unit_rstd) {
  const NormShape& shape = io.shape;
  const Epilogue& epilogue = io.epilogue;
  std::vector<float> center(shape.cells()), scale(shape.cells()), shift(shape.cells());
  for (int64_t n = 0; n < shape.samples; ++n)
    for (int64_t c = 0; c < shape.channels; ++c) {
      const int64_t cell = n * shape.channels + c, unit = shape.unit_of_cell(n, c);
      center[cell] = unit_mean[unit];
      scale[cell] = gamma_at(epilogue, c) * unit_rstd[unit];
      shift[cell] = epilogue.beta ? epilogue.beta[c] : 0.f;
    }
  normalize_elements(shape, io.x.as<float>(), epilogue.residual.as<float>(), epilogue.relu,
                     NormalizeCoefficients{center.data(), scale.data(), shift.data()}, io.y.as<float>());
}

// The moments of each unit: its cells merged in a fixed order.
void unit_observations(const NormShape& shape, const float* x, float* observed_mean,
                       float* observed_var) {
  std::vector<Moments<double>> cells(shape.cells());
  cell_moments(shape, x, cells.data());
  parallel_for(shape.units(), shape.cells_per_unit(), [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      Moments<double> total{0.0, 0.0, 0.0};
      for (int64_t i = 0; i < shape.cells_per_unit(); ++i) {
        const int64_t n = shape.unit_cell_sample(unit, i), c = shape.unit_cell_channel(unit, i);
        total = merge_moments(total, cells[n * shape.channels + c]);
      }
      observed_mean[unit] = float(total.mean);
      observed_var[unit] = float(total.m2 / total.count);
    }
  });
}

// The guard's decision over all units of the call.
bool decide_guard(const TrainingForward& args) {
  const NormShape& shape = args.io.shape;
  double term_sum = 0.0;
  for (int64_t unit = 0; unit < shape.units(); ++unit)
    term_sum += guard_term<double>(args.guard_statistic, args.state.observed_var[unit], args.prior_var.at(shape, unit), args.io.eps);
  return guard_fires<double>(args.guard_statistic, term_sum, double(shape.units()), double(args.guard));
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

// Adds `value` to the accumulator of `unit` in an output with the given spread.
void accumulate(std::vector<double>& totals, const NormShape& shape, UnitValues::Spread spread,
                int64_t unit, double value) {
  if (spread == UnitValues::Spread::kScalar) totals[0] += value;
  else if (spread == UnitValues::Spread::kPerColumn) totals[shape.column_of_unit(unit)] += value;
  else totals[unit] += value;
}

std::vector<double> zeros_for(const NormShape& shape, UnitValues::Spread spread) {
  if (spread == UnitValues::Spread::kScalar) return std::vector<double>(1, 0.0);
  return std::vector<double>(spread == UnitValues::Spread::kPerColumn ? shape.unit_cols() : shape.units(), 0.0);
}

void store(const std::vector<double>& totals, float* out) {
  if (!out) return;
  for (size_t i = 0; i < totals.size(); ++i) out[i] = float(totals[i]);
}

}  // namespace

void kalman_norm_forward_training(const TrainingForward& args) {
  const NormShape& shape = args.io.shape;
  const UnitState& state = args.state;
  unit_observations(shape, args.io.x.as<float>(), state.observed_mean, state.observed_var);
  const bool has_prior = args.prior_mean.values != nullptr;
  const bool guard_fired = has_prior && decide_guard(args);
  const bool fused = has_prior && !guard_fired;
  *state.guard_fired = guard_fired ? 1 : 0;
  for (int64_t unit = 0; unit < shape.units(); ++unit) {
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
  normalize_with_unit_statistics(args.io, state.posterior_mean, state.rstd);
  if (args.running_mean) update_running(args);
}

void kalman_norm_forward_fixed(const FixedStatisticsForward& args) {
  const UnitState& state = args.state;
  for (int64_t unit = 0; unit < args.io.shape.units(); ++unit) {
    const float mean = args.statistics_mean[unit], var = args.statistics_var[unit];
    state.observed_mean[unit] = state.posterior_mean[unit] = args.mean[unit] = mean;
    state.observed_var[unit] = args.var[unit] = var;
    state.rstd[unit] = inverse_std(var, args.io.eps);
  }
  *state.guard_fired = 0;
  normalize_with_unit_statistics(args.io, state.posterior_mean, state.rstd);
}

void kalman_norm_backward(const Backward& args) {
  const NormShape& shape = args.shape;
  const UnitState& forward = args.state;
  const bool fused = args.prior_mean.values != nullptr && *forward.guard_fired == 0;
  const int64_t channels = shape.channels;
  std::vector<float> sum_center(shape.cells());
  for (int64_t n = 0; n < shape.samples; ++n)
    for (int64_t c = 0; c < channels; ++c)
      sum_center[n * channels + c] = forward.posterior_mean[shape.unit_of_cell(n, c)];
  std::vector<GradientSums> sums(shape.cells());
  cell_gradient_sums(shape, args.x.as<float>(), args.dy.as<float>(), args.relu_output.as<float>(),
                     sum_center.data(), sums.data());

  // Per unit: sum of g = gamma dy' and of g xhat, then the coefficients of spec section 2.
  std::vector<double> sum_g(shape.units(), 0.0), sum_g_centered(shape.units(), 0.0);
  std::vector<double> dgamma(channels, 0.0), dbeta(channels, 0.0);
  for (int64_t n = 0; n < shape.samples; ++n)
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t unit = shape.unit_of_cell(n, c);
      const GradientSums& cell = sums[n * channels + c];
      const double gamma = args.gamma ? args.gamma[c] : 1.0;
      sum_g[unit] += gamma * cell.sum_dy;
      sum_g_centered[unit] += gamma * cell.sum_dy_centered;
      dgamma[c] += cell.sum_dy_centered * forward.rstd[unit];
      dbeta[c] += cell.sum_dy;
    }
  store(dgamma, args.dgamma);
  store(dbeta, args.dbeta);

  std::vector<UnitBackward<float>> units(shape.units());
  std::vector<double> dprior_mean = zeros_for(shape, args.prior_mean.spread);
  std::vector<double> dprior_var = zeros_for(shape, args.prior_var.spread);
  std::vector<double> dgain = zeros_for(shape, args.gain.spread);
  for (int64_t unit = 0; unit < shape.units(); ++unit) {
    UnitForwardState<float> state{};
    state.xbar = forward.observed_mean[unit];
    state.s2 = forward.observed_var[unit];
    if (fused) state.prior = {args.prior_mean.at(shape, unit), args.prior_var.at(shape, unit)};
    state.gain = fused ? args.gain.at(shape, unit) : 1.f;
    state.rstd = forward.rstd[unit];
    state.fused = fused;
    state.constant = args.constant_statistics;
    const float rstd = forward.rstd[unit];
    units[unit] = unit_backward<float>(state, float(sum_g[unit]), float(sum_g_centered[unit] * rstd),
                                       args.dmean_out ? args.dmean_out[unit] : 0.f,
                                       args.dvar_out ? args.dvar_out[unit] : 0.f,
                                       float(shape.unit_size()));
    accumulate(dprior_mean, shape, args.prior_mean.spread, unit, units[unit].dprior_mean);
    accumulate(dprior_var, shape, args.prior_var.spread, unit, units[unit].dprior_var);
    accumulate(dgain, shape, args.gain.spread, unit, units[unit].dgain);
  }
  store(dprior_mean, args.dprior_mean);
  store(dprior_var, args.dprior_var);
  store(dgain, args.dgain);

  std::vector<float> scale(shape.cells()), center(shape.cells()), centered(shape.cells()),
      constant(shape.cells());
  for (int64_t n = 0; n < shape.samples; ++n)
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t cell = n * channels + c, unit = shape.unit_of_cell(n, c);
      scale[cell] = (args.gamma ? args.gamma[c] : 1.f) * forward.rstd[unit];
      center[cell] = forward.observed_mean[unit];
      centered[cell] = units[unit].centered;
      constant[cell] = units[unit].constant;
    }
  input_gradient_elements(shape, args.x.as<float>(), args.dy.as<float>(), args.relu_output.as<float>(),
                          InputGradientCoefficients{scale.data(), center.data(), centered.data(), constant.data()},
                          args.dx.as<float>(), args.dresidual.as<float>());
}

}  // namespace kn
