// cuDNN batch normalization as the benchmark's peer (CUDA builds only). cuDNN is loaded at run
// time with dlopen (KN_CUDNN_PATH, else the system's libcudnn), so nothing needs it to build; the
// benchmark reports when it is missing. The subset of cuDNN's C API called here is declared below
// (no cudnn.h at build time) and resolved with dlsym. The library is loaded once per process; the
// cuDNN handle is one per Node environment (the main thread and each worker thread has its own),
// destroyed with it. Every failure is a JavaScript Error naming the cuDNN call.
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "arguments.h"
#include "tools.h"

namespace kn::tools {
namespace {

using Status = int;  // cudnnStatus_t; 0 = success
using Handle = void*;
using TensorDescriptor = void*;
constexpr int kFormatNCHW = 0, kFormatNHWC = 1;                 // cudnnTensorFormat_t
constexpr int kFloat = 0, kHalf = 2, kBFloat16 = 9;             // cudnnDataType_t
constexpr int kSpatial = 1, kSpatialPersistent = 2;             // cudnnBatchNormMode_t

struct Api {
  void* library = nullptr;
  std::string reason;
  size_t (*get_version)() = nullptr;
  const char* (*error_string)(Status) = nullptr;
  Status (*create)(Handle*) = nullptr;
  Status (*destroy)(Handle) = nullptr;
  Status (*set_stream)(Handle, cudaStream_t) = nullptr;
  Status (*create_descriptor)(TensorDescriptor*) = nullptr;
  Status (*destroy_descriptor)(TensorDescriptor) = nullptr;
  Status (*set_4d)(TensorDescriptor, int, int, int, int, int, int) = nullptr;
  Status (*derive_bn)(TensorDescriptor, TensorDescriptor, int) = nullptr;
  Status (*forward_training)(Handle, int, const void*, const void*, TensorDescriptor, const void*, TensorDescriptor, void*,
                             TensorDescriptor, const void*, const void*, double, void*, void*, double, void*, void*) = nullptr;
  Status (*backward)(Handle, int, const void*, const void*, const void*, const void*, TensorDescriptor, const void*,
                     TensorDescriptor, const void*, TensorDescriptor, void*, TensorDescriptor, const void*, void*, void*,
                     double, const void*, const void*) = nullptr;
};

template <typename Function>
bool resolve(Api& api, Function& target, const char* name) {
  target = reinterpret_cast<Function>(dlsym(api.library, name));
  if (!target) api.reason = std::string("cuDNN has no ") + name;
  return target != nullptr;
}

// Loads cuDNN once per process (thread-safe: a function-local static); `library` stays null, with
// the reason, when it is missing or incomplete.
const Api& api() {
  static const Api loaded = [] {
    Api api;
    const char* configured = std::getenv("KN_CUDNN_PATH");
    for (const char* name : {configured, "libcudnn.so.9", "libcudnn.so.8", "libcudnn.so"}) {
      if (!name) continue;
      api.library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (api.library) break;
    }
    if (!api.library) {
      const char* error = dlerror();
      api.reason = std::string("cuDNN not found (set KN_CUDNN_PATH): ") + (error ? error : "no libcudnn");
      return api;
    }
    const bool complete = resolve(api, api.get_version, "cudnnGetVersion") &&
                          resolve(api, api.error_string, "cudnnGetErrorString") && resolve(api, api.create, "cudnnCreate") &&
                          resolve(api, api.destroy, "cudnnDestroy") && resolve(api, api.set_stream, "cudnnSetStream") &&
                          resolve(api, api.create_descriptor, "cudnnCreateTensorDescriptor") &&
                          resolve(api, api.destroy_descriptor, "cudnnDestroyTensorDescriptor") &&
                          resolve(api, api.set_4d, "cudnnSetTensor4dDescriptor") &&
                          resolve(api, api.derive_bn, "cudnnDeriveBNTensorDescriptor") &&
                          resolve(api, api.forward_training, "cudnnBatchNormalizationForwardTraining") &&
                          resolve(api, api.backward, "cudnnBatchNormalizationBackward");
    if (!complete) api.library = nullptr;
    return api;
  }();
  return loaded;
}

void check(const Napi::Env& env, Status status, const char* what) {
  if (status != 0) throw Napi::Error::New(env, std::string("cudnnBatchNorm: ") + what + " failed: " + api().error_string(status));
}

// The cuDNN handle of one Node environment: made on its first cudnnBatchNorm call, destroyed when
// the environment is torn down (a worker thread's exit, or the main thread's).
class EnvironmentHandle {
 public:
  ~EnvironmentHandle() {
    if (handle_) api().destroy(handle_);
  }
  Handle get(const Napi::Env& env) {
    if (!handle_) check(env, api().create(&handle_), "cudnnCreate");
    return handle_;
  }

