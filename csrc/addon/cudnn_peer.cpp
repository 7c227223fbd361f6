// The subset of cuDNN's C API the benchmark calls, declared here (no cudnn.h at build time) and
// resolved with dlsym: tensor descriptors and the batch-norm forward-training and backward calls.
#include "cudnn_peer.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "arguments.h"
#include "device_memory.h"

namespace kn::addon {
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
  Handle handle = nullptr;
};

template <typename Function>
bool resolve(Api& api, Function& target, const char* name) {
  target = reinterpret_cast<Function>(dlsym(api.library, name));
  if (!target) api.reason = std::string("cuDNN has no ") + name;
  return target != nullptr;
}

// Loads cuDNN once per process.
Api& api() {
  static Api loaded = [] {
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
                          resolve(api, api.set_stream, "cudnnSetStream") &&
                          resolve(api, api.create_descriptor, "cudnnCreateTensorDescriptor") &&
                          resolve(api, api.destroy_descriptor, "cudnnDestroyTensorDescriptor") &&
                          resolve(api, api.set_4d, "cudnnSetTensor4dDescriptor") &&
                          resolve(api, api.derive_bn, "cudnnDeriveBNTensorDescriptor") &&
                          resolve(api, api.forward_training, "cudnnBatchNormalizationForwardTraining") &&
                          resolve(api, api.backward, "cudnnBatchNormalizationBackward");
    if (complete && api.create(&api.handle) != 0) api.reason = "cudnnCreate failed";
    if (!complete || !api.handle) api.library = nullptr;
    return api;
  }();
  return loaded;
}

void check(const Napi::Env& env, Status status, const char* what) {
  if (status != 0) throw Napi::Error::New(env, std::string("cudnnBatchNorm: ") + what + " failed: " + api().error_string(status));
}

// cudnnInfo() -> { available, reason, version }
Napi::Value cudnn_info(const Napi::CallbackInfo& info) {
  Api& cudnn = api();
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
  ~Descriptor() { api().destroy_descriptor(handle); }
};

// cudnnBatchNorm({ pass: 'forward' | 'backward', layout, dtype, n, c, h, w, x, y | dy + dx,
//   scale, bias | dScale + dBias, runningMean, runningVar, saveMean, saveInvVar, eps, stream })
Napi::Value cudnn_batch_norm(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Api& cudnn = api();
  if (!cudnn.library) throw Napi::Error::New(env, "cudnnBatchNorm: " + cudnn.reason);
  const Napi::Object args = object_argument(info);
  const Placement where = placement_fields(args);
  const bool nhwc = args.Get("layout").ToString().Utf8Value() == "NHWC";
  const int n = int(number_field(args, "n")), c = int(number_field(args, "c")), h = int(number_field(args, "h")),
            w = int(number_field(args, "w"));
  const int64_t elements = int64_t(n) * c * h * w;
  const int type = where.dtype == DType::kFloat16 ? kHalf : (where.dtype == DType::kBFloat16 ? kBFloat16 : kFloat);
  // cuDNN's persistent kernels are its fast path for channels-last 16-bit data.
  const int mode = nhwc ? kSpatialPersistent : kSpatial;
  Descriptor data(env), parameters(env);
  check(env, cudnn.set_4d(data.handle, nhwc ? kFormatNHWC : kFormatNCHW, type, n, c, h, w), "cudnnSetTensor4dDescriptor");
  check(env, cudnn.derive_bn(parameters.handle, data.handle, mode), "cudnnDeriveBNTensorDescriptor");
  const Napi::Value stream_value = args.Get("stream");
  bool lossless = true;
  const uint64_t stream = stream_value.IsBigInt() ? stream_value.As<Napi::BigInt>().Uint64Value(&lossless) : 0;
  check(env, cudnn.set_stream(cudnn.handle, cuda_stream(0, stream)), "cudnnSetStream");
  const float one = 1.f, zero = 0.f;
  const double eps = number_field(args, "eps");
  const Placement statistics{true, DType::kFloat32};
  float* save_mean = float_field(args, "saveMean", c, true, statistics);
  float* save_inv_var = float_field(args, "saveInvVar", c, true, statistics);
  const float* scale = float_field(args, "scale", c, true, statistics);
  const void* x = tensor_field(args, "x", elements, true, where).data;
  if (args.Get("pass").ToString().Utf8Value() == "forward") {
    check(env,
          cudnn.forward_training(cudnn.handle, mode, &one, &zero, data.handle, x, data.handle,
                                 tensor_field(args, "y", elements, true, where).data, parameters.handle, scale,
                                 float_field(args, "bias", c, true, statistics), 0.1,
                                 float_field(args, "runningMean", c, true, statistics),
                                 float_field(args, "runningVar", c, true, statistics), eps, save_mean, save_inv_var),
          "cudnnBatchNormalizationForwardTraining");
  } else {
    check(env,
          cudnn.backward(cudnn.handle, mode, &one, &zero, &one, &zero, data.handle, x, data.handle,
                         tensor_field(args, "dy", elements, true, where).data, data.handle,
                         tensor_field(args, "dx", elements, true, where).data, parameters.handle, scale,
                         float_field(args, "dScale", c, true, statistics), float_field(args, "dBias", c, true, statistics), eps,
                         save_mean, save_inv_var),
          "cudnnBatchNormalizationBackward");
  }
  return env.Undefined();
}

}  // namespace

void register_cudnn_peer(Napi::Env env, Napi::Object exports) {
  exports.Set("cudnnInfo", Napi::Function::New(env, cudnn_info, "cudnnInfo"));
  exports.Set("cudnnBatchNorm", Napi::Function::New(env, cudnn_batch_norm, "cudnnBatchNorm"));
}

}  // namespace kn::addon
