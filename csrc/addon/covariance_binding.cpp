// The addon's input-statistics and covariance-transition ops (KN-SPEC sections 3a, 3b): each reads
// sizes and float32 buffers (field names as in lib/ops/covariance.ts), checks every length, fills
// the functors of csrc/common/covariance_math.h and runs them on the call's device in order.
#include "covariance_binding.h"

#include <string>

#include "../cpu/symmetric_eigen.h"
#include "op_call.h"

namespace kn::addon {
namespace {

int64_t count_field(const Napi::Object& args, const char* name) {
  const double value = number_field(args, name);
  if (!(value >= 0) || value != double(int64_t(value)))
    throw Napi::RangeError::New(args.Env(), std::string(name) + ": expected an integer >= 0");
  return int64_t(value);
}

double fraction_field(const Napi::Object& args, const char* name) {
  const double value = number_field(args, name);
  if (!(value >= 0 && value <= 1)) throw Napi::RangeError::New(args.Env(), std::string(name) + ": expected a number in [0, 1]");
  return value;
}

PatchGeometry geometry_field(const Call& call) {
  const Napi::Value value = call.args.Get("geometry");
  if (!value.IsObject()) throw Napi::TypeError::New(call.args.Env(), "geometry: expected an object");
  const auto fields = value.As<Napi::Object>();
  PatchGeometry g{};
  g.channels = size_field(fields, "channels");
  g.height = size_field(fields, "height");
  g.width = size_field(fields, "width");
  g.kernel_h = size_field(fields, "kernelH");
  g.kernel_w = size_field(fields, "kernelW");
  g.pad_h = count_field(fields, "padH");
  g.pad_w = count_field(fields, "padW");
  g.stride_h = size_field(fields, "strideH");
  g.stride_w = size_field(fields, "strideW");
  g.channels_last = boolean_field(fields, "channelsLast");
  const int64_t span_h = g.height + 2 * g.pad_h - g.kernel_h, span_w = g.width + 2 * g.pad_w - g.kernel_w;
  if (span_h < 0 || span_w < 0) throw Napi::RangeError::New(call.args.Env(), "geometry: the kernel is larger than the padded image");
  g.out_h = span_h / g.stride_h + 1;
  g.out_w = span_w / g.stride_w + 1;
  return g;
}

// observeInput: patches of x, their batch mean, then the EMA of the mean and the variances (and,
// with `covariance`, of the full covariance): keep = 1 - momentum (0 on the first observation),
// take = momentum (1), unbiased batch covariance (divisor P - 1). Leaves `patches` centered.
Napi::Value observe_input(const Napi::CallbackInfo& info) {
  const Call call(info);
  const PatchGeometry g = geometry_field(call);
  const int64_t samples = size_field(call.args, "samples"), features = g.features();
  const int64_t patches = samples * g.out_h * g.out_w;
  if (patches < 2) throw Napi::RangeError::New(call.args.Env(), "samples: a batch covariance needs at least 2 patch vectors");
  const double keep = fraction_field(call.args, "keep"), take = fraction_field(call.args, "take");
  const float* x = call.in("x", samples * g.channels * g.height * g.width);
  float* matrix = call.in("patches", patches * features);
  float* batch_mean = call.in("batchMean", features);
  float* mean = call.in("mean", features);
  float* var = call.in("var", features);
  float* covariance = call.optional("covariance", features * features);
  const double scale = take / double(patches - 1);
  run_elementwise(GatherPatches{g, x, matrix}, patches * features, call.context);
  run_elementwise(ColumnMeans{patches, features, matrix, batch_mean}, features, call.context);
  run_elementwise(CenterColumns{features, batch_mean, matrix}, patches * features, call.context);
  run_elementwise(BlendInto{batch_mean, keep, take, mean}, features, call.context);
  run_elementwise(VarianceUpdate{patches, features, matrix, keep, scale, var}, features, call.context);
  if (covariance)  // X^T X: A(m, k) = X[k][m], B(k, n) = X[k][n]
    run_product(ProductBlend{features, features, patches, matrix, 1, features, matrix, features, 1, scale, keep, covariance},
                call.context);
  return call.done();
}

// lowRankStack: F = [sqrt(keep) L, sqrt(scale) X_chunk^T] and its Gram matrix F^T F [width][width].
Napi::Value low_rank_stack(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t features = size_field(call.args, "features"), rank = size_field(call.args, "rank"),
                patches = size_field(call.args, "patches"), start = count_field(call.args, "chunkStart"),
                chunk = size_field(call.args, "chunk"), width = rank + chunk;
  if (start + chunk > patches) throw Napi::RangeError::New(call.args.Env(), "chunk: runs past the last patch");
  const double keep = fraction_field(call.args, "keep"), scale = number_field(call.args, "scale");
  const float* centered = call.in("centered", patches * features) + start * features;
  float* stacked = call.in("stacked", features * width);
  run_elementwise(StackFactor{rank, chunk, features, call.in("factor", features * rank), centered, keep, scale, stacked},
                  features * width, call.context);
  run_product(ProductBlend{width, width, features, stacked, 1, width, stacked, width, 1, 1.0, 0.0,
                           call.in("gram", width * width)},
              call.context);
  return call.done();
}

// topEigenvectors (host memory only): the `rank` leading eigenvectors of a symmetric matrix.
Napi::Value top_eigenvectors_op(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  const int64_t size = size_field(args, "size"), rank = size_field(args, "rank");
  if (rank > size) throw Napi::RangeError::New(args.Env(), "rank: expected at most size");
  const Placement host{};
  top_eigenvectors(float_field(args, "matrix", size * size, true, host), size, rank,
                   float_field(args, "vectors", size * rank, true, host));
  return args.Env().Undefined();
}

// lowRankApply: L = F V (the truncation), then d takes the diagonal L dropped.
Napi::Value low_rank_apply(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t features = size_field(call.args, "features"), rank = size_field(call.args, "rank"),
                width = size_field(call.args, "width");
  const double keep = fraction_field(call.args, "keep");
  const float* stacked = call.in("stacked", features * width);
  float* factor = call.in("factor", features * rank);
  run_product(ProductBlend{features, rank, width, stacked, width, 1, call.in("vectors", width * rank), rank, 1, 1.0, 0.0, factor},
              call.context);
  run_elementwise(DroppedDiagonal{rank, width, stacked, factor, keep, call.in("diagonal", features)}, features, call.context);
  return call.done();
}

// The covariance's form in one call: full `covariance` [D][D], or `factor` L [D][rank] (with the
// `diagonal` d), or only `diagonal`.
struct CovarianceForm {
  const float *covariance, *factor, *diagonal;
  int64_t rank;
};

CovarianceForm covariance_form(const Call& call, int64_t inputs) {
  const int64_t rank = count_field(call.args, "rank");
  CovarianceForm form{call.optional("covariance", inputs * inputs), rank ? call.in("factor", inputs * rank) : nullptr,
                      call.optional("diagonal", inputs), rank};
  if (!form.covariance && !form.diagonal) throw Napi::TypeError::New(call.args.Env(), "covariance: expected a matrix or a diagonal");
  return form;
}

// quadraticMoments: m = W mu + bias, u_o = w_o^T Sigma w_o + noise (one row). Writes W Sigma into
// `sigmaW` (full form, kept for the backward) or W L into `projected` (low rank).
Napi::Value quadratic_moments(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t inputs = size_field(call.args, "inputs"), outputs = size_field(call.args, "outputs");
  const CovarianceForm form = covariance_form(call, inputs);
  const float* weight = call.in("weight", outputs * inputs);
  float* sigma_w = form.covariance ? call.in("sigmaW", outputs * inputs) : nullptr;
  float* projected = form.rank ? call.in("projected", outputs * form.rank) : nullptr;
  if (sigma_w)  // W Sigma
    run_product(ProductBlend{outputs, inputs, inputs, weight, inputs, 1, form.covariance, inputs, 1, 1.0, 0.0, sigma_w},
                call.context);
  if (projected)  // W L
    run_product(ProductBlend{outputs, form.rank, inputs, weight, inputs, 1, form.factor, form.rank, 1, 1.0, 0.0, projected},
                call.context);
  QuadraticForward f{inputs, form.rank, call.in("mean", inputs), weight, sigma_w, projected, form.diagonal,
                     call.optional("bias", outputs), call.spread("noise", outputs), call.per_column("noise"),
                     call.in("outMean", outputs), call.in("outVar", outputs)};
  run_elementwise(f, outputs, call.context);
  return call.done();
}

// quadraticMomentsBackward: dW = dm mu^T + 2 du (Sigma w)^T; Sigma w comes from the forward's
// `sigmaW` (full) or is Z L^T, written into `sigmaW` (low rank).
Napi::Value quadratic_moments_backward(const Napi::CallbackInfo& info) {
  const Call call(info);
  const int64_t inputs = size_field(call.args, "inputs"), outputs = size_field(call.args, "outputs");
  const CovarianceForm form = covariance_form(call, inputs);
  const float* weight = call.in("weight", outputs * inputs);
  float* sigma_w = form.covariance || form.rank ? call.in("sigmaW", outputs * inputs) : nullptr;
  if (form.rank)  // Z L^T: A = Z [outputs][rank], B(k, n) = L[n][k]
    run_product(ProductBlend{outputs, inputs, form.rank, call.in("projected", outputs * form.rank), form.rank, 1, form.factor,
                             1, form.rank, 1.0, 0.0, sigma_w},
                call.context);
  const float* dmean_out = call.optional("dMeanOut", outputs);
  const float* dvar_out = call.optional("dVarOut", outputs);
  float *dbias = call.optional("dBias", outputs), *dnoise = call.spread("dNoise", outputs);
  const bool total = dnoise && !call.per_column("dNoise");
  const int64_t weight_end = outputs * inputs, bias_end = weight_end + (dbias ? outputs : 0);
  const int64_t noise_end = bias_end + (dnoise ? (total ? 1 : outputs) : 0);
  const QuadraticBackward f = then(then(QuadraticWeightGradient{inputs, call.in("mean", inputs), weight, sigma_w, form.diagonal,
                                                                dmean_out, dvar_out, call.in("dWeight", outputs * inputs)},
                                        weight_end, ColumnSums{1, outputs, dmean_out, false, dbias}),
                                   bias_end, ColumnSums{1, outputs, dvar_out, total, dnoise});
  run_elementwise(f, noise_end, call.context);
  return call.done();
}

}  // namespace

void register_covariance(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Function::Callback> functions[] = {
      {"observeInput", observe_input},         {"lowRankStack", low_rank_stack},
      {"topEigenvectors", top_eigenvectors_op}, {"lowRankApply", low_rank_apply},
      {"quadraticMoments", quadratic_moments}, {"quadraticMomentsBackward", quadratic_moments_backward}};
  for (const auto& [name, callback] : functions) exports.Set(name, Napi::Function::New(env, callback, name));
}

}  // namespace kn::addon