 private:
  Handle handle_ = nullptr;
};

// cudnnInfo() -> { available, reason, version }
Napi::Value cudnn_info(const Napi::CallbackInfo& info) {
  const Api& cudnn = api();
  auto result = Napi::Object::New(info.Env());
  result.Set("available", cudnn.library != nullptr);
  result.Set("reason", cudnn.reason);
  result.Set("version", cudnn.library ? double(cudnn.get_version()) : 0.0);
  return result;
}

// A tensor descriptor destroyed with its scope.
struct Descriptor {
  TensorDescriptor handle = nullptr;
  explicit Descriptor(const Napi::Env& env) { check(env, api().create_descriptor(&handle), "cudnnCreateTensorDescriptor"); }
  ~Descriptor() {
    if (handle) api().destroy_descriptor(handle);
  }
};

// cudnnBatchNorm({ pass: 'forward' | 'backward', layout, dtype, n, c, h, w, x, y | dy + dx,
//   scale, bias | dScale + dBias, runningMean, runningVar, saveMean, saveInvVar, eps, stream }):
// BN over all of N (spatial mode); the tensors are device buffers of `dtype`, the per-channel
// arrays float32 device buffers of c elements, `stream` a bigint stream of the product's.
Napi::Value cudnn_batch_norm(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const Api& cudnn = api();
  const Napi::Object args = object_argument(info);
  const bool forward = choice_field(args, "pass", {"forward", "backward"}) == 0;
  const bool nhwc = choice_field(args, "layout", {"NCHW", "NHWC"}) == 1;
  const int dtype = choice_field(args, "dtype", {"float32", "float16", "bfloat16"});
  constexpr int64_t kMaxDim = (int64_t(1) << 31) - 1;
  const int64_t n = integer_field(args, "n", 1, kMaxDim), c = integer_field(args, "c", 1, kMaxDim),
                h = integer_field(args, "h", 1, kMaxDim), w = integer_field(args, "w", 1, kMaxDim);
  const double eps = number_field(args, "eps");
  const uint64_t stream = bigint_value(args.Get("stream"), "stream");
  if (stream == 0) throw_range(env, "stream: expected a stream from streamCreate(), not 0n");
  const int64_t tensor_bytes = n * c * h * w * (dtype == 0 ? 4 : 2), statistic_bytes = c * 4;
  const auto tensor = [&](const char* name) { return device_field(args, name, tensor_bytes); };
  const auto statistic = [&](const char* name) { return static_cast<float*>(device_field(args, name, statistic_bytes)); };
  float* save_mean = statistic("saveMean");
  float* save_inv_var = statistic("saveInvVar");
  const float* scale = statistic("scale");
  const void* x = tensor("x");
  if (!cudnn.library) throw Napi::Error::New(env, "cudnnBatchNorm: " + cudnn.reason);

  auto* environment = env.GetInstanceData<EnvironmentHandle>();
  if (!environment) {
    environment = new EnvironmentHandle();
    env.SetInstanceData(environment);  // deleted with the environment
  }
  const Handle handle = environment->get(env);
  const int type = dtype == 1 ? kHalf : (dtype == 2 ? kBFloat16 : kFloat);
  // cuDNN's persistent kernels are its fast path for channels-last 16-bit data.
  const int mode = nhwc ? kSpatialPersistent : kSpatial;
  Descriptor data(env), parameters(env);
  check(env, cudnn.set_4d(data.handle, nhwc ? kFormatNHWC : kFormatNCHW, type, int(n), int(c), int(h), int(w)),
        "cudnnSetTensor4dDescriptor");
  check(env, cudnn.derive_bn(parameters.handle, data.handle, mode), "cudnnDeriveBNTensorDescriptor");
  check(env, cudnn.set_stream(handle, reinterpret_cast<cudaStream_t>(stream)), "cudnnSetStream");
  const float one = 1.f, zero = 0.f;
  if (forward) {
    check(env,
          cudnn.forward_training(handle, mode, &one, &zero, data.handle, x, data.handle, tensor("y"), parameters.handle, scale,
                                 statistic("bias"), 0.1, statistic("runningMean"), statistic("runningVar"), eps, save_mean,
                                 save_inv_var),
          "cudnnBatchNormalizationForwardTraining");
  } else {
    check(env,
          cudnn.backward(handle, mode, &one, &zero, &one, &zero, data.handle, x, data.handle, tensor("dy"), data.handle,
                         tensor("dx"), parameters.handle, scale, statistic("dScale"), statistic("dBias"), eps, save_mean,
                         save_inv_var),
          "cudnnBatchNormalizationBackward");
  }
  return env.Undefined();
}

}  // namespace

void register_cudnn_peer(Napi::Env env, Napi::Object exports) {
  exports.Set("cudnnInfo", Napi::Function::New(env, cudnn_info, "cudnnInfo"));
  exports.Set("cudnnBatchNorm", Napi::Function::New(env, cudnn_batch_norm, "cudnnBatchNorm"));
}

}  // namespace kn::tools
