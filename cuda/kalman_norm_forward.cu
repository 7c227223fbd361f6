// CUDA forward of KN and GKN. Training: the reduction (cell_reductions.cuh) gives per-cell
// moments; one thread per unit merges its cells; one block computes the guard statistic; one thread
// per unit fuses the prior; one thread per cell forms its coefficients; then the element pass walks
// the same plan and writes y with the fused epilogue, 16 bytes per load in NCHW where alignment
// allows. Every formula is a shared function the CPU backend calls too (csrc/common/kalman_norm_
// units.h, kalman_norm_cells.h, kalman_norm_math.h).
#include "../csrc/common/kalman_norm_cells.h"
#include "../csrc/common/kalman_norm_units.h"
#include "kalman_norm_cuda.h"
#include "launch.cuh"

namespace kn::cuda {
namespace {

constexpr const char* kOp = "kalmanNorm";

// One thread per unit: merge the unit's cells in a fixed order.
__global__ void unit_observations_kernel(NormShape shape, const Moments<float>* cells, float* observed_mean,
                                         float* observed_var) {
  const int64_t unit = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (unit >= shape.units()) return;
  const UnitObservation observation = unit_observation(shape, cells, unit);
  observed_mean[unit] = observation.mean;
  observed_var[unit] = observation.var;
}

// One block of kGuardLanes threads, one per lane: *fired = whether the guard statistic r reaches
// the threshold, summed in the order kGuardLanes defines (kalman_norm_math.h), as the CPU does.
__global__ void __launch_bounds__(kGuardLanes) guard_kernel(TrainingForward args, int* fired) {
  __shared__ double lanes[kGuardLanes];
  lanes[threadIdx.x] = guard_lane_sum(args, int(threadIdx.x));
  __syncthreads();
  for (int stride = kGuardLanes / 2; stride > 0; stride /= 2) {
    if (int(threadIdx.x) < stride) guard_tree_step(lanes, int(threadIdx.x), stride);
    __syncthreads();
  }
  if (threadIdx.x == 0) *fired = guard_decision(args, lanes[0]);
}

// One thread per unit: the posterior (fused when a prior was given and the guard did not fire).
__global__ void posterior_kernel(TrainingForward args) {
  const int64_t unit = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (unit >= args.io.shape.units()) return;
  write_unit_posterior(args, unit, prior_used(args.prior_mean, args.state.guard_fired));
}

// One thread per column: the running estimates (kalman_norm_math.h), skipped[column] = 1 when left unchanged.
__global__ void running_kernel(NormShape shape, const float* posterior_mean, const float* posterior_var,
                               float momentum, float* running_mean, float* running_var, float* skipped) {
  const int64_t column = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (column >= shape.unit_cols()) return;
  const bool updated = update_running_column(posterior_mean + column, posterior_var + column, shape.unit_rows(),
                                             shape.unit_cols(), momentum, running_mean + column, running_var + column);
  skipped[column] = updated ? 0.f : 1.f;
}

// One thread per unit: the state of a forward with fixed statistics; thread 0 clears the guard flag.
__global__ void fixed_state_kernel(FixedStatisticsForward args) {
  const int64_t unit = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (unit == 0) *args.state.guard_fired = 0;
  if (unit < args.io.shape.units()) write_fixed_unit(args, unit);
}

// One thread per cell: center = mean, scale = gamma * rstd, shift = beta.
__global__ void cell_coefficients_kernel(NormShape shape, const float* unit_mean, const float* unit_rstd,
                                         const float* gamma, const float* beta, float* center, float* scale,
                                         float* shift) {
  const int64_t cell = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (cell >= shape.cells()) return;
  const NormalizeCell k = normalize_cell(unit_mean, unit_rstd, gamma, beta, unit_of_cell_index(shape, cell),
                                         cell % shape.channels);
  center[cell] = k.center;
  scale[cell] = k.scale;
  shift[cell] = k.shift;
}

// y = act((x - center) * scale + shift + residual) for the elements of one thread.
template <typename T, bool kResidual, bool kRelu>
struct NormalizeOp {
  using Element = T;
  const T* x;
  const T* residual;
  T* y;
  const float* cell_center;
  const float* cell_scale;
  const float* cell_shift;
  float center, scale, shift;

