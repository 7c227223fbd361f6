// The CPU ceilings of the benchmark, on a thread pool like the CPU kernels' (the same
// csrc/cpu/thread_pool, here a second instance of it), so that the benchmark compares the CPU
// backend against this machine's bandwidth measured the same way:
//   parallelCopy({ dst, src, streaming })  copies src into dst; with streaming, by non-temporal
//                                          stores (x86-64), which skip reading dst into the cache
//   parallelRead({ src })                  reads src once (returns its sum, so the reads stay)
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "arguments.h"
#include "csrc/cpu/float_lanes.h"
#include "csrc/cpu/thread_pool.h"
#include "tools.h"

namespace kn::tools {
namespace {

constexpr int64_t kBlock = 1 << 16;  // floats per piece

Napi::Float32Array float32_field(const Napi::Object& args, const char* name) {
  const Napi::Value value = args.Get(name);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(args.Env(), std::string(name) + ": expected a Float32Array");
  return value.As<Napi::Float32Array>();
}

// Runs body(first, last) over pieces of kBlock floats of [0, length) on the pool.
template <typename Body>
void for_pieces(int64_t length, Body&& body) {
  parallel_for((length + kBlock - 1) / kBlock, kBlock, [&](int64_t begin, int64_t end) {
    body(begin * kBlock, std::min(length, end * kBlock));
  });
}

// Non-temporal 16-byte stores where dst is 16-byte aligned (a float array's offset within its
// buffer may not be), plain copies for the ends: the stores of the CPU backend's element passes.
void stream_copy(float* to, const float* from, int64_t count) {
  int64_t i = 0;
  for (; i < count && !aligned16(to + i); ++i) to[i] = from[i];
  for (; i + 4 <= count; i += 4) stream<4>(to + i, load<4>(from + i));
  for (; i < count; ++i) to[i] = from[i];
  store_fence();
}

Napi::Value parallel_copy(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  Napi::Float32Array src = float32_field(args, "src"), dst = float32_field(args, "dst");
  const bool streaming = args.Get("streaming").ToBoolean().Value();
  const int64_t length = int64_t(src.ElementLength());
  if (int64_t(dst.ElementLength()) != length)
    throw_range(info.Env(), "dst: expected " + std::to_string(length) + " elements (as src), got " +
                                std::to_string(dst.ElementLength()));
  const float* from = src.Data();
  float* to = dst.Data();
  for_pieces(length, [&](int64_t first, int64_t last) {
    if (streaming) stream_copy(to + first, from + first, last - first);
    else std::memcpy(to + first, from + first, size_t(last - first) * sizeof(float));
  });
  return info.Env().Undefined();
}

Napi::Value parallel_read(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  Napi::Float32Array src = float32_field(args, "src");
  const int64_t length = int64_t(src.ElementLength());
  const float* from = src.Data();
  std::vector<float> sums(size_t((length + kBlock - 1) / kBlock), 0.f);
  for_pieces(length, [&](int64_t first, int64_t last) {
    FloatVec<4> lanes[kStep / 4] = {};  // independent accumulators: the loop is bound by loads, not adds
    int64_t i = first;
    for (; i + kStep <= last; i += kStep)
      for (int a = 0; a < kStep / 4; ++a) lanes[a] += load<4>(from + i + 4 * a);
    float sum = total<4>([&](int a) { return lanes[a]; });
    for (; i < last; ++i) sum += from[i];
    sums[size_t(first / kBlock)] = sum;
  });
  double total = 0.0;
  for (float sum : sums) total += sum;
  return Napi::Number::New(info.Env(), total);
}

}  // namespace

void register_parallel_copy(Napi::Env env, Napi::Object exports) {
  exports.Set("parallelCopy", Napi::Function::New(env, parallel_copy, "parallelCopy"));
  exports.Set("parallelRead", Napi::Function::New(env, parallel_read, "parallelRead"));
}

}  // namespace kn::tools
