// A DeviceBuffer is a JavaScript object owning (or, when wrapped, borrowing) a range of GPU memory:
// { pointer: bigint, bytes, device, owned, free() }. Owned memory is allocated and freed in
// stream order on this package's stream, and freed at the latest when the object is collected.
#include "device_memory.h"

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../cuda/cuda_check.h"
#include "arguments.h"
#include "promise_worker.h"

namespace kn::addon {
namespace {

constexpr int kMinimumMajor = 8;  // the build carries machine code for sm_80 and sm_90, PTX for later

[[noreturn]] void throw_cuda(const Napi::Env& env, const char* op, const char* what, cudaError_t status) {
  throw Napi::Error::New(env, std::string(op) + ": " + what + " failed: " + cudaGetErrorName(status) + " (" +
                                  cudaGetErrorString(status) + ")");
}

void check_cuda(const Napi::Env& env, cudaError_t status, const char* op, const char* what) {
  if (status != cudaSuccess) throw_cuda(env, op, what, status);
}

// This package's stream, with a CUDA failure turned into a JavaScript Error.
cudaStream_t stream_or_throw(const Napi::Env& env, int device, uint64_t stream) {
  try {
    return cuda_stream(device, stream);
  } catch (const kn::cuda::CudaError& error) {
    throw Napi::Error::New(env, error.what());
  }
}

class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "DeviceBuffer",
                       {InstanceAccessor<&DeviceBuffer::pointer>("pointer"), InstanceAccessor<&DeviceBuffer::bytes>("bytes"),
                        InstanceAccessor<&DeviceBuffer::device>("device"), InstanceAccessor<&DeviceBuffer::owned>("owned"),
                        InstanceMethod<&DeviceBuffer::free>("free")});
  }

  // new DeviceBuffer(pointer: bigint, bytes, device, owned): built by deviceAlloc / deviceWrap only.
  explicit DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
    bool lossless = true;
    pointer_ = reinterpret_cast<void*>(info[0].As<Napi::BigInt>().Uint64Value(&lossless));
    bytes_ = int64_t(info[1].As<Napi::Number>().DoubleValue());
    device_ = info[2].As<Napi::Number>().Int32Value();
    owned_ = info[3].As<Napi::Boolean>().Value();
  }

  ~DeviceBuffer() override { release(); }

 private:
  Napi::Value pointer(const Napi::CallbackInfo& info) {
    return Napi::BigInt::New(info.Env(), uint64_t(reinterpret_cast<uintptr_t>(pointer_)));
  }
  Napi::Value bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(bytes_)); }
  Napi::Value device(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }
  Napi::Value owned(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), owned_); }
  Napi::Value free(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }

  // Also runs from the garbage collector: never throws.
  void release() noexcept {
    if (owned_ && pointer_) {
      try {
        cudaFreeAsync(pointer_, cuda_stream(device_, 0));
      } catch (const kn::cuda::CudaError&) {
        // the stream could not be made, so the memory was never allocated through it either
      }
    }
    pointer_ = nullptr;
    bytes_ = 0;
  }

  void* pointer_ = nullptr;
  int64_t bytes_ = 0;
  int device_ = 0;
  bool owned_ = false;
};

// The DeviceBuffer class of this Node environment (each worker thread has its own).
Napi::Object new_buffer(const Napi::Env& env, void* pointer, int64_t bytes, int device, bool owned) {
  return env.GetInstanceData<Napi::FunctionReference>()->New({Napi::BigInt::New(env, uint64_t(reinterpret_cast<uintptr_t>(pointer))),
                                         Napi::Number::New(env, double(bytes)), Napi::Number::New(env, device),
                                         Napi::Boolean::New(env, owned)});
}

int device_argument(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsNumber()) throw Napi::TypeError::New(info.Env(), "device: expected a device index");
  return info[index].As<Napi::Number>().Int32Value();
}

int64_t bytes_argument(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsNumber() || !(info[index].As<Napi::Number>().DoubleValue() >= 0))
    throw Napi::TypeError::New(info.Env(), "bytes: expected a non-negative number");
  return int64_t(info[index].As<Napi::Number>().DoubleValue());
}

