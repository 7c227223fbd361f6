// CUDA backward of KN and GKN (KN-SPEC section 2), two launches, or one persistent launch where x
// and dy (and y under relu) fit in the shared memory of one block per SM (persistent_pass.cuh). The statistics kernel
// (cell_reductions.cuh) sums dy' and dy' (x - mu) per cell, and its last block folds the sums,
// applies unit_backward to each unit (kalman_norm_math.h), sums dgamma / dbeta per channel and the
// prior and gain gradients per output value (in a fixed order: deterministic); then the element
// pass walks the same plan and writes dx (and dresidual), each thread forming its cell's
// coefficients from its unit's result. A split call (CallPart, for several processes) is the
// statistics kernel alone (kSums), or a one-block finish from the processes' sums and then the dx
// pass (kFinish). Scratch lives in the stream's workspace (workspace.h). Every
// per-unit, per-cell and per-element formula is a shared function the CPU backend calls too
// (csrc/common/kalman_norm_units.h, kalman_norm_cells.h).
#include "../csrc/common/kalman_norm_cells.h"
#include "../csrc/common/kalman_norm_units.h"
#include "kalman_norm_cuda.h"
#include "persistent_pass.cuh"

namespace kn::cuda {
namespace {

constexpr const char* kOp = "kalmanNormBackward";

// The sums of one per-unit gradient over the units it was spread to, one thread per output value.
__device__ void spread_sums(const NormShape& shape, const UnitBackward<float>* units, UnitField field,
                            const UnitValues& like, float* out, int rank, int threads) {
  if (!out) return;
  const int64_t outputs = spread_outputs(shape, like.spread);
  for (int64_t index = rank; index < outputs; index += threads) out[index] = spread_sum(shape, units, field, like.spread, index);
}

// The statistics kernel's last block: the per-unit backward, then what sums over units or cells.
// A split call's halves (CallPart) are their own instances, so that each kernel holds only its own
// code: kSums stops at the sums (and dgamma, dbeta), kFinish starts from the processes' sums.
template <CallPart kPart>
struct BackwardFinish {
  Backward args;
  ReductionPlan plan;
  const GradientSums<float>* partials;
  GradientSums<float>* cells;
  UnitBackward<float>* units;

  __device__ void operator()(int rank, int threads) const {
    const NormShape& shape = args.shape;
    const bool fused = prior_used(args.prior_mean, args.state.guard_fired);
    const GradientSums<float>* cell_sums = nullptr;
    if constexpr (kPart == CallPart::kFinish) {
      for (int64_t unit = rank; unit < shape.units(); unit += threads)
        units[unit] = backward_of_unit(args, unit, fused, merged_gradient_part(args, unit));
    } else {
      cell_sums = folded_cells<GradientPolicy<float, false>>(plan, partials, cells, rank, threads);
      for (int64_t unit = rank; unit < shape.units(); unit += threads) {
        const UnitGradientPart part = unit_gradient_part(args, unit, unit_gradient_sums(shape, cell_sums, args.gamma, unit));
        if constexpr (kPart == CallPart::kSums) store_gradient_part(args, unit, part);
        else units[unit] = backward_of_unit(args, unit, fused, part);
      }
    }
    // dgamma = sum over samples of rstd * sum dy (x - mu), dbeta = sum dy, per channel (the split
    // call's kSums: this process's elements).
    if (kPart != CallPart::kFinish && (args.dgamma || args.dbeta)) {
      for (int64_t channel = rank; channel < shape.channels; channel += threads) {
        const ParameterGradients gradients = channel_parameter_gradients(shape, cell_sums, args.state.rstd, channel);
        if (args.dgamma) args.dgamma[channel] = float(gradients.dgamma);
        if (args.dbeta) args.dbeta[channel] = float(gradients.dbeta);
      }
    }
    if constexpr (kPart == CallPart::kSums) return;
    __syncthreads();
    spread_sums(shape, units, UnitField::kPriorMean, args.prior_mean, args.dprior_mean, rank, threads);
    spread_sums(shape, units, UnitField::kPriorVar, args.prior_var, args.dprior_var, rank, threads);
    spread_sums(shape, units, UnitField::kGain, args.gain, args.dgain, rank, threads);
  }
};

// dy' = dy masked by y > 0 (relu), dresidual = dy', dx = dy' * scale + (x - center) * centered + constant,
// the coefficients of each cell from its unit's backward result.
template <typename T, bool kRelu, bool kResidualGrad>
struct InputGradientOp {
  using Element = T;
  NormShape shape;
  const T* x;
  const T* dy;
  const T* y;
  T* dx;
  T* dresidual;
  const float* gamma;
  const float* rstd;
  const float* observed_mean;
  const UnitBackward<float>* units;
  InputGradientCell k;