  __device__ void begin_cell(int64_t cell) {
    center = cell_center[cell];
    scale = cell_scale[cell];
    shift = cell_shift[cell];
  }
  template <int V>
  __device__ void apply(int64_t first) const {
    float values[V], added[V];
    load_floats<T, V>(x + first, values);
    if constexpr (kResidual) load_floats<T, V>(residual + first, added);
#pragma unroll
    for (int i = 0; i < V; ++i)
      values[i] = normalize_element<kResidual, kRelu>(values[i], kResidual ? added[i] : 0.f, center, scale, shift);
    store_floats<T, V>(y + first, values);
  }
};

// Per-cell coefficients from per-unit statistics, then the element pass.
template <typename T>
void normalize_with_unit_statistics(const ForwardIO& io, const float* unit_mean, const float* unit_rstd,
                                    cudaStream_t stream) {
  const NormShape& shape = io.shape;
  Scratch<float> center(shape.cells(), stream, kOp), scale(shape.cells(), stream, kOp), shift(shape.cells(), stream, kOp);
  launch_kernel(cell_coefficients_kernel, blocks_for(shape.cells(), kBlockThreads), kBlockThreads, 0, stream,
      shape, unit_mean, unit_rstd, io.epilogue.gamma, io.epilogue.beta, center.get(), scale.get(), shift.get());
  check_launch(kOp, "cell_coefficients_kernel");
  const ReductionPlan plan = make_reduction_plan(shape, vector_width_for<T>({io.x.data, io.y.data, io.epilogue.residual.data}));
  const T* x = io.x.as<T>();
  const T* residual = io.epilogue.residual.as<T>();
  T* y = io.y.as<T>();
  const float *c = center.get(), *a = scale.get(), *b = shift.get();
  if (residual && io.epilogue.relu) launch_walk(plan, NormalizeOp<T, true, true>{x, residual, y, c, a, b}, stream, kOp);
  else if (residual) launch_walk(plan, NormalizeOp<T, true, false>{x, residual, y, c, a, b}, stream, kOp);
  else if (io.epilogue.relu) launch_walk(plan, NormalizeOp<T, false, true>{x, residual, y, c, a, b}, stream, kOp);
  else launch_walk(plan, NormalizeOp<T, false, false>{x, residual, y, c, a, b}, stream, kOp);
}

template <typename T>
void forward_training(const TrainingForward& args, cudaStream_t stream) {
  const NormShape& shape = args.io.shape;
  const UnitState& state = args.state;
  int* guard_fired = state.guard_fired;
  const ReductionPlan plan = make_reduction_plan(shape, vector_width_for<T>({args.io.x.data}));
  Scratch<Moments<float>> cells(shape.cells(), stream, kOp);
  reduce_cells(plan, MomentsPolicy<T>{args.io.x.as<T>()}, cells.get(), stream, kOp);
  const unsigned unit_blocks = blocks_for(shape.units(), kBlockThreads);
  launch_kernel(unit_observations_kernel, unit_blocks, kBlockThreads, 0, stream,
      shape, cells.get(), state.observed_mean, state.observed_var);
  check_launch(kOp, "unit_observations_kernel");
  if (args.prior_mean.values) {
    launch_kernel(guard_kernel, 1, kGuardLanes, 0, stream, args, guard_fired);
    check_launch(kOp, "guard_kernel");
  } else {
    check(cudaMemsetAsync(guard_fired, 0, sizeof(int), stream), kOp, "cudaMemsetAsync");
  }
  launch_kernel(posterior_kernel, unit_blocks, kBlockThreads, 0, stream, args);
  check_launch(kOp, "posterior_kernel");
  normalize_with_unit_statistics<T>(args.io, state.posterior_mean, state.rstd, stream);
  if (args.running_mean) {
    launch_kernel(running_kernel, blocks_for(shape.unit_cols(), kBlockThreads), kBlockThreads, 0, stream,
        shape, state.posterior_mean, args.var, args.momentum, args.running_mean, args.running_var,
        args.running_skipped);
    check_launch(kOp, "running_kernel");
  }
}

}  // namespace

void kalman_norm_forward_training(const TrainingForward& args, cudaStream_t stream) {
  with_dtype(args.io.x.dtype, [&](auto tag) { forward_training<typename decltype(tag)::type>(args, stream); });
}

void kalman_norm_forward_fixed(const FixedStatisticsForward& args, cudaStream_t stream) {
  launch_kernel(fixed_state_kernel, blocks_for(args.io.shape.units(), kBlockThreads), kBlockThreads, 0, stream, args);
  check_launch(kOp, "fixed_state_kernel");
  with_dtype(args.io.x.dtype, [&](auto tag) {
    normalize_with_unit_statistics<typename decltype(tag)::type>(args.io, args.state.posterior_mean, args.state.rstd, stream);
  });
}

}  // namespace kn::cuda