uint64_t stream_argument(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsBigInt()) throw Napi::TypeError::New(info.Env(), "stream: expected a bigint");
  bool lossless = true;
  return info[index].As<Napi::BigInt>().Uint64Value(&lossless);
}

// A host typed array's memory (Float32Array, Uint16Array or Int32Array) and its byte length.
struct HostRange {
  void* data;
  size_t bytes;
};

HostRange host_argument(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsTypedArray()) throw Napi::TypeError::New(info.Env(), std::string(name) + ": expected a typed array");
  auto array = info[index].As<Napi::TypedArray>();
  auto* base = static_cast<uint8_t*>(array.ArrayBuffer().Data());
  return HostRange{base + array.ByteOffset(), array.ByteLength()};
}

// The device range of argument `index`, checked to hold at least `bytes` bytes.
void* device_argument_range(const Napi::CallbackInfo& info, size_t index, const char* name, size_t bytes) {
  const DeviceRange range = device_range(info[index], name);
  if (size_t(range.bytes) < bytes)
    throw Napi::RangeError::New(info.Env(), std::string(name) + ": the device buffer holds " + std::to_string(range.bytes) +
                                                " bytes, " + std::to_string(bytes) + " needed");
  return range.pointer;
}

// The emulator's runtime (KN_CUDA=emulate) defines KN_CUDA_EMULATOR in its cuda_runtime_api.h.
#if defined(KN_CUDA_EMULATOR)
constexpr bool kEmulated = true;
#else
constexpr bool kEmulated = false;
#endif

// cudaInfo() -> { built: true, emulated, available, reason, devices }
Napi::Value cuda_info(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto result = Napi::Object::New(env);
  auto devices = Napi::Array::New(env);
  result.Set("built", true);
  result.Set("emulated", kEmulated);
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  std::string reason;
  if (status == cudaErrorNoDevice || (status == cudaSuccess && count == 0)) reason = "no CUDA device";
  else if (status == cudaErrorInsufficientDriver) reason = "the NVIDIA driver is missing or older than this build's CUDA runtime";
  else if (status != cudaSuccess) reason = std::string("CUDA is not usable: ") + cudaGetErrorName(status);
  for (int index = 0; status == cudaSuccess && index < count; ++index) {
    cudaDeviceProp properties{};
    if (cudaGetDeviceProperties(&properties, index) != cudaSuccess) continue;
    auto device = Napi::Object::New(env);
    device.Set("index", index);
    device.Set("name", properties.name);
    device.Set("computeCapability", std::to_string(properties.major) + "." + std::to_string(properties.minor));
    device.Set("totalMemory", double(properties.totalGlobalMem));
    devices.Set(devices.Length(), device);
    if (index == 0 && properties.major < kMinimumMajor)
      reason = std::string("device 0 (") + properties.name + ") has compute capability " + std::to_string(properties.major) +
               "." + std::to_string(properties.minor) + "; kalman-norm needs 8.0 or newer";
  }
  result.Set("available", reason.empty());
  result.Set("reason", reason);
  result.Set("devices", devices);
  return result;
}

// deviceAlloc(bytes, device) -> DeviceBuffer (owned)
Napi::Value device_alloc(const Napi::CallbackInfo& info) {
  const int64_t bytes = bytes_argument(info, 0);
  const int device = device_argument(info, 1);
  void* pointer = nullptr;
  check_cuda(info.Env(), cudaMallocAsync(&pointer, size_t(bytes > 0 ? bytes : 1), stream_or_throw(info.Env(), device, 0)), "deviceAlloc",
             "cudaMallocAsync");
  return new_buffer(info.Env(), pointer, bytes, device, true);
}

// deviceWrap(pointer, bytes, device) -> DeviceBuffer (borrowed: never freed here)
Napi::Value device_wrap(const Napi::CallbackInfo& info) {
  if (!info[0].IsBigInt()) throw Napi::TypeError::New(info.Env(), "pointer: expected a bigint");
  bool lossless = true;
  const uint64_t address = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  return new_buffer(info.Env(), reinterpret_cast<void*>(address), bytes_argument(info, 1), device_argument(info, 2), false);
}

