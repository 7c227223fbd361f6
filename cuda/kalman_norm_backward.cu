// CUDA backward of KN and GKN (KN-SPEC section 2). One fused reduction over (x, dy) gives per-cell
// sums of dy' and dy' (x - mu); one thread per unit applies unit_backward (kalman_norm_math.h); one
// thread per channel sums dgamma / dbeta, one thread per output value the prior and gain
// gradients (in a fixed order: deterministic); then the element pass walks the same plan and writes
// dx (and dresidual).
#include "kalman_norm_cuda.h"
#include "launch.cuh"

namespace kn::cuda {
namespace {

constexpr const char* kOp = "kalmanNormBackward";

// One thread per cell: the center of its gradient sums, the posterior mean of its unit.
__global__ void cell_centers_kernel(NormShape shape, const float* posterior_mean, float* center) {
  const int64_t cell = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (cell < shape.cells()) center[cell] = posterior_mean[shape.unit_of_cell(cell / shape.channels, cell % shape.channels)];
}

struct UnitInputs {
  const float* gamma;
  const float* observed_mean;
  const float* observed_var;
  const float* rstd;
  UnitValues gain;
  UnitValues prior_mean;
  UnitValues prior_var;
  bool fused;              // a prior was given (the device flag may still say the guard fired)
  const int* guard_fired;  // the forward's device flag
  bool constant;
  const float* dmean_out;
  const float* dvar_out;
};

// One thread per unit: sums over its cells, then the coefficients of spec section 2.
__global__ void unit_backward_kernel(NormShape shape, const GradientSums* cells, UnitInputs in,
                                     UnitBackward<float>* out) {
  const int64_t unit = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (unit >= shape.units()) return;
  float sum_g = 0.f, sum_g_centered = 0.f;
  for (int64_t i = 0; i < shape.cells_per_unit(); ++i) {
    const int64_t sample = shape.unit_cell_sample(unit, i), channel = shape.unit_cell_channel(unit, i);
    const GradientSums& cell = cells[sample * shape.channels + channel];
    const float gamma = in.gamma ? in.gamma[channel] : 1.f;
    sum_g += gamma * cell.sum_dy;
    sum_g_centered += gamma * cell.sum_dy_centered;
  }
  const bool fused = in.fused && *in.guard_fired == 0;
  UnitForwardState<float> state{};
  state.xbar = in.observed_mean[unit];
  state.s2 = in.observed_var[unit];
  if (fused) state.prior = UnitPrior<float>{in.prior_mean.at(shape, unit), in.prior_var.at(shape, unit)};
  state.gain = fused ? in.gain.at(shape, unit) : 1.f;
  state.rstd = in.rstd[unit];
  state.fused = fused;
  state.constant = in.constant;
  out[unit] = unit_backward<float>(state, sum_g, sum_g_centered * state.rstd, in.dmean_out ? in.dmean_out[unit] : 0.f,
                                   in.dvar_out ? in.dvar_out[unit] : 0.f, float(shape.unit_size()));
}

// One thread per channel: dgamma = sum over samples of rstd * sum dy (x - mu), dbeta = sum dy.
__global__ void parameter_gradients_kernel(NormShape shape, const GradientSums* cells, const float* rstd,
                                           float* dgamma, float* dbeta) {
  const int64_t channel = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (channel >= shape.channels) return;
  float gamma_sum = 0.f, beta_sum = 0.f;
  for (int64_t sample = 0; sample < shape.samples; ++sample) {
    const GradientSums& cell = cells[sample * shape.channels + channel];
    gamma_sum += cell.sum_dy_centered * rstd[shape.unit_of_cell(sample, channel)];
    beta_sum += cell.sum_dy;
  }
  if (dgamma) dgamma[channel] = gamma_sum;
  if (dbeta) dbeta[channel] = beta_sum;
}

enum class UnitField { kPriorMean, kPriorVar, kGain };

__device__ float field_of(const UnitBackward<float>& unit, UnitField field) {
  return field == UnitField::kPriorMean ? unit.dprior_mean : (field == UnitField::kPriorVar ? unit.dprior_var : unit.dgain);
}

// One thread per output value: the sum of one per-unit gradient over the units it was spread to.
__global__ void spread_sum_kernel(NormShape shape, const UnitBackward<float>* units, UnitField field,
                                  UnitValues::Spread spread, int64_t outputs, float* out) {
  const int64_t index = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= outputs) return;
  float sum = 0.f;
  if (spread == UnitValues::Spread::kPerUnit) {
    sum = field_of(units[index], field);
  } else if (spread == UnitValues::Spread::kPerColumn) {
    for (int64_t row = 0; row < shape.unit_rows(); ++row) sum += field_of(units[row * shape.unit_cols() + index], field);
  } else {
    for (int64_t unit = 0; unit < shape.units(); ++unit) sum += field_of(units[unit], field);
  }
  out[index] = sum;
}

// One thread per cell: dx = dy' * scale + (x - center) * centered + constant.
__global__ void input_gradient_coefficients_kernel(NormShape shape, const float* gamma, const float* rstd,
                                                   const float* observed_mean, const UnitBackward<float>* units,
                                                   float4* coefficients) {
  const int64_t cell = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (cell >= shape.cells()) return;
  const int64_t channel = cell % shape.channels, unit = shape.unit_of_cell(cell / shape.channels, channel);
  coefficients[cell] = make_float4((gamma ? gamma[channel] : 1.f) * rstd[unit], observed_mean[unit],
                                   units[unit].centered, units[unit].constant);
}

// dy' = dy masked by y > 0 (relu), dresidual = dy', dx = dy' * scale + (x - center) * centered + constant.
template <typename T, bool kRelu, bool kResidualGrad>
struct InputGradientOp {
  using Element = T;
  const T* x;
  const T* dy;
  const T* y;
  T* dx;
  T* dresidual;
  const float4* cell_coefficients;
  float4 k;  // scale, center, centered, constant

