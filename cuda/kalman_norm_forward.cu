// CUDA forward of KN and GKN. Training is two launches: the statistics kernel
// (cell_reductions.cuh) leaves per-cell partials, and its last block folds them, observes each unit,
// decides the guard, fuses each unit with its prior and updates the running estimates; then the
// element pass walks the same plan and writes y with the fused epilogue, 16 bytes per load in NCHW
// where alignment allows, each thread forming its cell's coefficients from the unit's posterior.
// Where x fits in the shared memory of one block per SM, the same work is one persistent launch
// that reads x once (persistent_pass.cuh). A split call (CallPart, for several processes) is the
// statistics kernel and a one-block finish that writes the moments (kSums), or a one-block finish
// from the processes' moments and then the element pass (kFinish). Inference (fixed statistics) is one launch. Scratch lives in the stream's workspace
// (workspace.h), so a call allocates nothing once its stream has seen one of its size. Every
// formula is a shared function the CPU backend calls too (csrc/common/kalman_norm_units.h,
// kalman_norm_cells.h, kalman_norm_math.h).
#include "../csrc/common/kalman_norm_cells.h"
#include "../csrc/common/kalman_norm_units.h"
#include "kalman_norm_cuda.h"
#include "persistent_pass.cuh"

namespace kn::cuda {
namespace {

constexpr const char* kOp = "kalmanNorm";

// KN-SPEC 1.4 in one block: *guard_fired = whether the guard statistic reaches the threshold,
// summed in kGuardLanes lanes and then a fixed tree (kalman_norm_math.h), as the CPU does; 0
// without a prior.
__device__ void decide_guard(const TrainingForward& args, int rank, int threads) {
  __shared__ double lanes[kGuardLanes];
  if (!args.prior_mean.values) {
    if (rank == 0) *args.state.guard_fired = 0;
    return;
  }
  for (int lane = rank; lane < kGuardLanes; lane += threads) lanes[lane] = guard_lane_sum(args, lane);
  __syncthreads();
  for (int stride = kGuardLanes / 2; stride > 0; stride /= 2) {
    for (int lane = rank; lane < stride; lane += threads) guard_tree_step(lanes, lane, stride);
    __syncthreads();
  }
  if (rank == 0) *args.state.guard_fired = guard_decision(args, lanes[0]);
}

// The statistics kernel's last block: KN-SPEC 1.1-1.7 from the partials, in phases that each read
// what the one before wrote (a __syncthreads between them). A split call's halves (CallPart) are
// their own instances, each run in a one-block kernel of its own (finish_kernel), so that each
// kernel holds only its own code: kSums folds the partials and stops at the moments, kFinish starts
// from the processes' moments.
template <CallPart kPart>
struct ForwardFinish {
  TrainingForward args;
  ReductionPlan plan;
  const Moments<float>* partials;
  Moments<float>* cells;

  __device__ void operator()(int rank, int threads) const {
    const NormShape& shape = args.io.shape;
    const UnitState& state = args.state;
    if constexpr (kPart == CallPart::kSums) {
      const Moments<float>* cell_moments = folded_cells<MomentsPolicy<float>>(plan, partials, cells, rank, threads);
      for (int64_t unit = rank; unit < shape.units(); unit += threads) store_unit_moments(args, unit, unit_moments(shape, cell_moments, unit));
      return;
    }
    if constexpr (kPart == CallPart::kFinish) {
      for (int64_t unit = rank; unit < shape.units(); unit += threads)
        write_unit_observation(state, unit, merged_unit_moments(args, unit));
    } else {
      const Moments<float>* cell_moments = folded_cells<MomentsPolicy<float>>(plan, partials, cells, rank, threads);
      for (int64_t unit = rank; unit < shape.units(); unit += threads) write_unit_observation(state, unit, unit_moments(shape, cell_moments, unit));
    }
    __syncthreads();
    decide_guard(args, rank, threads);
    __syncthreads();
    const bool fused = prior_used(args.prior_mean, state.guard_fired);
    for (int64_t unit = rank; unit < shape.units(); unit += threads) write_unit_posterior(args, unit, fused);
    if (!args.running_mean) return;
    __syncthreads();
    // Per column: the running estimates (kalman_norm_math.h), skipped[column] = 1 when left unchanged.
    for (int64_t column = rank; column < shape.unit_cols(); column += threads) {
      const bool updated = update_running_column(state.posterior_mean + column, args.var + column, shape.unit_rows(),
                                                 shape.unit_cols(), args.momentum, args.running_mean + column,
                                                 args.running_var + column);
      args.running_skipped[column] = updated ? 0.f : 1.f;
    }
  }
};

// A cell's coefficients from the per-unit posterior the statistics kernel wrote.
struct PosteriorCoefficients {
  NormShape shape;
  const float* unit_mean;
  const float* unit_rstd;
  const float* gamma;
  const float* beta;

