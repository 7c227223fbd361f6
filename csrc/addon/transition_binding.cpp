// The addon's transition ops (KN-SPEC section 3): each reads sizes and float32 buffers (field
// names as in lib/ops/transitions.ts), checks every length, fills a functor of
// csrc/common/transition_math.h, csrc/common/pool_math.h or csrc/common/group_math.h and runs it on the call's device.
#include "transition_binding.h"

#include "op_call.h"

namespace kn::addon {
namespace {

Napi::Value affine_moments(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t rows = size_field(call.args, "rows"), inputs = size_field(call.args, "inputs"),
                outputs = size_field(call.args, "outputs");
  AffineForward f{outputs, inputs, call.in("mean", rows * inputs), call.in("var", rows * inputs),
                  call.in("weight", outputs * inputs), call.optional("weightSq", outputs * inputs),
                  call.optional("bias", outputs), call.spread("noise", outputs), call.per_column("noise"),
                  call.in("outMean", rows * outputs), call.in("outVar", rows * outputs)};
  run_elementwise(f, rows * outputs, call.context);
  return call.done();
}

Napi::Value affine_moments_backward(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t rows = size_field(call.args, "rows"), inputs = size_field(call.args, "inputs"),
                outputs = size_field(call.args, "outputs");
  const float* weight = call.in("weight", outputs * inputs);
  const float* weight_sq = call.optional("weightSq", outputs * inputs);
  const float* dmean_out = call.optional("dMeanOut", rows * outputs);
  const float* dvar_out = call.optional("dVarOut", rows * outputs);
  AffineInputGradient to_inputs{outputs, inputs, weight, weight_sq, dmean_out, dvar_out,
                                call.in("dMean", rows * inputs), call.in("dVar", rows * inputs)};
  AffineWeightGradient to_weight{rows, outputs, inputs, call.in("mean", rows * inputs), call.in("var", rows * inputs),
                                 weight, dmean_out, dvar_out, weight_sq == nullptr, call.in("dWeight", outputs * inputs),
                                 call.optional("dWeightSq", outputs * inputs)};
  float* dbias = call.optional("dBias", outputs);
  float* dnoise = call.spread("dNoise", outputs);
  const bool total = dnoise && !call.per_column("dNoise");
  const int64_t to_inputs_end = rows * inputs, to_weight_end = to_inputs_end + outputs * inputs;
  const int64_t bias_end = to_weight_end + (dbias ? outputs : 0), noise_end = bias_end + (dnoise ? (total ? 1 : outputs) : 0);
  const AffineBackward f = then(then(then(to_inputs, to_inputs_end, to_weight), to_weight_end,
                                     ColumnSums{rows, outputs, dmean_out, false, dbias}),
                                bias_end, ColumnSums{rows, outputs, dvar_out, total, dnoise});
  run_elementwise(f, noise_end, call.context);
  return call.done();
}

Napi::Value relu_moments(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t count = size_field(call.args, "count");
  ReluForward f{call.in("mean", count), call.in("var", count), call.in("outMean", count), call.in("outVar", count),
                call.in("dmeanDm", count), call.in("dmeanDu", count), call.in("dvarDm", count), call.in("dvarDu", count)};
  run_elementwise(f, count, call.context);
  return call.done();
}

Napi::Value local_chain(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t count = size_field(call.args, "count");
  LocalChain f{call.optional("dMeanOut", count), call.optional("dVarOut", count), call.in("dmeanDm", count),
               call.in("dmeanDu", count), call.in("dvarDm", count), call.in("dvarDu", count),
               call.in("dMean", count), call.in("dVar", count)};
  run_elementwise(f, count, call.context);
  return call.done();
}

// A pool's taps (a positive integer) and tap correlation (in [0, 1]).
struct PoolWindow {
  int64_t taps;
  float correlation;
};

PoolWindow pool_window(const Napi::Object& args) {
  const double correlation = number_field(args, "correlation");
  if (!(correlation >= 0 && correlation <= 1))
    throw Napi::RangeError::New(args.Env(), "correlation: expected a number in [0, 1]");
  return {size_field(args, "taps"), float(correlation)};
}

// avgPoolMoments({count, taps, correlation, mean?, var?, outMean, outVar}): the forward, and on
// incoming gradients (null: zero) the backward.
Napi::Value avg_pool_moments(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t count = size_field(call.args, "count");
  const PoolWindow window = pool_window(call.args);
  AvgPoolMoments f{window.taps, window.correlation, call.optional("mean", count), call.optional("var", count),
                   call.in("outMean", count), call.in("outVar", count)};
  run_elementwise(f, count, call.context);
  return call.done();
}

Napi::Value max_pool_moments(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t count = size_field(call.args, "count");
  const PoolWindow window = pool_window(call.args);
  MaxPoolForward f{clark_max_of_standard_normals(window.taps, window.correlation), call.in("mean", count), call.in("var", count),
                   call.in("outMean", count), call.in("outVar", count), call.in("dmeanDm", count),
                   call.in("dmeanDu", count), call.in("dvarDm", count), call.in("dvarDu", count)};
  run_elementwise(f, count, call.context);
  return call.done();
}

// The channels per group of a [rows, channels] -> [rows, groups] group transition.
int64_t channels_per_group(const Napi::Object& args, int64_t channels, int64_t groups) {
  if (channels % groups != 0)
    throw Napi::RangeError::New(args.Env(), "groups: must divide channels (" + std::to_string(channels) + ")");
  return channels / groups;
}

// groupMoments({rows, channels, groups, mean, var, outMean, outVar}): per-channel rows to per-group rows.
Napi::Value group_moments(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t rows = size_field(call.args, "rows"), channels = size_field(call.args, "channels"),
                groups = size_field(call.args, "groups");
  GroupMomentsForward f{groups, channels_per_group(call.args, channels, groups), call.in("mean", rows * channels),
                        call.in("var", rows * channels), call.in("outMean", rows * groups), call.in("outVar", rows * groups)};
  run_elementwise(f, rows * groups, call.context);
  return call.done();
}

// groupMomentsBackward({rows, channels, groups, mean, dMeanOut?, dVarOut?, dMean, dVar}).
Napi::Value group_moments_backward(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t rows = size_field(call.args, "rows"), channels = size_field(call.args, "channels"),
                groups = size_field(call.args, "groups");
  GroupMomentsBackward f{groups, channels_per_group(call.args, channels, groups), call.in("mean", rows * channels),
                         call.optional("dMeanOut", rows * groups), call.optional("dVarOut", rows * groups),
                         call.in("dMean", rows * channels), call.in("dVar", rows * channels)};
  run_elementwise(f, rows * channels, call.context);
  return call.done();
}

float eps_field(const Napi::Object& args) {
  const double eps = number_field(args, "eps");
  if (!(eps > 0)) throw Napi::RangeError::New(args.Env(), "eps: expected a number > 0");
  return float(eps);
}

Napi::Value normalize_moments(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t rows = size_field(call.args, "rows"), columns = size_field(call.args, "columns"), count = rows * columns;
  NormalizeForward f{columns, call.in("mean", count), call.in("var", count), call.in("statMean", count),
                     call.in("statVar", count), call.optional("gamma", columns), call.optional("beta", columns),
                     eps_field(call.args), call.in("outMean", count), call.in("outVar", count)};
  run_elementwise(f, count, call.context);
  return call.done();
}

Napi::Value normalize_moments_backward(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t rows = size_field(call.args, "rows"), columns = size_field(call.args, "columns"), count = rows * columns;
  const float *mean = call.in("mean", count), *var = call.in("var", count), *stat_mean = call.in("statMean", count),
              *stat_var = call.in("statVar", count), *gamma = call.optional("gamma", columns);
  const float *dmean_out = call.optional("dMeanOut", count), *dvar_out = call.optional("dVarOut", count);
  const float eps = eps_field(call.args);
  NormalizeBackward to_inputs{columns, mean, var, stat_mean, stat_var, gamma, eps, dmean_out, dvar_out,
                              call.in("dMean", count), call.in("dVar", count), call.in("dStatMean", count),
                              call.in("dStatVar", count)};
  float *dgamma = call.optional("dGamma", columns), *dbeta = call.optional("dBeta", columns);
  const int64_t gamma_end = count + (dgamma ? columns : 0), beta_end = gamma_end + (dbeta ? columns : 0);
  const NormalizeMomentsBackward f =
      then(then(to_inputs, count, NormalizeGammaGradient{rows, columns, mean, var, stat_mean, stat_var, gamma, eps, dmean_out, dvar_out, dgamma}),
           gamma_end, ColumnSums{rows, columns, dmean_out, false, dbeta});
  run_elementwise(f, beta_end, call.context);
  return call.done();
}

// The column offset of a narrower b inside a (ResNet option A pads both sides equally).
int64_t padding(const Call& call, int64_t columns, int64_t b_columns) {
  if (b_columns > columns || (columns - b_columns) % 2 != 0)
    throw Napi::RangeError::New(call.args.Env(), "bColumns: must not exceed columns and differ from it by an even number");
  return (columns - b_columns) / 2;
}

Napi::Value add_moments(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t rows = size_field(call.args, "rows"), columns = size_field(call.args, "columns"),
                b_columns = size_field(call.args, "bColumns");
  AddForward f{columns, b_columns, padding(call, columns, b_columns), call.in("aMean", rows * columns),
               call.in("aVar", rows * columns), call.optional("bMean", rows * b_columns), call.optional("bVar", rows * b_columns),
               call.spread("noise", columns), call.per_column("noise"), call.in("outMean", rows * columns),
               call.in("outVar", rows * columns)};
  run_elementwise(f, rows * columns, call.context);
  return call.done();
}

// gatherColumns({rows, columns, narrow, values?, out}): out[r][j] = values[r][j + pad] (a copy when equal).
Napi::Value gather_columns(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t rows = size_field(call.args, "rows"), columns = size_field(call.args, "columns"),
                narrow = size_field(call.args, "narrow");
  GatherColumns f{columns, narrow, padding(call, columns, narrow), call.optional("values", rows * columns),
                  call.in("out", rows * narrow)};
  run_elementwise(f, rows * narrow, call.context);
  return call.done();
}

// columnSums({rows, columns, values?, total, out}): per column, or one total.
Napi::Value column_sums(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t rows = size_field(call.args, "rows"), columns = size_field(call.args, "columns");
  const bool total = boolean_field(call.args, "total");
  ColumnSums f{rows, columns, call.optional("values", rows * columns), total, call.in("out", total ? 1 : columns)};
  run_elementwise(f, total ? 1 : columns, call.context);
  return call.done();
}

Napi::Value conv_transition(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t pairs = size_field(call.args, "pairs"), taps = size_field(call.args, "taps");
  ConvTransitionForward f{taps, call.in("kernel", pairs * taps), call.in("weight", pairs), call.in("weightSq", pairs)};
  run_elementwise(f, pairs, call.context);
  return call.done();
}

Napi::Value conv_transition_backward(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t pairs = size_field(call.args, "pairs"), taps = size_field(call.args, "taps");
  ConvTransitionBackward f{taps, call.in("kernel", pairs * taps), call.optional("dWeight", pairs),
                           call.optional("dWeightSq", pairs), call.in("dKernel", pairs * taps)};
  run_elementwise(f, pairs * taps, call.context);
  return call.done();
}

// accumulate({count, source, target}): target += source.
Napi::Value accumulate(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t count = size_field(call.args, "count");
  run_elementwise(Accumulate{call.in("source", count), call.in("target", count)}, count, call.context);
  return call.done();
}

}  // namespace

void register_transitions(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Function::Callback> functions[] = {
      {"affineMoments", affine_moments},       {"affineMomentsBackward", affine_moments_backward},
      {"reluMoments", relu_moments},           {"localChain", local_chain},
      {"avgPoolMoments", avg_pool_moments},    {"maxPoolMoments", max_pool_moments},
      {"groupMoments", group_moments},         {"groupMomentsBackward", group_moments_backward},
      {"normalizeMoments", normalize_moments}, {"normalizeMomentsBackward", normalize_moments_backward},
      {"addMoments", add_moments},             {"gatherColumns", gather_columns},
      {"columnSums", column_sums},             {"convTransition", conv_transition},
      {"convTransitionBackward", conv_transition_backward}, {"accumulate", accumulate}};
  for (const auto& [name, callback] : functions) exports.Set(name, Napi::Function::New(env, callback, name));
}

}  // namespace kn::addon
