// The addon's KN/GKN entry points: each parses its argument object into the call struct of
// csrc/common/kalman_norm_call.h (one field for one field, camelCase for snake_case; lib/binding.ts
// types the objects), checking every buffer's size and that no output shares memory with another
// buffer of the call, then runs the backend the call's device names: at once, or (the ...Async
// entries) on a worker thread.
#include "kalman_norm_binding.h"

#include <string>

#include "arguments.h"
#include "backend_dispatch.h"
#include "promise_worker.h"

namespace kn::addon {
namespace {

Epilogue parse_epilogue(const Napi::Object& fields, const NormShape& shape, const Placement& where) {
  Epilogue epilogue;
  epilogue.gamma = float_field(fields, "gamma", shape.channels, false, where);
  epilogue.beta = float_field(fields, "beta", shape.channels, false, where);
  epilogue.residual = const_tensor_field(fields, "residual", shape.elements(), false, where);
  epilogue.relu = boolean_field(fields, "relu");
  return epilogue;
}

ForwardIO parse_forward_io(const Napi::Object& fields, const Placement& where) {
  ForwardIO io;
  io.shape = shape_field(fields, "shape");
  io.x = const_tensor_field(fields, "x", io.shape.elements(), true, where);
  io.epilogue = parse_epilogue(object_field(fields, "epilogue"), io.shape, where);
  const double eps = number_field(fields, "eps");
  if (!(eps > 0)) throw Napi::RangeError::New(fields.Env(), "eps: expected a number > 0");
  io.eps = float(eps);
  io.y = tensor_field(fields, "y", io.shape.elements(), true, where);
  return io;
}

UnitState parse_state(const Napi::Object& fields, const NormShape& shape, const Placement& where) {
  UnitState state;
  state.observed_mean = float_field(fields, "observedMean", shape.units(), true, where);
  state.observed_var = float_field(fields, "observedVar", shape.units(), true, where);
  state.posterior_mean = float_field(fields, "posteriorMean", shape.units(), true, where);
  state.rstd = float_field(fields, "rstd", shape.units(), true, where);
  state.guard_fired = int_field(fields, "guardFired", 1, where);
  return state;
}

// The prior's mean and variance: both given, or both null.
void parse_prior(const Napi::Object& args, const NormShape& shape, const Placement& where, UnitValues& mean,
                 UnitValues& variance) {
  mean = unit_values_field(args, "priorMean", shape, false, where);
  variance = unit_values_field(args, "priorVar", shape, false, where);
  if ((mean.values == nullptr) != (variance.values == nullptr))
    throw Napi::TypeError::New(args.Env(), "priorVar: priorMean and priorVar go together");
}

// A split call's part (CallPart) and, when split, how many processes' sums kFinish reads.
CallPart parse_part(const Napi::Object& args, int& parts) {
  const double part = number_field(args, "part");
  if (part != 0 && part != 1 && part != 2) throw Napi::RangeError::New(args.Env(), "part: expected 0 (whole), 1 (sums) or 2 (finish)");
  const double count = number_field(args, "parts");
  if (!(count >= 1 && count <= 1 << 20 && count == double(int(count))))
    throw Napi::RangeError::New(args.Env(), "parts: expected an integer from 1");
  parts = int(count);
  if (part != double(int(CallPart::kFinish)) && parts != 1)
    throw Napi::RangeError::New(args.Env(), "parts: expected 1 for a call that does not finish a split one");
  return CallPart(int(part));
}

// The rows of per-unit sums a split call writes (kSums: one) or reads (kFinish: one per process).
int64_t sum_rows(CallPart part, int parts) { return part == CallPart::kFinish ? parts : 1; }

TrainingForward parse_training_forward(const Napi::Object& args, const Placement& where) {
  TrainingForward call;
  call.io = parse_forward_io(object_field(args, "io"), where);
  const NormShape& shape = call.io.shape;
  call.gain = unit_values_field(args, "gain", shape, true, where);
  parse_prior(args, shape, where, call.prior_mean, call.prior_var);
  call.guard = float(number_field(args, "guard"));
  const double statistic = number_field(args, "guardStatistic");
  if (statistic != double(int(GuardStatistic::kGeometric)) && statistic != double(int(GuardStatistic::kMean)))
    throw Napi::RangeError::New(args.Env(), "guardStatistic: expected 0 (geometric) or 1 (mean)");
  call.guard_statistic = GuardStatistic(int(statistic));
  call.state = parse_state(object_field(args, "state"), shape, where);
  call.mean = float_field(args, "mean", shape.units(), true, where);
  call.var = float_field(args, "var", shape.units(), true, where);
  call.running_mean = float_field(args, "runningMean", shape.unit_cols(), false, where);
  call.running_var = float_field(args, "runningVar", shape.unit_cols(), false, where);
  if ((call.running_mean == nullptr) != (call.running_var == nullptr))
    throw Napi::TypeError::New(args.Env(), "runningVar: runningMean and runningVar go together");
  call.momentum = float(number_field(args, "momentum"));
  call.running_skipped = float_field(args, "runningSkipped", shape.unit_cols(), call.running_mean != nullptr, where);
  call.part = parse_part(args, call.parts);
  if (call.part != CallPart::kWhole)
    call.unit_moments = double_field(args, "unitMoments", kMomentValues * shape.units() * sum_rows(call.part, call.parts), where);
  return call;
}

FixedStatisticsForward parse_fixed_forward(const Napi::Object& args, const Placement& where) {
  FixedStatisticsForward call;
  call.io = parse_forward_io(object_field(args, "io"), where);
  const NormShape& shape = call.io.shape;
  call.statistics_mean = float_field(args, "statisticsMean", shape.units(), true, where);
  call.statistics_var = float_field(args, "statisticsVar", shape.units(), true, where);
  call.state = parse_state(object_field(args, "state"), shape, where);
  call.mean = float_field(args, "mean", shape.units(), true, where);
  call.var = float_field(args, "var", shape.units(), true, where);
  return call;
}

// An optional gradient output shaped like the input `values` (null when that input is absent).
float* gradient_field(const Napi::Object& args, const char* name, const UnitValues& values,
                      const NormShape& shape, const Placement& where) {
  if (!values.values) return nullptr;
  return float_field(args, name, spread_length(values, shape), false, where);
}

Backward parse_backward(const Napi::Object& args, const Placement& where) {
  Backward call;
  call.shape = shape_field(args, "shape");
  const NormShape& shape = call.shape;
  const int64_t elements = shape.elements();
  call.x = const_tensor_field(args, "x", elements, true, where);
  call.dy = const_tensor_field(args, "dy", elements, true, where);
  call.relu_output = const_tensor_field(args, "reluOutput", elements, false, where);
  call.gamma = float_field(args, "gamma", shape.channels, false, where);
  call.state = parse_state(object_field(args, "state"), shape, where);
  call.gain = unit_values_field(args, "gain", shape, true, where);
  parse_prior(args, shape, where, call.prior_mean, call.prior_var);
  call.constant_statistics = boolean_field(args, "constantStatistics");
  call.dmean_out = float_field(args, "dMeanOut", shape.units(), false, where);
  call.dvar_out = float_field(args, "dVarOut", shape.units(), false, where);
  call.dx = tensor_field(args, "dx", elements, true, where);
  call.dresidual = tensor_field(args, "dResidual", elements, false, where);
  call.dgamma = float_field(args, "dGamma", shape.channels, false, where);
  call.dbeta = float_field(args, "dBeta", shape.channels, false, where);
  call.dprior_mean = gradient_field(args, "dPriorMean", call.prior_mean, shape, where);
  call.dprior_var = gradient_field(args, "dPriorVar", call.prior_var, shape, where);
  call.dgain = float_field(args, "dGain", spread_length(call.gain, shape), false, where);
  call.part = parse_part(args, call.parts);
  call.unit_size = shape.unit_size();
  if (call.part == CallPart::kWhole) return call;
  call.unit_sums = double_field(args, "unitSums", kGradientPartValues * shape.units() * sum_rows(call.part, call.parts), where);
  if (call.part == CallPart::kSums) return call;
  const double unit_size = number_field(args, "unitSize");
  if (!(unit_size >= double(shape.unit_size()) && unit_size <= 9007199254740992.0 && unit_size == double(int64_t(unit_size))))
    throw Napi::RangeError::New(args.Env(), "unitSize: expected an integer at least this call's elements per unit");
  call.unit_size = int64_t(unit_size);
  return call;
}

// The ranges below name the user's arguments (lib/ops), not the fields of the native objects.
int64_t tensor_bytes(const void* data, DType dtype, const NormShape& shape) {
  return data ? shape.elements() * dtype_bytes(dtype) : 0;
}

int64_t unit_values_bytes(const UnitValues& values, const NormShape& shape) {
  return spread_length(values, shape) * 4;
}

// x, y and the epilogue of a forward call.
void add_forward_io(MemoryRanges& ranges, const ForwardIO& io) {
  const NormShape& shape = io.shape;
  ranges.input("x", io.x.data, tensor_bytes(io.x.data, io.x.dtype, shape));
  ranges.input("gamma", io.epilogue.gamma, shape.channels * 4);
  ranges.input("beta", io.epilogue.beta, shape.channels * 4);
  ranges.input("residual", io.epilogue.residual.data, tensor_bytes(io.epilogue.residual.data, io.epilogue.residual.dtype, shape));
  ranges.output("out.y", io.y.data, tensor_bytes(io.y.data, io.y.dtype, shape));
}

// The per-unit state: written by a forward call (fresh, or an earlier call's out.saved), read by the backward.
void add_state(MemoryRanges& ranges, const UnitState& state, const NormShape& shape, bool output, const char* name) {
  for (const float* values : {state.observed_mean, state.observed_var, state.posterior_mean, state.rstd}) {
    if (output) ranges.output(name, values, shape.units() * 4);
    else ranges.input(name, values, shape.units() * 4);
  }
  if (output) ranges.output(name, state.guard_fired, sizeof(int));
  else ranges.input(name, state.guard_fired, sizeof(int));
}

// What both forwards read and write: x, y and the epilogue, the caller's posterior and the state.
template <typename Forward>
void add_forward(MemoryRanges& ranges, const Forward& call) {
  const NormShape& shape = call.io.shape;
  add_forward_io(ranges, call.io);
  ranges.output("out.mean", call.mean, shape.units() * 4);
  ranges.output("out.var", call.var, shape.units() * 4);
  add_state(ranges, call.state, shape, true, "out.saved");
}

void check_overlaps(const TrainingForward& call, const Napi::Env& env) {
  const NormShape& shape = call.io.shape;
  MemoryRanges ranges;
  add_forward(ranges, call);
  ranges.input("gain", call.gain.values, unit_values_bytes(call.gain, shape));
  ranges.input("prior.mean", call.prior_mean.values, unit_values_bytes(call.prior_mean, shape));
  ranges.input("prior.var", call.prior_var.values, unit_values_bytes(call.prior_var, shape));
  ranges.output("runningMean", call.running_mean, shape.unit_cols() * 4);
  ranges.output("runningVar", call.running_var, shape.unit_cols() * 4);
  ranges.output("runningSkipped", call.running_skipped, shape.unit_cols() * 4);
  const int64_t moments_bytes = call.unit_moments ? 8 * kMomentValues * shape.units() * sum_rows(call.part, call.parts) : 0;
  if (call.part == CallPart::kSums) ranges.output("unitMoments", call.unit_moments, moments_bytes);
  else ranges.input("unitMoments", call.unit_moments, moments_bytes);
  ranges.check(env);
}

void check_overlaps(const FixedStatisticsForward& call, const Napi::Env& env) {
  const NormShape& shape = call.io.shape;
  MemoryRanges ranges;
  add_forward(ranges, call);
  ranges.input("runningMean", call.statistics_mean, shape.units() * 4);
  ranges.input("runningVar", call.statistics_var, shape.units() * 4);
  ranges.check(env);
}

void check_overlaps(const Backward& call, const Napi::Env& env) {
  const NormShape& shape = call.shape;
  MemoryRanges ranges;
  ranges.input("x", call.x.data, tensor_bytes(call.x.data, call.x.dtype, shape));
  ranges.input("dy", call.dy.data, tensor_bytes(call.dy.data, call.dy.dtype, shape));
  ranges.input("y", call.relu_output.data, tensor_bytes(call.relu_output.data, call.relu_output.dtype, shape));
  ranges.input("gamma", call.gamma, shape.channels * 4);
  add_state(ranges, call.state, shape, false, "saved");
  ranges.input("gain", call.gain.values, unit_values_bytes(call.gain, shape));
  ranges.input("prior.mean", call.prior_mean.values, unit_values_bytes(call.prior_mean, shape));
  ranges.input("prior.var", call.prior_var.values, unit_values_bytes(call.prior_var, shape));
  ranges.input("dMean", call.dmean_out, shape.units() * 4);
  ranges.input("dVar", call.dvar_out, shape.units() * 4);
  ranges.output("out.dx", call.dx.data, tensor_bytes(call.dx.data, call.dx.dtype, shape));
  ranges.output("out.dResidual", call.dresidual.data, tensor_bytes(call.dresidual.data, call.dresidual.dtype, shape));
  ranges.output("out.dGamma", call.dgamma, shape.channels * 4);
  ranges.output("out.dBeta", call.dbeta, shape.channels * 4);
  ranges.output("out.dPriorMean", call.dprior_mean, call.dprior_mean ? unit_values_bytes(call.prior_mean, shape) : 0);
  ranges.output("out.dPriorVar", call.dprior_var, call.dprior_var ? unit_values_bytes(call.prior_var, shape) : 0);
  ranges.output("out.dGain", call.dgain, unit_values_bytes(call.gain, shape));
  const int64_t sums_bytes = call.unit_sums ? 8 * kGradientPartValues * shape.units() * sum_rows(call.part, call.parts) : 0;
  if (call.part == CallPart::kSums) ranges.output("unitSums", call.unit_sums, sums_bytes);
  else ranges.input("unitSums", call.unit_sums, sums_bytes);
  ranges.check(env);
}

template <typename Call>
using Parse = Call (*)(const Napi::Object& args, const Placement& where);
template <typename Call>
using Run = void (*)(const Call& call, const CallContext& context);

// One entry's call: parsed, with every size and overlap checked, before anything runs.
template <typename Call>
struct Checked {
  Napi::Object args;
  CallContext context;
  Call call;
};

template <typename Call, Parse<Call> parse>
Checked<Call> checked_call(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  const CallContext context = call_context(args);
  const Call call = parse(args, context.where);
  check_overlaps(call, info.Env());
  return Checked<Call>{args, context, call};
}

// The synchronous entry: on CUDA the run only queues the work on the stream.
template <typename Call, Parse<Call> parse, Run<Call> run>
Napi::Value now(const Napi::CallbackInfo& info) {
  const Checked<Call> checked = checked_call<Call, parse>(info);
  run(checked.call, checked.context);
  return info.Env().Undefined();
}

// The promise entry: checked here (a bad argument throws at the call), run on a libuv worker
// thread on the CPU. A CUDA call only queues work, so it runs here and the promise is already
// resolved.
template <typename Call, Parse<Call> parse, Run<Call> run>
Napi::Value later(const Napi::CallbackInfo& info) {
  const Checked<Call> checked = checked_call<Call, parse>(info);
  if (checked.context.where.on_device) {
    run(checked.call, checked.context);
    return PromiseWorker::resolved(info.Env());
  }
  const Call call = checked.call;
  const CallContext context = checked.context;
  return PromiseWorker::queue(checked.args, [call, context] { run(call, context); }, "kalmanNorm");
}

template <typename Call, Parse<Call> parse, Run<Call> run>
void register_entries(Napi::Env env, Napi::Object exports, const std::string& name) {
  exports.Set(name, Napi::Function::New(env, now<Call, parse, run>, name));
  exports.Set(name + "Async", Napi::Function::New(env, later<Call, parse, run>, name + "Async"));
}

}  // namespace

void register_kalman_norm(Napi::Env env, Napi::Object exports) {
  register_entries<TrainingForward, parse_training_forward, run_forward_training>(env, exports, "kalmanNormForwardTraining");
  register_entries<FixedStatisticsForward, parse_fixed_forward, run_forward_fixed>(env, exports, "kalmanNormForwardFixed");
  register_entries<Backward, parse_backward, run_backward>(env, exports, "kalmanNormBackward");
}

}  // namespace kn::addon
