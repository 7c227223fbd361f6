// CUDA backward of KN and GKN (KN-SPEC section 2). One fused reduction over (x, dy) gives per-cell
// sums of dy' and dy' (x - mu); one thread per unit applies unit_backward (kalman_norm_math.h); one
// thread per channel sums dgamma / dbeta, one thread per output value the prior and gain
// gradients (in a fixed order: deterministic); then the element pass walks the same plan and writes
// dx (and dresidual). Every per-unit, per-cell and per-element formula is a shared function the
// CPU backend calls too (csrc/common/kalman_norm_units.h, kalman_norm_cells.h).
#include "../csrc/common/kalman_norm_cells.h"
#include "../csrc/common/kalman_norm_units.h"
#include "kalman_norm_cuda.h"
#include "launch.cuh"

namespace kn::cuda {
namespace {

constexpr const char* kOp = "kalmanNormBackward";

// One thread per cell: the center of its gradient sums, the posterior mean of its unit.
__global__ void cell_centers_kernel(NormShape shape, const float* posterior_mean, float* center) {
  const int64_t cell = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (cell < shape.cells()) center[cell] = posterior_mean[unit_of_cell_index(shape, cell)];
}

// One thread per unit: sums over its cells, then the coefficients of spec section 2.
__global__ void unit_backward_kernel(Backward args, const GradientSums<float>* cells, UnitBackward<float>* out) {
  const int64_t unit = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (unit >= args.shape.units()) return;
  out[unit] = backward_of_unit(args, unit, prior_used(args.prior_mean, args.state.guard_fired),
                               unit_gradient_sums(args.shape, cells, args.gamma, unit));
}

// One thread per channel: dgamma = sum over samples of rstd * sum dy (x - mu), dbeta = sum dy.
__global__ void parameter_gradients_kernel(NormShape shape, const GradientSums<float>* cells, const float* rstd,
                                           float* dgamma, float* dbeta) {
  const int64_t channel = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (channel >= shape.channels) return;
  const ParameterGradients gradients = channel_parameter_gradients(shape, cells, rstd, channel);
  if (dgamma) dgamma[channel] = float(gradients.dgamma);
  if (dbeta) dbeta[channel] = float(gradients.dbeta);
}

// One thread per output value: the sum of one per-unit gradient over the units it was spread to.
__global__ void spread_sum_kernel(NormShape shape, const UnitBackward<float>* units, UnitField field,
                                  UnitValues::Spread spread, int64_t outputs, float* out) {
  const int64_t index = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index < outputs) out[index] = spread_sum(shape, units, field, spread, index);
}

// One thread per cell: dx = dy' * scale + (x - center) * centered + constant.
__global__ void input_gradient_coefficients_kernel(NormShape shape, const float* gamma, const float* rstd,
                                                   const float* observed_mean, const UnitBackward<float>* units,
                                                   float4* coefficients) {
  const int64_t cell = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (cell >= shape.cells()) return;
  const InputGradientCell k =
      input_gradient_cell(gamma, rstd, observed_mean, units, unit_of_cell_index(shape, cell), cell % shape.channels);
  coefficients[cell] = make_float4(k.scale, k.center, k.centered, k.constant);
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
    for (int i = 0; i < V; ++i) xs[i] = input_gradient_element(grads[i], xs[i], k.x, k.y, k.z, k.w);
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
  const int64_t outputs = spread_outputs(shape, like.spread);
  launch_kernel(spread_sum_kernel, blocks_for(outputs, kBlockThreads), kBlockThreads, 0, stream,
      shape, units, field, like.spread, outputs, out);
  check_launch(kOp, "spread_sum_kernel");
}

template <typename T>
void backward(const Backward& args, cudaStream_t stream) {
  const NormShape& shape = args.shape;
  const unsigned cell_blocks = blocks_for(shape.cells(), kBlockThreads);
  Scratch<float> centers(shape.cells(), stream, kOp);
  launch_kernel(cell_centers_kernel, cell_blocks, kBlockThreads, 0, stream, shape, args.state.posterior_mean, centers.get());
  check_launch(kOp, "cell_centers_kernel");

  const T* y = args.relu_output.as<T>();
  const ReductionPlan plan = make_reduction_plan(shape, vector_width_for<T>({args.x.data, args.dy.data, y}));
  Scratch<GradientSums<float>> cells(shape.cells(), stream, kOp);
  if (y) reduce_cells(plan, GradientPolicy<T, true>{args.x.as<T>(), args.dy.as<T>(), y, centers.get()}, cells.get(), stream, kOp);
  else reduce_cells(plan, GradientPolicy<T, false>{args.x.as<T>(), args.dy.as<T>(), y, centers.get()}, cells.get(), stream, kOp);

  Scratch<UnitBackward<float>> units(shape.units(), stream, kOp);
  launch_kernel(unit_backward_kernel, blocks_for(shape.units(), kBlockThreads), kBlockThreads, 0, stream,
      args, cells.get(), units.get());
  check_launch(kOp, "unit_backward_kernel");
  if (args.dgamma || args.dbeta) {
    launch_kernel(parameter_gradients_kernel, blocks_for(shape.channels, kBlockThreads), kBlockThreads, 0, stream,
        shape, cells.get(), args.state.rstd, args.dgamma, args.dbeta);
    check_launch(kOp, "parameter_gradients_kernel");
  }
  launch_spread_sum(shape, units.get(), UnitField::kPriorMean, args.prior_mean, args.dprior_mean, stream);
  launch_spread_sum(shape, units.get(), UnitField::kPriorVar, args.prior_var, args.dprior_var, stream);
  launch_spread_sum(shape, units.get(), UnitField::kGain, args.gain, args.dgain, stream);

  Scratch<float4> coefficients(shape.cells(), stream, kOp);
  launch_kernel(input_gradient_coefficients_kernel, cell_blocks, kBlockThreads, 0, stream,
      shape, args.gamma, args.state.rstd, args.state.observed_mean, units.get(), coefficients.get());
  check_launch(kOp, "input_gradient_coefficients_kernel");
  input_gradient<T>(args, coefficients.get(), stream);
}

}  // namespace

void kalman_norm_backward(const Backward& args, cudaStream_t stream) {
  with_dtype(args.x.dtype, [&](auto tag) { backward<typename decltype(tag)::type>(args, stream); });
}

}  // namespace kn::cuda
