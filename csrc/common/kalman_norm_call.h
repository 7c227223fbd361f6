// The arguments of KN and GKN (KN-SPEC sections 1 and 2), shared by the CPU backend
// (csrc/cpu/kalman_norm.h) and the CUDA backend (cuda/kalman_norm_cuda.h): forward in training
// mode, forward with fixed statistics (KN inference), and backward. Pointers are host pointers for
// the CPU and device pointers for CUDA. Pointers that may be null say so; every per-unit array has
// shape.units() entries, row-major [unit_rows][unit_cols]; per-column arrays (gain, prior, when
// broadcast) have unit_cols() entries. The caller has validated every size.
#pragma once

#include "kalman_norm_math.h"
#include "norm_shape.h"
#include "tensor_ref.h"

namespace kn {

// Either one value per unit, or one per column broadcast over the unit rows, or (gain only) one
// scalar for every unit. `values == nullptr` means absent.
struct UnitValues {
  const float* values = nullptr;
  enum class Spread { kPerUnit, kPerColumn, kScalar } spread = Spread::kPerUnit;
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

struct TrainingForward {
  ForwardIO io;
  UnitValues gain;
  UnitValues prior_mean;  // both absent (values == nullptr), or both present
  UnitValues prior_var;
  float guard = 100.f;    // tau; +inf disables
  GuardStatistic guard_statistic = GuardStatistic::kGeometric;
  // Outputs per unit: posterior, observation and 1/sqrt(var + eps).
  float* posterior_mean = nullptr;
  float* posterior_var = nullptr;
  float* observed_mean = nullptr;
  float* observed_var = nullptr;
  float* rstd = nullptr;
  // KN running estimates, one per column, updated in place (null: none).
  float* running_mean = nullptr;
  float* running_var = nullptr;
  float momentum = 0.1f;
  // With running estimates: per column, 1 when its posterior was not finite and its running
  // estimates were left unchanged, else 0.
  float* running_skipped = nullptr;
};

struct FixedStatisticsForward {
  ForwardIO io;                 // units = the statistics' units (KN inference: one per channel)
  const float* mean = nullptr;  // per unit
  const float* var = nullptr;   // per unit
  float* rstd = nullptr;        // per unit, written for the backward pass
};

struct Backward {
  NormShape shape;
  ConstTensor x;
  ConstTensor dy;
  ConstTensor relu_output;             // the forward's y when it used relu, else absent
  const float* gamma = nullptr;        // [C] or null (1)
  // The forward's per-unit state.
  const float* observed_mean = nullptr;
  const float* observed_var = nullptr;
  const float* posterior_mean = nullptr;
  const float* rstd = nullptr;
  UnitValues gain;
  UnitValues prior_mean;
  UnitValues prior_var;
  bool fused = false;                 // CPU: a prior was given and the guard did not fire
  const int* guard_fired = nullptr;   // CUDA: the forward's device flag; fused = prior && !flag
  bool constant_statistics = false;   // KN inference: statistics carry no gradient
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
