#include "backend_dispatch.h"

#include "../cpu/kalman_norm.h"
#include "../cpu/covariance.h"

#include "../cpu/transitions.h"

#ifdef KN_WITH_CUDA
#include "../../cuda/covariance_cuda.h"
#include "../../cuda/kalman_norm_cuda.h"
#include "../../cuda/transitions_cuda.h"
#include "device_memory.h"
#ifdef KN_CUDA_EMULATED
#include "emulator_binding.h"
#endif
#endif

namespace kn::addon {
namespace {

#ifdef KN_WITH_CUDA
// Runs an op on the call's stream, turning a CUDA failure into a JavaScript Error naming the op and
// the CUDA error. The package's stream allocated, zeroed and uploaded the call's memory and will
// copy it back and free it, so a caller's stream first waits for the package's, and the package's
// then waits for the op.
template <typename Run>
void on_device(const CallContext& context, Run&& run) {
  try {
    const cudaStream_t own = cuda_stream(context.device, 0), stream = cuda_stream(context.device, context.stream);
    if (stream == own) return run(stream);
    order_after(stream, own);
    try {
      run(stream);
    } catch (...) {
      order_after(own, stream);
      throw;
    }
    order_after(own, stream);
  } catch (const kn::cuda::CudaError& error) {
    throw Napi::Error::New(context.env, error.what());
  }
}

// cudaPersistentPasses(on: boolean): whether a training pass that fits on chip runs as one
// persistent launch (the default) or always as two (the tests compare the two).
Napi::Value cuda_persistent_passes(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) throw Napi::TypeError::New(info.Env(), "on: expected a boolean");
  kn::cuda::set_persistent_passes(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}
#else
[[noreturn]] void no_cuda(const Napi::Env& env) {
  throw Napi::Error::New(env, "device: 'cuda' is not available: this addon was built without CUDA");
}
#endif

}  // namespace

CallContext call_context(const Napi::Object& args) {
  CallContext context{args.Env(), Placement{}};
  const Napi::Object where = object_field(args, "where");
  context.where = placement_fields(where);
  if (!context.where.on_device) return context;
#ifdef KN_WITH_CUDA
  context.device = int(number_field(where, "deviceIndex"));
  const Napi::Value stream = where.Get("stream");
  if (!stream.IsUndefined() && !stream.IsNull()) {
    if (!stream.IsBigInt()) throw Napi::TypeError::New(args.Env(), "stream: expected a bigint (a cudaStream_t)");
    bool lossless = true;
    context.stream = stream.As<Napi::BigInt>().Uint64Value(&lossless);
  }
#else
  no_cuda(args.Env());
#endif
  return context;
}

void run_forward_training(const TrainingForward& call, const CallContext& context) {
  if (!context.where.on_device) return kalman_norm_forward_training(call);
#ifdef KN_WITH_CUDA
  on_device(context, [&](cudaStream_t stream) { kn::cuda::kalman_norm_forward_training(call, stream); });
#endif
}

void run_forward_fixed(const FixedStatisticsForward& call, const CallContext& context) {
  if (!context.where.on_device) return kalman_norm_forward_fixed(call);
#ifdef KN_WITH_CUDA
  on_device(context, [&](cudaStream_t stream) { kn::cuda::kalman_norm_forward_fixed(call, stream); });
#endif
}

void run_backward(const Backward& call, const CallContext& context) {
  if (!context.where.on_device) return kalman_norm_backward(call);
#ifdef KN_WITH_CUDA
  on_device(context, [&](cudaStream_t stream) { kn::cuda::kalman_norm_backward(call, stream); });
#endif
}

#ifdef KN_WITH_CUDA
#define KN_DEFINE_RUN(F)                                                                      \
  void run_elementwise(const F& f, int64_t count, const CallContext& context) {               \
    if (!context.where.on_device) return kn::run_elementwise(f, count);                                \
    on_device(context, [&](cudaStream_t stream) { kn::cuda::run_elementwise(f, count, stream); }); \
  }
#else
#define KN_DEFINE_RUN(F)                                                        \
  void run_elementwise(const F& f, int64_t count, const CallContext& context) { \
    if (!context.where.on_device) return kn::run_elementwise(f, count);                  \
    no_cuda(context.env);                                                       \
  }
#endif
KN_TRANSITION_FUNCTORS(KN_DEFINE_RUN)
#undef KN_DEFINE_RUN

void run_product(const ProductBlend& f, const CallContext& context) {
  if (!context.where.on_device) return product_blend(f);
#ifdef KN_WITH_CUDA
  on_device(context, [&](cudaStream_t stream) { kn::cuda::run_product(f, stream); });
#else
  no_cuda(context.env);
#endif
}

void register_device(Napi::Env env, Napi::Object exports) {
#ifdef KN_WITH_CUDA
  register_device_memory(env, exports);
  exports.Set("cudaPersistentPasses", Napi::Function::New(env, cuda_persistent_passes, "cudaPersistentPasses"));
#ifdef KN_CUDA_EMULATED
  register_emulator(env, exports);  // no cuDNN: its kernels cannot run on emulated memory
#endif
#else
  exports.Set("cudaInfo", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    auto result = Napi::Object::New(info.Env());
    result.Set("built", false);
    result.Set("emulated", false);
    result.Set("available", false);
    result.Set("reason", "built without CUDA");
    result.Set("devices", Napi::Array::New(info.Env()));
    return result;
  }, "cudaInfo"));
#endif
}

}  // namespace kn::addon
