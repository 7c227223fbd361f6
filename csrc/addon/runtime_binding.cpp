#include "runtime_binding.h"

#include <algorithm>
#include <cstring>

#include "../cpu/thread_pool.h"
#include "arguments.h"

namespace kn::addon {
namespace {

Napi::Value thread_count(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), kn::thread_count());
}

// parallelCopy({dst, src}): copies src into dst on the thread pool, as the kernels would spread a
// memory-bound pass, so benchmarks compare against the same machine's copy bandwidth.
Napi::Value parallel_copy(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  const Napi::Value src_value = args.Get("src");
  if (!src_value.IsTypedArray() || src_value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), "src: expected a Float32Array");
  const int64_t length = int64_t(src_value.As<Napi::Float32Array>().ElementLength());
  const Placement host;
  const float* src = float_field(args, "src", length, true, host);
  float* dst = float_field(args, "dst", length, true, host);
  constexpr int64_t kBlock = 1 << 16;
  parallel_for((length + kBlock - 1) / kBlock, kBlock, [&](int64_t begin, int64_t end) {
    const int64_t first = begin * kBlock, last = std::min(length, end * kBlock);
    std::memcpy(dst + first, src + first, size_t(last - first) * sizeof(float));
  });
  return info.Env().Undefined();
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  exports.Set("threadCount", Napi::Function::New(env, thread_count, "threadCount"));
  exports.Set("parallelCopy", Napi::Function::New(env, parallel_copy, "parallelCopy"));
}

}  // namespace kn::addon