  __device__ void begin_cell(int64_t cell) { k = cell_coefficients[cell]; }
  template <int V>
  __device__ void apply(int64_t first) const {
    float xs[V], grads[V];
    load_x_and_gradient<T, V, kRelu>(x, dy, y, first, xs, grads);
    if constexpr (kResidualGrad) store_floats<T, V>(dresidual + first, grads);
#pragma unroll
    for (int i = 0; i < V; ++i) xs[i] = grads[i] * k.x + (xs[i] - k.y) * k.z + k.w;
    store_floats<T, V>(dx + first, xs);
  }
};

template <typename T>
void input_gradient(const Backward& args, const float4* coefficients, cudaStream_t stream) {
  const T *x = args.x.as<T>(), *dy = args.dy.as<T>(), *y = args.relu_output.as<T>();
  T *dx = args.dx.as<T>(), *dresidual = args.dresidual.as<T>();
  const ReductionPlan plan = make_reduction_plan(args.shape, vector_width_for<T>({x, dy, y, dx, dresidual}));
  const float4* k = coefficients;
  if (y && dresidual) launch_walk(plan, InputGradientOp<T, true, true>{x, dy, y, dx, dresidual, k}, stream, kOp);
  else if (y) launch_walk(plan, InputGradientOp<T, true, false>{x, dy, y, dx, dresidual, k}, stream, kOp);
  else if (dresidual) launch_walk(plan, InputGradientOp<T, false, true>{x, dy, y, dx, dresidual, k}, stream, kOp);
  else launch_walk(plan, InputGradientOp<T, false, false>{x, dy, y, dx, dresidual, k}, stream, kOp);
}

void launch_spread_sum(const NormShape& shape, const UnitBackward<float>* units, UnitField field,
                       const UnitValues& like, float* out, cudaStream_t stream) {
  if (!out) return;
  const int64_t outputs = like.spread == UnitValues::Spread::kScalar
                              ? 1
                              : (like.spread == UnitValues::Spread::kPerColumn ? shape.unit_cols() : shape.units());
  launch_kernel(spread_sum_kernel, blocks_for(outputs, kBlockThreads), kBlockThreads, 0, stream,
      shape, units, field, like.spread, outputs, out);
  check_launch(kOp, "spread_sum_kernel");
}

template <typename T>
void backward(const Backward& args, cudaStream_t stream) {
  const NormShape& shape = args.shape;
  const unsigned cell_blocks = blocks_for(shape.cells(), kBlockThreads);
  Scratch<float> centers(shape.cells(), stream, kOp);
  const UnitState& forward = args.state;
  launch_kernel(cell_centers_kernel, cell_blocks, kBlockThreads, 0, stream, shape, forward.posterior_mean, centers.get());
  check_launch(kOp, "cell_centers_kernel");

  const T* y = args.relu_output.as<T>();
  const ReductionPlan plan = make_reduction_plan(shape, vector_width_for<T>({args.x.data, args.dy.data, y}));
  Scratch<GradientSums> cells(shape.cells(), stream, kOp);
  if (y) reduce_cells(plan, GradientPolicy<T, true>{args.x.as<T>(), args.dy.as<T>(), y, centers.get()}, cells.get(), stream, kOp);
  else reduce_cells(plan, GradientPolicy<T, false>{args.x.as<T>(), args.dy.as<T>(), y, centers.get()}, cells.get(), stream, kOp);

  Scratch<UnitBackward<float>> units(shape.units(), stream, kOp);
  const UnitInputs inputs{args.gamma, forward.observed_mean, forward.observed_var, forward.rstd, args.gain, args.prior_mean,
                          args.prior_var, args.prior_mean.values != nullptr, forward.guard_fired, args.constant_statistics,
                          args.dmean_out, args.dvar_out};
  launch_kernel(unit_backward_kernel, blocks_for(shape.units(), kBlockThreads), kBlockThreads, 0, stream,
      shape, cells.get(), inputs, units.get());
  check_launch(kOp, "unit_backward_kernel");
  if (args.dgamma || args.dbeta) {
    launch_kernel(parameter_gradients_kernel, blocks_for(shape.channels, kBlockThreads), kBlockThreads, 0, stream,
        shape, cells.get(), forward.rstd, args.dgamma, args.dbeta);
    check_launch(kOp, "parameter_gradients_kernel");
  }
  launch_spread_sum(shape, units.get(), UnitField::kPriorMean, args.prior_mean, args.dprior_mean, stream);
  launch_spread_sum(shape, units.get(), UnitField::kPriorVar, args.prior_var, args.dprior_var, stream);
  launch_spread_sum(shape, units.get(), UnitField::kGain, args.gain, args.dgain, stream);

  Scratch<float4> coefficients(shape.cells(), stream, kOp);
  launch_kernel(input_gradient_coefficients_kernel, cell_blocks, kBlockThreads, 0, stream,
      shape, args.gamma, forward.rstd, forward.observed_mean, units.get(), coefficients.get());
  check_launch(kOp, "input_gradient_coefficients_kernel");
  input_gradient<T>(args, coefficients.get(), stream);
}

}  // namespace

void kalman_norm_backward(const Backward& args, cudaStream_t stream) {
  with_dtype(args.x.dtype, [&](auto tag) { backward<typename decltype(tag)::type>(args, stream); });
}

}  // namespace kn::cuda