// copyToDevice(dst, src, stream): queued; the source may be reused on return (pageable staging).
Napi::Value copy_to_device(const Napi::CallbackInfo& info) {
  const HostRange source = host_argument(info, 1, "src");
  void* target = device_argument_range(info, 0, "dst", source.bytes);
  check_cuda(info.Env(), cudaMemcpyAsync(target, source.data, source.bytes, cudaMemcpyHostToDevice, stream_or_throw(info.Env(), 0, stream_argument(info, 2))),
             "copyToDevice", "cudaMemcpyAsync");
  return info.Env().Undefined();
}

// copyToHost(dst, src, stream): waits for the stream.
Napi::Value copy_to_host(const Napi::CallbackInfo& info) {
  const HostRange target = host_argument(info, 0, "dst");
  const void* source = device_argument_range(info, 1, "src", target.bytes);
  const cudaStream_t stream = stream_or_throw(info.Env(), 0, stream_argument(info, 2));
  check_cuda(info.Env(), cudaMemcpyAsync(target.data, source, target.bytes, cudaMemcpyDeviceToHost, stream), "copyToHost",
             "cudaMemcpyAsync");
  check_cuda(info.Env(), cudaStreamSynchronize(stream), "copyToHost", "cudaStreamSynchronize");
  return info.Env().Undefined();
}

// copyToHostAsync(dst, src, stream) -> Promise<void>: the copy is taken at the call, as a
// device-side snapshot queued then, so work queued after the call (a write, a dispose) cannot change
// what the promise returns. A worker thread brings the snapshot to the host and frees it, so the
// event loop stays free.
Napi::Value copy_to_host_async(const Napi::CallbackInfo& info) {
  const HostRange target = host_argument(info, 0, "dst");
  const void* source = device_argument_range(info, 1, "src", target.bytes);
  const cudaStream_t stream = stream_or_throw(info.Env(), 0, stream_argument(info, 2));
  void* snapshot = nullptr;
  check_cuda(info.Env(), cudaMallocAsync(&snapshot, target.bytes > 0 ? target.bytes : 1, stream), "toArrayAsync", "cudaMallocAsync");
  const cudaError_t copied = cudaMemcpyAsync(snapshot, source, target.bytes, cudaMemcpyDeviceToDevice, stream);
  if (copied != cudaSuccess) {
    cudaFreeAsync(snapshot, stream);
    throw_cuda(info.Env(), "toArrayAsync", "cudaMemcpyAsync", copied);
  }
  const auto finish = [target, snapshot, stream] {
    cudaError_t status = cudaMemcpyAsync(target.data, snapshot, target.bytes, cudaMemcpyDeviceToHost, stream);
    if (status == cudaSuccess) status = cudaStreamSynchronize(stream);
    cudaFreeAsync(snapshot, stream);
    if (status != cudaSuccess)
      throw std::runtime_error(std::string("toArrayAsync: copy to the host failed: ") + cudaGetErrorName(status) + " (" +
                               cudaGetErrorString(status) + ")");
  };
  return PromiseWorker::queue(info[0].As<Napi::Object>(), finish, "toArrayAsync");  // info[0] keeps dst alive
}

// zeroDevice(dst, stream)
Napi::Value zero_device(const Napi::CallbackInfo& info) {
  const DeviceRange range = device_range(info[0], "dst");
  check_cuda(info.Env(), cudaMemsetAsync(range.pointer, 0, size_t(range.bytes), stream_or_throw(info.Env(), 0, stream_argument(info, 1))),
             "zeroDevice", "cudaMemsetAsync");
  return info.Env().Undefined();
}

// copyDeviceToDevice(dst, src, bytes, stream)
Napi::Value copy_device_to_device(const Napi::CallbackInfo& info) {
  const size_t bytes = size_t(bytes_argument(info, 2));
  void* target = device_argument_range(info, 0, "dst", bytes);
  const void* source = device_argument_range(info, 1, "src", bytes);
  check_cuda(info.Env(), cudaMemcpyAsync(target, source, bytes, cudaMemcpyDeviceToDevice, stream_or_throw(info.Env(), 0, stream_argument(info, 3))),
             "copyDeviceToDevice", "cudaMemcpyAsync");
  return info.Env().Undefined();
}

