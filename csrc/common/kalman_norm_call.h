// The three calls of KN and GKN (KN-SPEC sections 1 and 2): forward in training mode, forward with
// fixed statistics (KN inference), and backward. The addon parses each from the JavaScript object
// of the same shape (csrc/addon/kalman_norm_binding.cpp; field names in camelCase, lib/binding.ts)
// and hands the same struct to the CPU backend (csrc/cpu/kalman_norm.h) or the CUDA backend
// (cuda/kalman_norm_cuda.h), which differ only by the stream. Pointers are host pointers for the
// CPU and device pointers for CUDA. Pointers that may be null say so; every per-unit array has
// shape.units() entries, row-major [unit_rows][unit_cols]; per-column arrays (gain, prior, when
// broadcast) have unit_cols() entries. The addon has validated every size.
#pragma once

#include "kalman_norm_math.h"
#include "norm_shape.h"
#include "tensor_ref.h"

namespace kn {

// Either one value per unit, or one per column broadcast over the unit rows, or (gain only) one
// scalar for every unit. `values == nullptr` means absent.
struct UnitValues {
  const float* values = nullptr;
  enum class Spread { kPerUnit = 0, kPerColumn = 1, kScalar = 2 } spread = Spread::kPerUnit;
  KN_HOST_DEVICE float at(const NormShape& shape, int64_t unit) const {
    if (spread == Spread::kScalar) return values[0];
    return spread == Spread::kPerColumn ? values[shape.column_of_unit(unit)] : values[unit];
  }
};

// A training call may be split where its per-unit sums are complete, so that the sums of several
// processes can be merged between the halves (KN-SPEC 3d; lib/ops/sync-kalman-norm.ts): kSums does
// the reduction and writes this process's sums; kFinish starts from the sums of every process, in
// rank order ([parts][units], rank-major), and does the rest. Each process's kFinish reads the same
// sums in the same order, so every process gets the same bits.
enum class CallPart { kWhole = 0, kSums = 1, kFinish = 2 };

// One process's part of a unit's backward sums (KN-SPEC 2): of g = gamma dy' and of g (x - mu), and
// its share of the gradients arriving at the unit's posterior (what the process's own backward
// of the next layer gave it; the shares add up to the whole). A split call's rows hold it as
// kGradientPartValues doubles per unit, in this order.
constexpr int kMomentValues = 3;  // count, mean, M2
constexpr int kGradientPartValues = 4;
struct UnitGradientPart {
  double sum_dy;
  double sum_dy_centered;
  double dmean_out;
  double dvar_out;
};

struct Epilogue {
  const float* gamma = nullptr;     // [C] or null (1)
  const float* beta = nullptr;      // [C] or null (0)
  ConstTensor residual;             // like x, or absent
  bool relu = false;
};

// What every forward call reads and writes: x in, y (like x) out, through the epilogue.
struct ForwardIO {
  NormShape shape;
  ConstTensor x;
  Epilogue epilogue;
  float eps = 1e-5f;
  MutableTensor y;
};

// What a forward call leaves for its backward call: the per-unit statistics and the guard's decision.
struct UnitState {
  float* observed_mean = nullptr;
  float* observed_var = nullptr;
  float* posterior_mean = nullptr;
  float* rstd = nullptr;      // 1 / sqrt(posterior var + eps)
  int* guard_fired = nullptr;  // one int: 1 when the guard fired and the prior was ignored, else 0
};

struct TrainingForward {
  ForwardIO io;
  UnitValues gain;
  UnitValues prior_mean;  // both absent (values == nullptr), or both present
  UnitValues prior_var;
  float guard = 100.f;    // tau; +inf disables
  GuardStatistic guard_statistic = GuardStatistic::kGeometric;
  UnitState state;        // written
  float* mean = nullptr;  // the posterior mean per unit, the caller's copy
  float* var = nullptr;   // the posterior variance per unit
  // KN running estimates, one per column, updated in place (null: none).
  float* running_mean = nullptr;
  float* running_var = nullptr;
  float momentum = 0.1f;
  // With running estimates: per column, 1 when its posterior was not finite and its running
  // estimates were left unchanged, else 0.
  float* running_skipped = nullptr;
  // A split call (CallPart): kSums writes this process's (count, mean, M2) per unit
  // ([units][kMomentValues]) and nothing else; kFinish merges `parts` processes' rows of them per
  // unit, writes the merge as the observation, and goes on from there.
  CallPart part = CallPart::kWhole;
  double* unit_moments = nullptr;
  int parts = 1;
};

struct FixedStatisticsForward {
  ForwardIO io;                            // units = the statistics' units (KN inference: one per channel)
  const float* statistics_mean = nullptr;  // per unit
  const float* statistics_var = nullptr;   // per unit
  UnitState state;                         // written: observed = posterior = the statistics; the guard did not fire
  float* mean = nullptr;                   // copies of the statistics, the caller's
  float* var = nullptr;
};

struct Backward {
  NormShape shape;
  ConstTensor x;
  ConstTensor dy;
  ConstTensor relu_output;             // the forward's y when it used relu, else absent
  const float* gamma = nullptr;        // [C] or null (1)
  UnitState state;                     // the forward's, read only
  UnitValues gain;
  UnitValues prior_mean;               // the prior was used (fused) when given and the guard did not fire
  UnitValues prior_var;
  bool constant_statistics = false;    // KN inference: statistics carry no gradient
  const float* dmean_out = nullptr;   // per unit, or null (0)
  const float* dvar_out = nullptr;    // per unit, or null (0)
  // Outputs; null = not wanted. Prior and gain gradients have their inputs' spread.
  MutableTensor dx;
  MutableTensor dresidual;
  float* dgamma = nullptr;
  float* dbeta = nullptr;
  float* dprior_mean = nullptr;
  float* dprior_var = nullptr;
  float* dgain = nullptr;
  // A split call (CallPart): kSums writes this process's UnitGradientPart per unit, and dgamma and
  // dbeta (sums over this process's elements); kFinish adds `parts` processes' rows per unit and
  // writes the rest: dx and dresidual over this process's elements, and this process's share
  // (1 / parts) of the prior and gain gradients, so that the processes' gradients add up to the
  // whole, like their dgamma and dbeta. `unit_size`: the elements of a unit over every process,
  // the M of KN-SPEC 2 (shape.unit_size() for a call that is not merged).
  CallPart part = CallPart::kWhole;
  double* unit_sums = nullptr;  // [units][kGradientPartValues] per process
  int parts = 1;
  int64_t unit_size = 0;
};

}  // namespace kn
