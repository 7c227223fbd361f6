// The addon's KN/GKN entry points: each reads one argument object (field names as in
// lib/binding.ts), checks every buffer's length, then runs the CPU backend.
#include "kalman_norm_binding.h"

#include "../cpu/kalman_norm.h"
#include "arguments.h"

namespace kn::addon {
namespace {

Epilogue epilogue_fields(const Napi::Object& args, const NormShape& shape) {
  Epilogue epilogue;
  epilogue.gamma = float_array_field(args, "gamma", shape.channels, false);
  epilogue.beta = float_array_field(args, "beta", shape.channels, false);
  epilogue.residual = float_array_field(args, "residual", shape.elements(), false);
  epilogue.relu = boolean_field(args, "relu");
  return epilogue;
}

// shape, x, the epilogue, eps and y.
ForwardIO forward_io_fields(const Napi::Object& args) {
  ForwardIO io;
  io.shape = shape_field(args, "shape");
  io.x = float_array_field(args, "x", io.shape.elements(), true);
  io.epilogue = epilogue_fields(args, io.shape);
  const double eps = number_field(args, "eps");
  if (!(eps > 0)) throw Napi::RangeError::New(args.Env(), "eps: expected a number > 0");
  io.eps = float(eps);
  io.y = float_array_field(args, "y", io.shape.elements(), true);
  return io;
}

// forwardTraining(args) -> guardFired: boolean
Napi::Value forward_training(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  TrainingForward call;
  call.io = forward_io_fields(args);
  const NormShape& shape = call.io.shape;
  call.gain = unit_values_field(args, "gain", shape, true);
  call.prior_mean = unit_values_field(args, "priorMean", shape, false);
  call.prior_var = unit_values_field(args, "priorVar", shape, false);
  if ((call.prior_mean.values == nullptr) != (call.prior_var.values == nullptr))
    throw Napi::TypeError::New(info.Env(), "priorVar: priorMean and priorVar go together");
  call.guard = float(number_field(args, "guard"));
  call.posterior_mean = float_array_field(args, "posteriorMean", shape.units(), true);
  call.posterior_var = float_array_field(args, "posteriorVar", shape.units(), true);
  call.observed_mean = float_array_field(args, "observedMean", shape.units(), true);
  call.observed_var = float_array_field(args, "observedVar", shape.units(), true);
  call.rstd = float_array_field(args, "rstd", shape.units(), true);
  call.running_mean = float_array_field(args, "runningMean", shape.unit_cols(), false);
  call.running_var = float_array_field(args, "runningVar", shape.unit_cols(), false);
  if ((call.running_mean == nullptr) != (call.running_var == nullptr))
    throw Napi::TypeError::New(info.Env(), "runningVar: runningMean and runningVar go together");
  call.momentum = float(number_field(args, "momentum"));
  return Napi::Boolean::New(info.Env(), kalman_norm_forward_training(call));
}

// forwardFixed(args): normalize with given per-unit statistics (KN inference).
Napi::Value forward_fixed(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  FixedStatisticsForward call;
  call.io = forward_io_fields(args);
  const NormShape& shape = call.io.shape;
  call.mean = float_array_field(args, "mean", shape.units(), true);
  call.var = float_array_field(args, "var", shape.units(), true);
  call.rstd = float_array_field(args, "rstd", shape.units(), true);
  kalman_norm_forward_fixed(call);
  return info.Env().Undefined();
}

// An optional gradient output shaped like the input `values` (null when that input is absent).
float* gradient_field(const Napi::Object& args, const char* name, const UnitValues& values,
                      const NormShape& shape) {
  if (!values.values) return nullptr;
  return float_array_field(args, name, spread_length(values, shape), false);
}

// backward(args): fills dx and whichever other gradients are given.
Napi::Value backward(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  Backward call;
  call.shape = shape_field(args, "shape");
  const NormShape& shape = call.shape;
  call.x = float_array_field(args, "x", shape.elements(), true);
  call.dy = float_array_field(args, "dy", shape.elements(), true);
  call.relu_output = float_array_field(args, "reluOutput", shape.elements(), false);
  call.gamma = float_array_field(args, "gamma", shape.channels, false);
  call.observed_mean = float_array_field(args, "observedMean", shape.units(), true);
  call.observed_var = float_array_field(args, "observedVar", shape.units(), true);
  call.posterior_mean = float_array_field(args, "posteriorMean", shape.units(), true);
  call.rstd = float_array_field(args, "rstd", shape.units(), true);
  call.gain = unit_values_field(args, "gain", shape, true);
  call.prior_mean = unit_values_field(args, "priorMean", shape, false);
  call.prior_var = unit_values_field(args, "priorVar", shape, false);
  call.fused = boolean_field(args, "fused");
  if (call.fused && (!call.prior_mean.values || !call.prior_var.values))
    throw Napi::TypeError::New(info.Env(), "fused: needs priorMean and priorVar");
  call.constant_statistics = boolean_field(args, "constantStatistics");
  call.dmean_out = float_array_field(args, "dMean", shape.units(), false);
  call.dvar_out = float_array_field(args, "dVar", shape.units(), false);
  call.dx = float_array_field(args, "dx", shape.elements(), true);
  call.dresidual = float_array_field(args, "dResidual", shape.elements(), false);
  call.dgamma = float_array_field(args, "dGamma", shape.channels, false);
  call.dbeta = float_array_field(args, "dBeta", shape.channels, false);
  call.dprior_mean = gradient_field(args, "dPriorMean", call.prior_mean, shape);
  call.dprior_var = gradient_field(args, "dPriorVar", call.prior_var, shape);
  call.dgain = float_array_field(args, "dGain", spread_length(call.gain, shape), false);
  kalman_norm_backward(call);
  return info.Env().Undefined();
}

}  // namespace

void register_kalman_norm(Napi::Env env, Napi::Object exports) {
  exports.Set("forwardTraining", Napi::Function::New(env, forward_training, "forwardTraining"));
  exports.Set("forwardFixed", Napi::Function::New(env, forward_fixed, "forwardFixed"));
  exports.Set("backward", Napi::Function::New(env, backward, "backward"));
}

}  // namespace kn::addon