// synchronize(stream): waits until the stream's queued work is done.
Napi::Value synchronize(const Napi::CallbackInfo& info) {
  check_cuda(info.Env(), cudaStreamSynchronize(stream_or_throw(info.Env(), 0, stream_argument(info, 0))), "synchronize",
             "cudaStreamSynchronize");
  return info.Env().Undefined();
}

// streamCreate() -> bigint: a new non-blocking stream (for tests of work on a caller's stream).
Napi::Value stream_create(const Napi::CallbackInfo& info) {
  cudaStream_t stream = nullptr;
  check_cuda(info.Env(), cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "streamCreate", "cudaStreamCreateWithFlags");
  return Napi::BigInt::New(info.Env(), uint64_t(reinterpret_cast<uintptr_t>(stream)));
}

// streamDestroy(stream): its queued work still completes.
Napi::Value stream_destroy(const Napi::CallbackInfo& info) {
  const uint64_t stream = stream_argument(info, 0);
  if (stream == 0) throw Napi::RangeError::New(info.Env(), "stream: the package's own stream cannot be destroyed");
  check_cuda(info.Env(), cudaStreamDestroy(reinterpret_cast<cudaStream_t>(stream)), "streamDestroy", "cudaStreamDestroy");
  return info.Env().Undefined();
}

}  // namespace

cudaStream_t cuda_stream(int device, uint64_t stream) {
  if (stream != 0) return reinterpret_cast<cudaStream_t>(stream);
  static std::mutex mutex;
  static std::vector<cudaStream_t> streams;
  std::lock_guard<std::mutex> lock(mutex);
  if (device < 0) device = 0;
  if (size_t(device) >= streams.size()) streams.resize(size_t(device) + 1, nullptr);
  if (!streams[size_t(device)]) {
    kn::cuda::check(cudaSetDevice(device), "stream", "cudaSetDevice");
    kn::cuda::check(cudaStreamCreateWithFlags(&streams[size_t(device)], cudaStreamNonBlocking), "stream",
                    "cudaStreamCreateWithFlags");
  }
  return streams[size_t(device)];
}

void order_after(cudaStream_t later, cudaStream_t earlier) {
  cudaEvent_t event = nullptr;
  kn::cuda::check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "stream order", "cudaEventCreateWithFlags");
  cudaError_t status = cudaEventRecord(event, earlier);
  if (status == cudaSuccess) status = cudaStreamWaitEvent(later, event, 0);
  cudaEventDestroy(event);  // the wait keeps the record it was queued behind
  kn::cuda::check(status, "stream order", "cudaStreamWaitEvent");
}

void register_device_memory(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(DeviceBuffer::define(env))));
  exports.Set("cudaInfo", Napi::Function::New(env, cuda_info, "cudaInfo"));
  exports.Set("deviceAlloc", Napi::Function::New(env, device_alloc, "deviceAlloc"));
  exports.Set("deviceWrap", Napi::Function::New(env, device_wrap, "deviceWrap"));
  exports.Set("copyToDevice", Napi::Function::New(env, copy_to_device, "copyToDevice"));
  exports.Set("copyToHost", Napi::Function::New(env, copy_to_host, "copyToHost"));
  exports.Set("copyToHostAsync", Napi::Function::New(env, copy_to_host_async, "copyToHostAsync"));
  exports.Set("zeroDevice", Napi::Function::New(env, zero_device, "zeroDevice"));
  exports.Set("copyDeviceToDevice", Napi::Function::New(env, copy_device_to_device, "copyDeviceToDevice"));
  exports.Set("synchronize", Napi::Function::New(env, synchronize, "synchronize"));
  exports.Set("streamCreate", Napi::Function::New(env, stream_create, "streamCreate"));
  exports.Set("streamDestroy", Napi::Function::New(env, stream_destroy, "streamDestroy"));
}

}  // namespace kn::addon