  __device__ void begin_cell(int64_t cell) {
    k = input_gradient_cell(gamma, rstd, observed_mean, units, unit_of_cell_index(shape, cell), cell % shape.channels);
  }
  template <int V, typename Fetch>
  __device__ void apply(int64_t first, Fetch& fetch) const {
    float xs[V], grads[V];
    load_x_and_gradient<T, V, kRelu>(fetch, x, dy, y, first, xs, grads);
    if constexpr (kResidualGrad) store_floats<T, V>(dresidual + first, grads);
#pragma unroll
    for (int i = 0; i < V; ++i) xs[i] = input_gradient_element(grads[i], xs[i], k.scale, k.center, k.centered, k.constant);
    store_floats<T, V>(dx + first, xs);
  }
};

// The training pass of the backward: the gradient sums of `policy`, then dx (and dresidual) by
// the InputGradientOp of the call, with relu (x, dy and y cached where it runs persistent) or not.
// A split call's kSums is the sums alone; its kFinish, the finish alone and then the dx pass.
template <typename T, bool kRelu, CallPart kPart>
void launch_backward_pass(const Backward& args, const ReductionPlan& plan, const GradientPolicy<T, kRelu>& policy,
                          GradientSums<float>* partials, unsigned* ticket, const BackwardFinish<kPart>& finish,
                          cudaStream_t stream) {
  if constexpr (kPart == CallPart::kSums) {
    launch_statistics(plan, policy, partials, ticket, finish, stream, kOp);
  } else {
    const auto launch = [&](auto op) {
      op.shape = args.shape;
      op.x = policy.x, op.dy = policy.dy, op.y = policy.y;
      op.dx = args.dx.as<T>(), op.dresidual = args.dresidual.as<T>();
      op.gamma = args.gamma, op.rstd = args.state.rstd, op.observed_mean = args.state.observed_mean, op.units = finish.units;
      if constexpr (kPart == CallPart::kWhole) {
        launch_training_pass(plan, policy, partials, ticket, finish, op, kRelu ? 3 : 2, stream, kOp);
      } else {
        launch_finish(finish, stream, kOp);
        launch_walk(plan, op, stream, kOp);
      }
    };
    if (args.dresidual.data) launch(InputGradientOp<T, kRelu, true>{});
    else launch(InputGradientOp<T, kRelu, false>{});
  }
}

template <typename T>
void backward(const Backward& args, cudaStream_t stream) {
  const NormShape& shape = args.shape;
  const T *x = args.x.as<T>(), *dy = args.dy.as<T>(), *y = args.relu_output.as<T>();
  // One plan for the sums and the dx pass, as the persistent kernel walks both in one.
  const ReductionPlan plan = make_reduction_plan(shape, vector_width_for<T>({x, dy, y, args.dx.data, args.dresidual.data}));
  WorkspaceLayout layout;
  const size_t partials_at = layout.add<GradientSums<float>>(plan.partials());
  const size_t cells_at = layout.add<GradientSums<float>>(plan.chunks == 1 ? 0 : shape.cells());  // folded_cells
  const size_t units_at = layout.add<UnitBackward<float>>(shape.units());
  const WorkspaceLease workspace(stream, layout, kOp);
  GradientSums<float>* partials = workspace.at<GradientSums<float>>(partials_at);
  GradientSums<float>* cells = workspace.at<GradientSums<float>>(cells_at);
  UnitBackward<float>* units = workspace.at<UnitBackward<float>>(units_at);
  const float* center = args.state.posterior_mean;
  unsigned* ticket = workspace.ticket();
  const auto run = [&](const auto& finish) {
    if (y) launch_backward_pass<T, true>(args, plan, GradientPolicy<T, true>{shape, x, dy, y, center}, partials, ticket, finish, stream);
    else launch_backward_pass<T, false>(args, plan, GradientPolicy<T, false>{shape, x, dy, y, center}, partials, ticket, finish, stream);
  };
  switch (args.part) {
    case CallPart::kSums: return run(BackwardFinish<CallPart::kSums>{args, plan, partials, cells, units});
    case CallPart::kFinish: return run(BackwardFinish<CallPart::kFinish>{args, plan, partials, cells, units});
    default: return run(BackwardFinish<CallPart::kWhole>{args, plan, partials, cells, units});
  }
}

}  // namespace

void kalman_norm_backward(const Backward& args, cudaStream_t stream) {
  with_dtype(args.x.dtype, [&](auto tag) { backward<typename decltype(tag)::type>(args, stream); });
}

}  // namespace kn::cuda