  __device__ NormalizeCell of(int64_t cell) const {
    return normalize_cell(unit_mean, unit_rstd, gamma, beta, unit_of_cell_index(shape, cell), cell % shape.channels);
  }
};

// A cell's coefficients straight from fixed statistics (inference).
struct FixedCoefficients {
  FixedStatisticsForward args;

  __device__ NormalizeCell of(int64_t cell) const {
    const NormShape& shape = args.io.shape;
    return fixed_normalize_cell(args, unit_of_cell_index(shape, cell), cell % shape.channels);
  }
};

// y = act((x - center) * scale + shift + residual) for the elements of one thread.
template <typename T, bool kResidual, bool kRelu, typename Coefficients>
struct NormalizeOp {
  using Element = T;
  const T* x;
  const T* residual;
  T* y;
  Coefficients coefficients;
  NormalizeCell k;

  __device__ void begin_cell(int64_t cell) { k = coefficients.of(cell); }
  template <int V, typename Fetch>
  __device__ void apply(int64_t first, Fetch& fetch) const {
    float values[V], added[V];
    fetch(x, first, values);
    if constexpr (kResidual) load_floats<T, V>(residual + first, added);
#pragma unroll
    for (int i = 0; i < V; ++i)
      values[i] = normalize_element<kResidual, kRelu>(values[i], kResidual ? added[i] : 0.f, k.center, k.scale, k.shift);
    store_floats<T, V>(y + first, values);
  }
};

// Inference in one launch: the threads of the grid write the state of the units (and clear the
// guard flag) while each walks its share of the plan with coefficients from the statistics.
template <int V, typename Op>
__global__ void __launch_bounds__(kBlockThreads) fixed_forward_kernel(ReductionPlan plan, Op op, FixedStatisticsForward args) {
  const int64_t threads = int64_t(gridDim.x) * blockDim.x * blockDim.y;
  const int64_t rank = int64_t(blockIdx.x) * blockDim.x * blockDim.y + threadIdx.y * blockDim.x + threadIdx.x;
  if (rank == 0) *args.state.guard_fired = 0;
  for (int64_t unit = rank; unit < args.io.shape.units(); unit += threads) write_fixed_unit(args, unit);
  GlobalFetch fetch;
  walk_block<V>(plan, blockIdx.x, op, fetch);
}

template <typename Op>
void launch_fixed_forward(const ReductionPlan& plan, const Op& op, const FixedStatisticsForward& args, cudaStream_t stream) {
  constexpr int kVector = kVectorWidth<typename Op::Element>;
  const PlanLaunch launch = plan_launch(plan);
  if (plan.runs() && plan.vector_width == kVector)
    launch_kernel(fixed_forward_kernel<kVector, Op>, launch.blocks, launch.threads, 0, stream, plan, op, args);
  else launch_kernel(fixed_forward_kernel<1, Op>, launch.blocks, launch.threads, 0, stream, plan, op, args);
  check_launch(kOp, "fixed_forward_kernel");
}

// Runs `with(op)` on the NormalizeOp of the io's epilogue (residual and relu or not).
template <typename T, typename Coefficients, typename With>
void with_normalize_op(const ForwardIO& io, const Coefficients& coefficients, With&& with) {
  const T* x = io.x.as<T>();
  const T* residual = io.epilogue.residual.as<T>();
  T* y = io.y.as<T>();
  if (residual && io.epilogue.relu) with(NormalizeOp<T, true, true, Coefficients>{x, residual, y, coefficients});
  else if (residual) with(NormalizeOp<T, true, false, Coefficients>{x, residual, y, coefficients});
  else if (io.epilogue.relu) with(NormalizeOp<T, false, true, Coefficients>{x, residual, y, coefficients});
  else with(NormalizeOp<T, false, false, Coefficients>{x, residual, y, coefficients});
}

template <typename T>
void forward_training(const TrainingForward& args, cudaStream_t stream) {
  const ForwardIO& io = args.io;
  const NormShape& shape = io.shape;
  // One plan for the statistics and the element pass, as the persistent kernel walks both in one.
  const ReductionPlan plan = make_reduction_plan(shape, vector_width_for<T>({io.x.data, io.y.data, io.epilogue.residual.data}));
  WorkspaceLayout layout;
  const size_t partials_at = layout.add<Moments<float>>(plan.partials());
  const size_t cells_at = layout.add<Moments<float>>(plan.chunks == 1 ? 0 : shape.cells());  // folded_cells
  const WorkspaceLease workspace(stream, layout, kOp);
  Moments<float>* partials = workspace.at<Moments<float>>(partials_at);
  Moments<float>* cells = workspace.at<Moments<float>>(cells_at);
  const PosteriorCoefficients coefficients{shape, args.state.posterior_mean, args.state.rstd, io.epilogue.gamma, io.epilogue.beta};
  const MomentsPolicy<T> policy{io.x.as<T>()};
  if (args.part == CallPart::kSums) {
    // Two launches: ptxas spills a register of the NHWC statistics kernel (sm_80) when that
    // kernel's last block merges the units too.
    launch_statistics(plan, policy, partials, workspace.ticket(), NoFinish{}, stream, kOp);
    return launch_finish(ForwardFinish<CallPart::kSums>{args, plan, partials, cells}, stream, kOp);
  }
  with_normalize_op<T>(io, coefficients, [&](const auto& op) {
    if (args.part == CallPart::kWhole) {
      const ForwardFinish<CallPart::kWhole> finish{args, plan, partials, cells};
      return launch_training_pass(plan, policy, partials, workspace.ticket(), finish, op, 1, stream, kOp);
    }
    launch_finish(ForwardFinish<CallPart::kFinish>{args, plan, partials, cells}, stream, kOp);
    launch_walk(plan, op, stream, kOp);
  });
}

template <typename T>
void forward_fixed(const FixedStatisticsForward& args, cudaStream_t stream) {
  const ForwardIO& io = args.io;
  const ReductionPlan plan = make_reduction_plan(io.shape, vector_width_for<T>({io.x.data, io.y.data, io.epilogue.residual.data}));
  with_normalize_op<T>(io, FixedCoefficients{args}, [&](const auto& op) { launch_fixed_forward(plan, op, args, stream); });
}

}  // namespace

void kalman_norm_forward_training(const TrainingForward& args, cudaStream_t stream) {
  with_dtype(args.io.x.dtype, [&](auto tag) { forward_training<typename decltype(tag)::type>(args, stream); });
}

void kalman_norm_forward_fixed(const FixedStatisticsForward& args, cudaStream_t stream) {
  with_dtype(args.io.x.dtype, [&](auto tag) { forward_fixed<typename decltype(tag)::type>(args, stream); });
}

}  // namespace kn::cuda
