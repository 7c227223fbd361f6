// parallelCopy({ dst, src }): copies src into dst on a thread pool like the CPU kernels' (the same
// csrc/cpu/thread_pool, here a second instance of it), so that the benchmark compares the CPU
// backend against this machine's copy bandwidth measured the same way.
#include <algorithm>
#include <cstring>
#include <string>

#include "arguments.h"
#include "csrc/cpu/thread_pool.h"
#include "tools.h"

namespace kn::tools {
namespace {

Napi::Float32Array float32_field(const Napi::Object& args, const char* name) {
  const Napi::Value value = args.Get(name);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(args.Env(), std::string(name) + ": expected a Float32Array");
  return value.As<Napi::Float32Array>();
}

Napi::Value parallel_copy(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  Napi::Float32Array src = float32_field(args, "src"), dst = float32_field(args, "dst");
  const int64_t length = int64_t(src.ElementLength());
  if (int64_t(dst.ElementLength()) != length)
    throw_range(info.Env(), "dst: expected " + std::to_string(length) + " elements (as src), got " +
                                std::to_string(dst.ElementLength()));
  const float* from = src.Data();
  float* to = dst.Data();
  constexpr int64_t kBlock = 1 << 16;
  parallel_for((length + kBlock - 1) / kBlock, kBlock, [&](int64_t begin, int64_t end) {
    const int64_t first = begin * kBlock, last = std::min(length, end * kBlock);
    std::memcpy(to + first, from + first, size_t(last - first) * sizeof(float));
  });
  return info.Env().Undefined();
}

}  // namespace

void register_parallel_copy(Napi::Env env, Napi::Object exports) {
  exports.Set("parallelCopy", Napi::Function::New(env, parallel_copy, "parallelCopy"));
}

}  // namespace kn::tools
