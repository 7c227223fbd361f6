// The addon's KN/GKN entry points: each reads one argument object (field names as in
// lib/binding.ts), checks every buffer's size, then runs the backend the call's device names.
#include "kalman_norm_binding.h"

#include "arguments.h"
#include "backend_dispatch.h"

namespace kn::addon {
namespace {

// shape, x, the epilogue, eps and y.
ForwardIO forward_io_fields(const Napi::Object& args, const Placement& where) {
  ForwardIO io;
  io.shape = shape_field(args, "shape");
  const int64_t elements = io.shape.elements();
  const MutableTensor x = tensor_field(args, "x", elements, true, where);
  io.x = ConstTensor{x.data, x.dtype};
  io.epilogue.gamma = float_field(args, "gamma", io.shape.channels, false, where);
  io.epilogue.beta = float_field(args, "beta", io.shape.channels, false, where);
  const MutableTensor residual = tensor_field(args, "residual", elements, false, where);
  io.epilogue.residual = ConstTensor{residual.data, residual.dtype};
  io.epilogue.relu = boolean_field(args, "relu");
  const double eps = number_field(args, "eps");
  if (!(eps > 0)) throw Napi::RangeError::New(args.Env(), "eps: expected a number > 0");
  io.eps = float(eps);
  io.y = tensor_field(args, "y", elements, true, where);
  return io;
}

ConstTensor const_tensor_field(const Napi::Object& args, const char* name, int64_t elements, bool required,
                               const Placement& where) {
  const MutableTensor tensor = tensor_field(args, name, elements, required, where);
  return ConstTensor{tensor.data, tensor.dtype};
}

// forwardTraining(args) -> guardFired (CPU) / false (CUDA: see guardFlag)
Napi::Value forward_training(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  const CallContext context = call_context(args);
  const Placement& where = context.where;
  TrainingForward call;
  call.io = forward_io_fields(args, where);
  const NormShape& shape = call.io.shape;
  call.gain = unit_values_field(args, "gain", shape, true, where);
  call.prior_mean = unit_values_field(args, "priorMean", shape, false, where);
  call.prior_var = unit_values_field(args, "priorVar", shape, false, where);
  if ((call.prior_mean.values == nullptr) != (call.prior_var.values == nullptr))
    throw Napi::TypeError::New(info.Env(), "priorVar: priorMean and priorVar go together");
  call.guard = float(number_field(args, "guard"));
  const double statistic = number_field(args, "guardStatistic");
  if (statistic != double(int(GuardStatistic::kGeometric)) && statistic != double(int(GuardStatistic::kMean)))
    throw Napi::RangeError::New(info.Env(), "guardStatistic: expected 0 (geometric) or 1 (mean)");
  call.guard_statistic = GuardStatistic(int(statistic));
  call.posterior_mean = float_field(args, "posteriorMean", shape.units(), true, where);
  call.posterior_var = float_field(args, "posteriorVar", shape.units(), true, where);
  call.observed_mean = float_field(args, "observedMean", shape.units(), true, where);
  call.observed_var = float_field(args, "observedVar", shape.units(), true, where);
  call.rstd = float_field(args, "rstd", shape.units(), true, where);
  call.running_mean = float_field(args, "runningMean", shape.unit_cols(), false, where);
  call.running_var = float_field(args, "runningVar", shape.unit_cols(), false, where);
  if ((call.running_mean == nullptr) != (call.running_var == nullptr))
    throw Napi::TypeError::New(info.Env(), "runningVar: runningMean and runningVar go together");
  call.momentum = float(number_field(args, "momentum"));
  call.running_skipped = float_field(args, "runningSkipped", shape.unit_cols(), call.running_mean != nullptr, where);
  return Napi::Boolean::New(info.Env(), run_forward_training(call, context));
}

// forwardFixed(args): normalize with given per-unit statistics (KN inference).
Napi::Value forward_fixed(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  const CallContext context = call_context(args);
  FixedStatisticsForward call;
  call.io = forward_io_fields(args, context.where);
  const NormShape& shape = call.io.shape;
  call.mean = float_field(args, "mean", shape.units(), true, context.where);
  call.var = float_field(args, "var", shape.units(), true, context.where);
  call.rstd = float_field(args, "rstd", shape.units(), true, context.where);
  run_forward_fixed(call, context);
  return info.Env().Undefined();
}

// An optional gradient output shaped like the input `values` (null when that input is absent).
float* gradient_field(const Napi::Object& args, const char* name, const UnitValues& values,
                      const NormShape& shape, const Placement& where) {
  if (!values.values) return nullptr;
  return float_field(args, name, spread_length(values, shape), false, where);
}

// backward(args): fills dx and whichever other gradients are given.
Napi::Value backward(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  const CallContext context = call_context(args);
  const Placement& where = context.where;
  Backward call;
  call.shape = shape_field(args, "shape");
  const NormShape& shape = call.shape;
  const int64_t elements = shape.elements();
  call.x = const_tensor_field(args, "x", elements, true, where);
  call.dy = const_tensor_field(args, "dy", elements, true, where);
  call.relu_output = const_tensor_field(args, "reluOutput", elements, false, where);
  call.gamma = float_field(args, "gamma", shape.channels, false, where);
  call.observed_mean = float_field(args, "observedMean", shape.units(), true, where);
  call.observed_var = float_field(args, "observedVar", shape.units(), true, where);
  call.posterior_mean = float_field(args, "posteriorMean", shape.units(), true, where);
  call.rstd = float_field(args, "rstd", shape.units(), true, where);
  call.gain = unit_values_field(args, "gain", shape, true, where);
  call.prior_mean = unit_values_field(args, "priorMean", shape, false, where);
  call.prior_var = unit_values_field(args, "priorVar", shape, false, where);
  call.fused = boolean_field(args, "fused");
  if (call.fused && (!call.prior_mean.values || !call.prior_var.values))
    throw Napi::TypeError::New(info.Env(), "fused: needs priorMean and priorVar");
  call.guard_fired = context.guard_flag;
  call.constant_statistics = boolean_field(args, "constantStatistics");
  call.dmean_out = float_field(args, "dMean", shape.units(), false, where);
  call.dvar_out = float_field(args, "dVar", shape.units(), false, where);
  call.dx = tensor_field(args, "dx", elements, true, where);
  call.dresidual = tensor_field(args, "dResidual", elements, false, where);
  call.dgamma = float_field(args, "dGamma", shape.channels, false, where);
  call.dbeta = float_field(args, "dBeta", shape.channels, false, where);
  call.dprior_mean = gradient_field(args, "dPriorMean", call.prior_mean, shape, where);
  call.dprior_var = gradient_field(args, "dPriorVar", call.prior_var, shape, where);
  call.dgain = float_field(args, "dGain", spread_length(call.gain, shape), false, where);
  run_backward(call, context);
  return info.Env().Undefined();
}

}  // namespace

void register_kalman_norm(Napi::Env env, Napi::Object exports) {
  exports.Set("forwardTraining", Napi::Function::New(env, forward_training, "forwardTraining"));
  exports.Set("forwardFixed", Napi::Function::New(env, forward_fixed, "forwardFixed"));
  exports.Set("backward", Napi::Function::New(env, backward, "backward"));
}

}  // namespace kn::addon
