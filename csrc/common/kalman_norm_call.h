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
};

}  // namespace kn
